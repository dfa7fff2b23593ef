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
from django.db.models.functions import Coalesce, Greatest, Least, TruncDay, TruncHour
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


SHAPE = ("cpus", "gpus", "node_count", "hourly_price")
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
        self.rows = list(
            allocations(workspaces, rng)
            .values(*KEYS.values(), *SHAPE)
            .annotate(secs=Sum(seconds_inside(rng, now)), runs=Count("pk"))
            .order_by()
        )

    @staticmethod
    def _add(acc: dict, row: dict) -> None:
        secs = row["secs"] or 0.0
        acc["cpu_hours"] += secs * row["cpus"] / HOUR
        acc["gpu_hours"] += secs * row["gpus"] / HOUR
        acc["node_hours"] += secs * row["node_count"] / HOUR
        acc["runs"] += row["runs"]
        if row["hourly_price"] is not None:
            acc["cost"] = (acc["cost"] or 0.0) + secs * float(row["hourly_price"]) / HOUR

    @staticmethod
    def _empty() -> dict:
        return {"cpu_hours": 0.0, "gpu_hours": 0.0, "node_hours": 0.0, "cost": None, "runs": 0}

    def totals(self) -> dict:
        acc = self._empty()
        for row in self.rows:
            self._add(acc, row)
        return acc

    def by(self, group: str) -> list[dict]:
        """Usage by user, experiment, target or workspace, most GPU-hours (then CPU-hours) first."""
        key = KEYS[group]
        sums: dict = defaultdict(self._empty)
        for row in self.rows:
            self._add(sums[row[key]], row)
        names = _names(group, [k for k in sums if k is not None])
        out = [{"id": k, "name": names.get(k, "(removed)"), **v} for k, v in sums.items()]
        out.sort(key=lambda r: (-r["gpu_hours"], -r["cpu_hours"], r["name"]))
        return out

    def node_seconds_by_target(self) -> dict[int, float]:
        out: dict = defaultdict(float)
        for row in self.rows:
            if row["target_id"] is not None:
                out[row["target_id"]] += (row["secs"] or 0.0) * row["node_count"]
        return out


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
