import re

from django.db.models import OuterRef, Prefetch, Q, Subquery
from django.http import Http404
from django.utils import timezone

from .models import ClusterSample, ComputeNode, ComputeTarget, NodeSize, NodeState, Origin, TargetEvent


def target_list(*, workspace, kind: str = "", state: str = ""):
    """The workspace's targets, with their cluster nodes fetched in one more query
    (the list row's node summary), not one per row."""
    targets = ComputeTarget.objects.filter(workspace=workspace).prefetch_related(
        Prefetch("nodes", queryset=ComputeNode.objects.only("pk", "target_id", "state"))
    )
    if kind:
        targets = targets.filter(kind=kind)
    if state:
        targets = targets.filter(state=state)
    return targets


def target_get(*, workspace, name: str) -> ComputeTarget:
    """The workspace's target, or 404: another workspace's name is not found."""
    target = ComputeTarget.objects.filter(workspace=workspace, name=name).first()
    if target is None:
        raise Http404(f"No compute target “{name}” in {workspace}.")
    return target


def with_state_reason(targets):
    """Each target with ``state_reason``: the reason its latest event recorded."""
    latest = TargetEvent.objects.filter(target=OuterRef("pk")).order_by("-at", "-pk").values("reason")[:1]
    return targets.annotate(state_reason=Subquery(latest))


def target_events(*, target, limit: int = 50):
    return target.events.select_related("actor")[:limit]


# The activities of a check that is queued on the ``targets`` queue and not started yet.
QUEUED_CHECK = ("Queued", "Queued for a check")


def check_wait(target: ComputeTarget) -> str:
    """What a queued check waits for: a free worker on the targets queue, and
    how many checks were queued before it (across workspaces: the queue is shared)."""
    if target.activity not in QUEUED_CHECK:
        return ""
    ahead = (
        ComputeTarget.objects.filter(activity__in=QUEUED_CHECK, updated_at__lt=target.updated_at)
        .exclude(pk=target.pk)
        .count()
    )
    behind = f"; {ahead} check{'s' if ahead != 1 else ''} queued before it" if ahead else ""
    return f"Waiting for a free worker on the targets queue{behind}."


# ---- clusters ----------------------------------------------------------------------------------

# The order states are listed, counted and stacked in; "off" nodes are not up, and not counted.
NODE_STATES_SHOWN = (
    NodeState.RUNNING,
    NodeState.IDLE,
    NodeState.PREPARING,
    NodeState.LEAVING,
    NodeState.PREEMPTED,
    NodeState.UNUSABLE,
)
# The compute list's words for them: "2 busy · 1 idle · 1 preparing (max 4)".
SUMMARY_WORDS = {NodeState.RUNNING: "busy"}
CHART_SAMPLES = 500  # the newest samples drawn
TABLE_SAMPLES = 30  # the newest samples in the chart's table view


def node_sizes(workspace):
    """The sizes a cluster can be made in here: the installation's and the workspace's own."""
    return NodeSize.objects.filter(Q(workspace=None) | Q(workspace=workspace))


def node_size_list(*, workspace) -> list:
    """The installation's sizes, then the workspace's own."""
    return sorted(node_sizes(workspace), key=lambda s: s.workspace_id is not None)


def node_summary(target) -> str:
    """ "2 busy · 1 idle · 1 preparing (max 4)"; "no nodes up (max 4)" when all are off.
    From ``target.nodes`` as prefetched (the compute list fetches every row's at once),
    else one query."""
    counts = node_counts_of(target.nodes.all())
    parts = [
        f"{counts[state]} {SUMMARY_WORDS.get(state, NodeState(state).label.lower())}"
        for state in NODE_STATES_SHOWN
        if counts.get(state)
    ]
    text = " · ".join(parts) or "no nodes up"
    maximum = target.config.get("max_nodes") if target.origin == Origin.CREATED else None
    return f"{text} (max {maximum})" if maximum else text


def cluster_view(target) -> dict:
    """What a cluster's page shows: nodes, the node-count chart's data and its
    table view, and the queue with each job's place in its partition."""
    nodes = sorted(target.nodes.select_related("run"), key=lambda node: _natural(node.name))
    samples = list(ClusterSample.objects.filter(target=target).order_by("-at")[:CHART_SAMPLES])[::-1]
    return {
        "nodes": nodes,
        "summary": node_summary(target),
        "chart": _chart(samples, target),
        "table": [
            {"at": s.at, "counts": [s.counts.get(state, 0) for state in NODE_STATES_SHOWN]}
            for s in samples[::-1][:TABLE_SAMPLES]
        ],
        "states": [(state.value, state.label) for state in NODE_STATES_SHOWN],
        "queue": _queue(target),
        "observed_at": _parse_time(target.observed.get("at")),
    }


def node_counts_of(nodes) -> dict[str, int]:
    counts: dict[str, int] = {}
    for node in nodes:
        counts[node.state] = counts.get(node.state, 0) + 1
    return counts


def _chart(samples, target) -> dict:
    """Chart.js data: x in epoch milliseconds, one series per state; the last
    counts drawn on to now (samples are stored only when the counts change)."""
    points = [(s.at, s.counts) for s in samples]
    if points:
        now = _parse_time(target.observed.get("at")) or timezone.now()
        points.append((max(now, points[-1][0]), points[-1][1]))
    return {
        "x": [int(at.timestamp() * 1000) for at, _ in points],
        "series": [
            {"state": state.value, "label": state.label, "counts": [c.get(state, 0) for _, c in points]}
            for state in NODE_STATES_SHOWN
        ],
    }


def _queue(target) -> list[dict]:
    """The observed queue (compute/clusters.py observe(): ``job``, ``run`` (a run's pk),
    ``name``, ``user``, ``partition``, ``state``, ``reason``, ``nodes`` (a count),
    ``nodelist``, ``position``, ``of``) as the page shows it: ``run`` the portal's
    Run (or None), ``nodes`` the node list or count, ``of`` how many wait in the partition."""
    from runs.models import Run

    jobs = []
    for entry in target.observed.get("queue", []):
        if not isinstance(entry, dict):
            continue
        run_id = entry.get("run", entry.get("run_id"))
        jobs.append(
            {
                **entry,
                "job_id": entry.get("job", entry.get("job_id", "")),
                "run_id": int(run_id) if str(run_id).isdigit() else None,
                "nodes": entry.get("nodelist") or entry.get("nodes") or "",
            }
        )
    run_ids = {job["run_id"] for job in jobs if job["run_id"] is not None}
    runs = Run.objects.filter(workspace_id=target.workspace_id, pk__in=run_ids).select_related("experiment")
    by_id = {run.pk: run for run in runs}
    waiting: dict[str, int] = {}
    for job in jobs:
        if job.get("state") == "PENDING":
            waiting[job.get("partition", "")] = waiting.get(job.get("partition", ""), 0) + 1
    for job in jobs:
        job["run"] = by_id.get(job["run_id"])
        if job.get("state") == "PENDING" and not job.get("of"):
            job["of"] = waiting.get(job.get("partition", ""), 0)
    return jobs


def _natural(name: str) -> list:
    """node2 before node10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _parse_time(text):
    from django.utils.dateparse import parse_datetime

    try:
        return parse_datetime(text) if text else None
    except ValueError:
        return None
