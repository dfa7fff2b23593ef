"""Group names and pushes for compute targets."""

from django.template.loader import render_to_string

from portal.live import broadcast

ROW = "compute/target_list.html#target-row"
LIVE = "compute/target_detail.html#live"
CLUSTER = "compute/backends/_slurm_status.html#push"


def target_group(target_id: int) -> str:
    return f"target-{target_id}"


def target_list_group(workspace_id: int) -> str:
    return f"workspace-{workspace_id}-targets"


def push_target(target) -> None:
    """After commit, push the target's row to its list and its status to its page."""
    context = {"target": target}
    broadcast(target_list_group(target.workspace_id), ROW, context)
    broadcast(target_group(target.pk), LIVE, context)
    from dashboard.live import push_now

    push_now(target.workspace_id)  # targets by state


def push_cluster(target) -> None:
    """After commit, push a cluster's nodes, node-count chart and queue to its page,
    and its row (the node summary) to the list. The cluster code calls this after
    it updates the target's ComputeNode rows, ClusterSample rows or ``observed``;
    state changes still go through push_target (they re-render the whole page part)."""
    context = {"target": target}
    broadcast(target_list_group(target.workspace_id), ROW, context)
    broadcast(target_group(target.pk), CLUSTER, context)


def push_target_deleted(target) -> None:
    """After commit: the row leaves the list, the status page says it is gone."""
    context = {"target": target}
    broadcast(target_list_group(target.workspace_id), "compute/target_list.html#target-row-deleted", context)
    broadcast(target_group(target.pk), "compute/target_detail.html#deleted", context)


def render_target_row(target) -> str:
    return render_to_string(ROW, {"target": target})


def render_target_live(target) -> str:
    return render_to_string(LIVE, {"target": target})
