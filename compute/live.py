"""Group names and pushes for compute targets."""

from portal.live import broadcast


def target_group(target_id: int) -> str:
    return f"target-{target_id}"


def target_list_group(workspace_id: int) -> str:
    return f"workspace-{workspace_id}-targets"


def push_target(target) -> None:
    """After commit, push the target's row to its list and its status to its page."""
    context = {"target": target}
    broadcast(target_list_group(target.workspace_id), "compute/target_list.html#target-row", context)
    broadcast(target_group(target.pk), "compute/target_detail.html#live", context)
