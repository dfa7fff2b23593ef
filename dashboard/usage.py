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

from django.db.models import Count, ExpressionWrapper, F, FloatField, Q, Sum, Value
from django.db.models.functions import Cast, Coalesce, Greatest, Least, TruncDay, TruncHour
from django.utils import timezone

from compute.models import NodeInterval
from runs.models import RunAllocation

from .db_functions import Epoch
from .ranges import Range

HOUR = 3600.0
GROUPS = {
    "user": "user__username",
    "experiment": "experiment__name",
    "target": "target__name",
    "workspace": "workspace__name",  # the admin's installation-wide view
}


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


def _sums(secs):
    def times(field):
        return ExpressionWrapper(secs * Cast(F(field), FloatField()), output_field=FloatField())

    return {
        "cpu_s": Sum(times("cpus")),
        "gpu_s": Sum(times("gpus")),
        "node_s": Sum(times("node_count")),
        "cost_s": Sum(times("hourly_price"), filter=Q(hourly_price__isnull=False)),
        "runs": Count("run_id", distinct=True),
    }


def _hours(row: dict) -> dict:
    return {
        "cpu_hours": (row["cpu_s"] or 0) / HOUR,
        "gpu_hours": (row["gpu_s"] or 0) / HOUR,
        "node_hours": (row["node_s"] or 0) / HOUR,
        "cost": None if row["cost_s"] is None else row["cost_s"] / HOUR,
        "runs": row["runs"],
    }


def allocations(workspaces, rng: Range):
    return overlapping(scoped(RunAllocation.objects.all(), workspaces), rng)


def usage_totals(workspaces, rng: Range, *, now=None) -> dict:
    now = now or timezone.now()
    row = allocations(workspaces, rng).aggregate(**_sums(seconds_inside(rng, now)))
    return _hours(row)


def usage_by(workspaces, rng: Range, group: str, *, now=None) -> list[dict]:
    """Usage by user, experiment or target, most GPU-hours (then CPU-hours) first."""
    now = now or timezone.now()
    field = GROUPS[group]
    rows = allocations(workspaces, rng).values(field).annotate(**_sums(seconds_inside(rng, now))).order_by()
    out = [{"name": row[field] or "(removed)", **_hours(row)} for row in rows]
    out.sort(key=lambda r: (-r["gpu_hours"], -r["cpu_hours"], r["name"]))
    return out


def usage_series(workspaces, rng: Range, *, now=None) -> list[dict]:
    """CPU-, GPU- and node-hours per chart bucket (hour or day in the range's
    time zone). Allocations inside one bucket are summed by the database,
    grouped by their truncated start; the few that cross a bucket's edge,
    the range's edges or are still open are cut in Python, exactly."""
    now = now or timezone.now()
    buckets = rng.buckets()
    trunc = TruncHour if rng.unit == "hour" else TruncDay
    totals = defaultdict(lambda: [0.0, 0.0, 0.0])
    marked = allocations(workspaces, rng).annotate(
        bucket=trunc("started_at", tzinfo=rng.tz), end_bucket=trunc("ended_at", tzinfo=rng.tz)
    )
    one_bucket = Q(started_at__gte=rng.start, ended_at__lte=rng.end, bucket=F("end_bucket"))
    whole = marked.filter(one_bucket)
    secs = Epoch(F("ended_at")) - Epoch(F("started_at"))
    for row in whole.values("bucket").annotate(**_sums(secs)).order_by():
        key = timezone.localtime(row["bucket"], rng.tz).replace(tzinfo=None)
        acc = totals[key]
        acc[0] += row["cpu_s"] or 0
        acc[1] += row["gpu_s"] or 0
        acc[2] += row["node_s"] or 0
    cut = marked.exclude(one_bucket).values_list("started_at", "ended_at", "cpus", "gpus", "node_count")
    for started, ended, cpus, gpus, nodes in cut:
        ended = ended or now
        for a, b in buckets:
            secs_in = (min(ended, b) - max(started, a)).total_seconds()
            if secs_in > 0:
                acc = totals[_bucket_key(a, rng)]
                acc[0] += secs_in * cpus
                acc[1] += secs_in * gpus
                acc[2] += secs_in * nodes
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
