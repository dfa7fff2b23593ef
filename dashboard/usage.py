"""Usage over a range, aggregated in the database from RunAllocation rows.

An allocation counts for the part of it inside the range: its seconds are
min(end or now, range end) - max(start, range start). CPU-core-hours are
cores × hours, GPU-hours GPUs × hours, node-hours nodes × hours; every
attempt of a requeued run is a row of its own, so all of them count.

``workspaces`` scopes every query: a list of workspace ids, or None for the
whole installation (the admin site's view).
"""

from collections import defaultdict
from datetime import datetime

from django.db.models import Count, DateTimeField, F, FloatField, Q, Sum, Value
from django.db.models.functions import Cast, Coalesce, Greatest, Least, TruncDay, TruncHour
from django.utils import timezone

from compute.models import NodeInterval
from runs.models import RunAllocation

from .db_functions import Epoch
from .ranges import Range

HOUR = 3600.0


def scoped(queryset, workspaces, field: str = "workspace_id"):
    return queryset if workspaces is None else queryset.filter(**{f"{field}__in": list(workspaces)})


def overlapping(queryset, rng: Range, *, start="started_at", end="ended_at"):
    """Rows of an interval table that overlap the range (open rows included)."""
    return queryset.filter(
        Q(**{f"{start}__lt": rng.end}) & (Q(**{f"{end}__isnull": True}) | Q(**{f"{end}__gt": rng.start}))
    )


def seconds_inside(rng: Range, now: datetime, *, start="started_at", end="ended_at"):
    """The seconds of an interval row that fall inside the range."""
    return Greatest(
        Value(0.0),
        Least(Epoch(Coalesce(F(end), Value(now))), Value(rng.end.timestamp()))
        - Greatest(Epoch(F(start)), Value(rng.start.timestamp())),
        output_field=FloatField(),
    )


def allocations(workspaces, rng: Range):
    return overlapping(scoped(RunAllocation.objects.all(), workspaces), rng)


SHAPE = ("cpus", "gpus", "node_count", "price")
KEYS = {"user": "user_id", "experiment": "experiment_id", "target": "target_id", "workspace": "workspace_id"}


class UsageRows:
    """Seconds inside the range of the range's allocations, grouped by user,
    experiment, target and shape (cores, GPUs, nodes, price): one pass of the
    database over the allocations, from which every usage figure (totals, by
    user, experiment, target, workspace; busy node-time; cost) is summed
    here. Shapes are few (one or two per target), so the rows are few.
    ``runs`` counts attempts: a requeued run counts once per attempt."""

    def __init__(self, workspaces, rng: Range, *, now=None):
        now = now or timezone.now()
        rows = (
            allocations(workspaces, rng)
            .annotate(price=Cast("hourly_price", FloatField()))  # a float: no Decimal per row
            .values_list(*KEYS.values(), *SHAPE)
            .annotate(secs=Sum(seconds_inside(rng, now)), runs=Count("pk"))
            .order_by()
        )
        # One pass: [cpu s, gpu s, node s, cost × s (None: no price), attempts] per key of each group.
        self.sums = {group: defaultdict(lambda: [0.0, 0.0, 0.0, None, 0]) for group in KEYS}
        self.total = [0.0, 0.0, 0.0, None, 0]
        for user, experiment, target, workspace, cpus, gpus, nodes, price, secs, runs in rows:
            secs = secs or 0.0
            add = (
                secs * cpus,
                secs * gpus,
                secs * nodes,
                None if price is None else secs * float(price),
                runs,
            )
            for acc in (
                self.total,
                self.sums["user"][user],
                self.sums["experiment"][experiment],
                self.sums["target"][target],
                self.sums["workspace"][workspace],
            ):
                acc[0] += add[0]
                acc[1] += add[1]
                acc[2] += add[2]
                if add[3] is not None:
                    acc[3] = (acc[3] or 0.0) + add[3]
                acc[4] += add[4]

    @staticmethod
    def _hours(acc) -> dict:
        return {
            "cpu_hours": acc[0] / HOUR,
            "gpu_hours": acc[1] / HOUR,
            "node_hours": acc[2] / HOUR,
            "cost": None if acc[3] is None else acc[3] / HOUR,
            "runs": acc[4],
        }

    def totals(self) -> dict:
        return self._hours(self.total)

    def by(self, group: str) -> list[dict]:
        """Usage by user, experiment, target or workspace, most GPU-hours (then CPU-hours) first."""
        sums = self.sums[group]
        names = _names(group, [k for k in sums if k is not None])
        out = [{"id": k, "name": names.get(k, "(removed)"), **self._hours(v)} for k, v in sums.items()]
        out.sort(key=lambda r: (-r["gpu_hours"], -r["cpu_hours"], r["name"]))
        return out

    def node_seconds_by_target(self) -> dict[int, float]:
        return {k: v[2] for k, v in self.sums["target"].items() if k is not None}


def _names(group: str, ids) -> dict:
    from django.contrib.auth import get_user_model

    from compute.models import ComputeTarget
    from portal.models import Workspace
    from runs.models import Experiment

    model, field = {
        "user": (get_user_model(), "username"),
        "experiment": (Experiment, "name"),
        "target": (ComputeTarget, "name"),
        "workspace": (Workspace, "name"),
    }[group]
    return dict(model.objects.filter(pk__in=ids).values_list("pk", field)) if ids else {}


def gpu_hours(workspaces, rng: Range, *, now=None) -> float:
    """GPU-hours inside the range (quotas): one sum over the allocations that hold GPUs."""
    now = now or timezone.now()
    total = (
        allocations(workspaces, rng)
        .filter(gpus__gt=0)
        .aggregate(s=Sum(seconds_inside(rng, now) * F("gpus"), output_field=FloatField()))["s"]
    )
    return (total or 0.0) / HOUR


def usage_totals(workspaces, rng: Range, *, now=None) -> dict:
    return UsageRows(workspaces, rng, now=now).totals()


def usage_by(workspaces, rng: Range, group: str, *, now=None) -> list[dict]:
    return UsageRows(workspaces, rng, now=now).by(group)


def usage_series(workspaces, rng: Range, *, now=None) -> list[dict]:
    """CPU-, GPU- and node-hours per chart bucket (hour or day in the range's
    time zone), exactly, in one grouped query: each allocation, clipped to
    the range, is grouped by the buckets its start and end fall in and by
    its shape, with the count and the sums of its start and end times. A
    group within one bucket adds Σend - Σstart there; a group spanning
    buckets adds n × edge - Σstart to the first, n × length to each one in
    between and Σend - n × edge to the last."""
    now = now or timezone.now()
    buckets = rng.buckets()
    trunc = TruncHour if rng.unit == "hour" else TruncDay
    start = Greatest(F("started_at"), Value(rng.start), output_field=DateTimeField())
    end = Least(Coalesce(F("ended_at"), Value(now)), Value(rng.end), output_field=DateTimeField())
    groups = (
        allocations(workspaces, rng)
        .annotate(first=trunc(start, tzinfo=rng.tz), last=trunc(end, tzinfo=rng.tz))
        .values("first", "last", "cpus", "gpus", "node_count")
        .annotate(n=Count("pk"), starts=Sum(Epoch(start)), ends=Sum(Epoch(end)))
        .order_by()
    )
    index = {_bucket_key(a, rng): i for i, (a, _) in enumerate(buckets)}
    edges = [a.timestamp() for a, _ in buckets] + [buckets[-1][1].timestamp()]
    secs = [[0.0, 0.0, 0.0] for _ in buckets]
    for g in groups:
        i = index.get(_bucket_key(g["first"], rng))
        # An end at the range's end truncates to the bucket after the last: nothing of it is inside.
        j = index.get(_bucket_key(g["last"], rng), len(buckets))
        if i is None or j < i:
            continue
        shape = (g["cpus"], g["gpus"], g["node_count"])
        pieces = (
            [(i, g["ends"] - g["starts"])]
            if i == j
            else [(i, g["n"] * edges[i + 1] - g["starts"])]
            + [(k, g["n"] * (edges[k + 1] - edges[k])) for k in range(i + 1, j)]
            + [(j, g["ends"] - g["n"] * edges[j])]
        )
        for k, seconds in pieces:
            if k == len(buckets):
                continue
            for m in range(3):
                secs[k][m] += max(0.0, seconds) * shape[m]
    return [
        {
            "start": a,
            "label": rng.label(a),
            "cpu_hours": cpu / HOUR,
            "gpu_hours": gpu / HOUR,
            "node_hours": node / HOUR,
        }
        for (a, _), (cpu, gpu, node) in zip(buckets, secs, strict=True)
    ]


def _bucket_key(moment: datetime, rng: Range) -> datetime:
    """The truncated local start of the bucket holding ``moment`` (naive, as the keys above)."""
    local = timezone.localtime(moment, rng.tz).replace(tzinfo=None)
    if rng.unit == "hour":
        return local.replace(minute=0, second=0, microsecond=0)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def node_availability(workspaces, rng: Range, *, now=None) -> dict[int, float]:
    """Node-seconds each cluster target's nodes were up inside the range."""
    now = now or timezone.now()
    rows = (
        overlapping(scoped(NodeInterval.objects.all(), workspaces, "target__workspace_id"), rng)
        .values("target_id")
        .annotate(up_s=Sum(seconds_inside(rng, now)))
        .order_by()
    )
    return {row["target_id"]: row["up_s"] or 0.0 for row in rows}
