"""Usage over a range, aggregated in the database from RunAllocation rows.

An allocation counts for the part of it inside the range: its seconds are
min(end or now, range end) - max(start, range start). CPU-core-hours are
cores × hours, GPU-hours GPUs × hours, node-hours nodes × hours; every
attempt of a requeued run is a row of its own, so all of them count.

``workspaces`` scopes every query: a list of workspace ids, or None for the
whole installation (the admin site's view).
"""

from bisect import bisect_right
from collections import defaultdict
from datetime import datetime

from django.db.models import Count, F, FloatField, Q, Sum, Value
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
    time zone). Allocations inside one bucket are summed by the database,
    grouped by their truncated start; the few that cross a bucket's edge,
    the range's edges or are still open are cut here, exactly."""
    now = now or timezone.now()
    buckets = rng.buckets()
    trunc = TruncHour if rng.unit == "hour" else TruncDay
    totals = defaultdict(lambda: [0.0, 0.0, 0.0])
    marked = allocations(workspaces, rng).annotate(
        bucket=trunc("started_at", tzinfo=rng.tz), end_bucket=trunc("ended_at", tzinfo=rng.tz)
    )
    one_bucket = Q(started_at__gte=rng.start, ended_at__lte=rng.end, bucket=F("end_bucket"))
    secs = Epoch(F("ended_at")) - Epoch(F("started_at"))
    whole = marked.filter(one_bucket).values("bucket", "cpus", "gpus", "node_count").annotate(secs=Sum(secs))
    for row in whole.order_by():
        acc = totals[_bucket_key(row["bucket"], rng)]
        acc[0] += row["secs"] * row["cpus"]
        acc[1] += row["secs"] * row["gpus"]
        acc[2] += row["secs"] * row["node_count"]
    starts = [a for a, _ in buckets]
    cut = marked.exclude(one_bucket).values_list("started_at", "ended_at", "cpus", "gpus", "node_count")
    for started, ended, cpus, gpus, nodes in cut:
        ended = min(ended or now, rng.end)
        i = max(0, bisect_right(starts, started) - 1)
        while i < len(buckets) and buckets[i][0] < ended:
            a, b = buckets[i]
            inside = (min(ended, b) - max(started, a)).total_seconds()
            if inside > 0:
                acc = totals[_bucket_key(a, rng)]
                acc[0] += inside * cpus
                acc[1] += inside * gpus
                acc[2] += inside * nodes
            i += 1
    out = []
    for a, _ in buckets:
        cpu, gpu, node = totals.get(_bucket_key(a, rng), (0.0, 0.0, 0.0))
        out.append(
            {
                "start": a,
                "label": rng.label(a),
                "cpu_hours": cpu / HOUR,
                "gpu_hours": gpu / HOUR,
                "node_hours": node / HOUR,
            }
        )
    return out


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
