"""The dashboard's other figures over a range: utilization, efficiency,
queue waits and outcomes; and the "now" block. Scoped like usage.py
(``workspaces``: a list of ids, or None for the whole installation)."""

from django.db import connection
from django.db.models import Count, F, FloatField, Q, Sum
from django.db.models.functions import Cast, Substr
from django.utils import timezone

from compute.models import ComputeNode, ComputeTarget, NodeInterval
from runs.models import Run, RunAllocation, RunStatus, SystemSample

from .db_functions import Percentiles
from .ranges import Range
from .usage import HOUR, node_availability, scoped

RUNNING = (RunStatus.RUNNING, RunStatus.FINALIZING, RunStatus.NOT_RESPONDING, RunStatus.CANCEL_REQUESTED)
WAITING = (RunStatus.QUEUED, RunStatus.PREPARING)
OUTCOMES = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELED, RunStatus.EARLY_STOPPED)
TOP_REASONS = 5


def now_state(workspaces, *, now=None) -> dict:
    """Targets by state, nodes by state across clusters, runs running and
    waiting, and the run that has waited longest."""
    now = now or timezone.now()
    targets = scoped(ComputeTarget.objects.all(), workspaces)
    runs = scoped(Run.objects.all(), workspaces)
    counts = runs.filter(status__in=[*RUNNING, *WAITING]).aggregate(
        running=Count("pk", filter=Q(status__in=RUNNING)), waiting=Count("pk", filter=Q(status__in=WAITING))
    )
    oldest = (
        runs.filter(status__in=WAITING, queued_at__isnull=False)
        .select_related("target", "experiment")
        .order_by("queued_at", "pk")
        .first()
    )
    return {
        "targets": _by_state(targets, ComputeTarget),
        "nodes": _by_state(
            scoped(ComputeNode.objects.all(), workspaces, "target__workspace_id"), ComputeNode
        ),
        "running": counts["running"],
        "waiting": counts["waiting"],
        "oldest": oldest,
        "oldest_wait": (now - oldest.queued_at).total_seconds() if oldest else None,
    }


def _by_state(queryset, model) -> list[tuple[str, int]]:
    labels = dict(model._meta.get_field("state").choices)
    rows = queryset.values("state").annotate(n=Count("pk")).order_by("-n", "state")
    return [(labels.get(row["state"], row["state"]), row["n"]) for row in rows]


def utilization(workspaces, rng: Range, busy: dict[int, float], *, now=None) -> list[dict]:
    """Per target: busy node-hours (``busy``: node-seconds by target, from
    usage.UsageRows) ÷ available node-hours. A cluster's available time is
    the time its nodes were up (NodeInterval); any other target counts as
    one node, available for the part of the range since it was added."""
    now = now or timezone.now()
    up = node_availability(workspaces, rng, now=now)
    clusters = set(up) | set(
        scoped(NodeInterval.objects.all(), workspaces, "target__workspace_id")
        .values_list("target_id", flat=True)
        .distinct()
        .order_by()
    )
    out = []
    for target in scoped(ComputeTarget.objects.all(), workspaces).order_by("name", "pk"):
        if target.pk in clusters:
            available = up.get(target.pk, 0.0)
        else:
            since = max(rng.start, target.created_at)
            available = max(0.0, (min(rng.end, now) - since).total_seconds())
        used = busy.get(target.pk, 0.0)
        if not used and not available:
            continue
        out.append(
            {
                "name": target.name,
                "cluster": target.pk in clusters,
                "busy_hours": used / HOUR,
                "available_hours": available / HOUR,
                "share": min(1.0, used / available) if available else None,
            }
        )
    return out


class Efficiency:
    """GPU and CPU actually used ÷ held, from the system samples inside the
    range: one grouped pass (by user and experiment), summed up by either."""

    def __init__(self, workspaces, rng: Range):
        seconds = F("seconds")
        self.rows = list(
            scoped(
                SystemSample.objects.filter(at__gt=rng.start, at__lte=rng.end),
                workspaces,
                "run__workspace_id",
            )
            .values("run__created_by_id", "run__experiment_id")
            .annotate(
                sampled=Sum("seconds"),
                cpu=Sum(F("cpu_cores") * seconds),
                cpu_held=Sum(F("cpus_held") * seconds),
                gpu=Sum(F("gpu_used") * seconds),
                gpu_held=Sum(Cast("gpus_held", FloatField()) * seconds),
            )
            .order_by()
        )

    def by(self, group: str) -> list[dict]:
        from .usage import _names

        key = {"user": "run__created_by_id", "experiment": "run__experiment_id"}[group]
        sums: dict = {}
        for row in self.rows:
            acc = sums.setdefault(
                row[key], dict.fromkeys(("sampled", "cpu", "cpu_held", "gpu", "gpu_held"), 0.0)
            )
            for name in acc:
                acc[name] += row[name] or 0.0
        names = _names(group, [k for k in sums if k is not None])
        out = [
            {
                "name": names.get(k, "(removed)"),
                "sampled_hours": v["sampled"] / HOUR,
                "cpu_share": v["cpu"] / v["cpu_held"] if v["cpu_held"] else None,
                "gpu_share": v["gpu"] / v["gpu_held"] if v["gpu_held"] else None,
            }
            for k, v in sums.items()
        ]
        out.sort(key=lambda r: (-r["sampled_hours"], r["name"]))
        return out


def efficiency(workspaces, rng: Range, group: str) -> list[dict]:
    return Efficiency(workspaces, rng).by(group)


def queue_waits(workspaces, rng: Range) -> list[dict]:
    """Queue wait (queued, or the previous attempt's end, to running), p50
    and p95, by cluster (target) and partition, for attempts that started
    running inside the range."""
    started = scoped(
        RunAllocation.objects.filter(
            started_at__gte=rng.start, started_at__lt=rng.end, waited_seconds__isnull=False
        ),
        workspaces,
    )
    keys = ("target_id", "partition")
    if Percentiles.supported_on(connection):
        rows = (
            started.values(*keys)
            .annotate(runs=Count("pk"), waits=Percentiles(F("waited_seconds"), (0.5, 0.95)))
            .order_by()
        )
        out = [{**row, "p50": row["waits"][0], "p95": row["waits"][1]} for row in rows]
    else:  # SQLite has no percentile aggregate: the waits are sorted here
        groups: dict[tuple, list[float]] = {}
        for *key, seconds in started.values_list(*keys, "waited_seconds"):
            groups.setdefault(tuple(key), []).append(seconds)
        out = [
            {
                "target_id": k[0],
                "partition": k[1],
                "runs": len(v),
                "p50": _cont(v, 0.5),
                "p95": _cont(v, 0.95),
            }
            for k, v in groups.items()
        ]
    from .usage import _names

    names = _names("target", [row["target_id"] for row in out if row["target_id"]])
    result = [
        {
            "name": names.get(row["target_id"], "(detached)"),
            "partition": row["partition"] or "default",
            "runs": row["runs"],
            "p50": row["p50"],
            "p95": row["p95"],
        }
        for row in out
    ]
    result.sort(key=lambda r: (-r["runs"], r["name"], r["partition"]))
    return result


def _cont(values: list[float], fraction: float) -> float:
    """percentile_cont: linear between the two nearest ranks."""
    values = sorted(values)
    pos = (len(values) - 1) * fraction
    low = int(pos)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (pos - low)


def _ended(workspaces, rng: Range):
    return scoped(
        Run.objects.filter(ended_at__gte=rng.start, ended_at__lt=rng.end, status__in=OUTCOMES), workspaces
    )


def outcomes(workspaces, rng: Range) -> list[dict]:
    """Runs that ended inside the range, by outcome."""
    labels = dict(RunStatus.choices)
    rows = _ended(workspaces, rng).values("status").annotate(n=Count("pk")).order_by()
    counts = {row["status"]: row["n"] for row in rows}
    return [{"name": labels[s], "status": s, "runs": counts.get(s, 0)} for s in OUTCOMES]


def failure_reasons(workspaces, rng: Range) -> list[dict]:
    """The most frequent reasons among the failed runs that ended inside the range."""
    reasons = (
        _ended(workspaces, rng)
        .filter(status=RunStatus.FAILED)
        .annotate(reason=Substr("error", 1, 120))
        .values("failure_kind", "reason")
        .annotate(runs=Count("pk"))
        .order_by("-runs", "reason")[:TOP_REASONS]
    )
    return [
        {
            "kind": row["failure_kind"] or "portal",
            "reason": row["reason"] or "(no message)",
            "runs": row["runs"],
        }
        for row in reasons
    ]
