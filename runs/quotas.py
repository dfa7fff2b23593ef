"""Workspace quotas (portal.WorkspaceQuota): checked when a run is submitted,
never enforced on a run already running.

Concurrent GPUs and nodes count what unfinished runs hold (their open
allocation) or will hold (their target's allocation, for runs still waiting).
GPU-hours per calendar month count the month's allocations so far, in the
portal's time zone. ``check_submit`` locks the workspace's quota row, so two
racing submits are checked one after the other: the second sees the first's run.
"""

from dataclasses import dataclass
from datetime import datetime, time

from django.db.models import Count, Exists, OuterRef, Sum
from django.utils import timezone

from portal.models import WorkspaceQuota

from .models import UNFINISHED, Run, RunAllocation
from .usage import allocation_of

WARN_AT = 0.8


class QuotaExceeded(Exception):
    """A submit over a limit; the message names the limit and the current use."""


@dataclass(frozen=True)
class Use:
    gpus: int
    nodes: int
    month_gpu_hours: float


def month_start(now=None) -> datetime:
    local = timezone.localtime(now or timezone.now())
    return datetime.combine(local.date().replace(day=1), time(), tzinfo=local.tzinfo)


def current_use(workspace, *, now=None) -> Use:
    from dashboard.ranges import Range
    from dashboard.usage import gpu_hours

    now = now or timezone.now()
    held = RunAllocation.objects.filter(
        workspace=workspace, ended_at__isnull=True, run__status__in=UNFINISHED
    ).aggregate(gpus=Sum("gpus"), nodes=Sum("node_count"))
    gpus, nodes = held["gpus"] or 0, held["nodes"] or 0
    waiting = (
        Run.objects.filter(
            workspace=workspace, status__in=UNFINISHED, sweep__isnull=True
        )  # a sweep's parent holds nothing
        .exclude(Exists(RunAllocation.objects.filter(run=OuterRef("pk"), ended_at__isnull=True)))
        .values("target", "node_count")
        .annotate(n=Count("pk"))
        .order_by()
    )
    from compute.models import ComputeTarget

    targets = ComputeTarget.objects.in_bulk([row["target"] for row in waiting if row["target"]])
    for row in waiting:
        will = allocation_of(targets.get(row["target"]), row["node_count"])
        gpus += will.gpus * row["n"]
        nodes += will.node_count * row["n"]
    month = Range(start=month_start(now), end=now, tz=timezone.get_current_timezone())
    return Use(gpus, nodes, gpu_hours([workspace.pk], month, now=now))


def check_submit(*, workspace, target, node_count: int = 1) -> None:
    """Refuse a run that would take the workspace over a limit (QuotaExceeded).
    Call inside the transaction that stores the run: the quota row stays
    locked until it commits."""
    quota = WorkspaceQuota.objects.select_for_update().filter(workspace=workspace).first()
    if quota is None:
        return
    asks = allocation_of(target, node_count)
    use = current_use(workspace)
    if (
        quota.max_concurrent_gpus is not None
        and asks.gpus
        and use.gpus + asks.gpus > quota.max_concurrent_gpus
    ):
        raise QuotaExceeded(
            f"The workspace's limit of {quota.max_concurrent_gpus} concurrent GPUs would be exceeded: "
            f"unfinished runs hold or wait for {use.gpus} GPUs, and this run asks for {asks.gpus}."
        )
    if quota.max_concurrent_nodes is not None and use.nodes + asks.node_count > quota.max_concurrent_nodes:
        raise QuotaExceeded(
            f"The workspace's limit of {quota.max_concurrent_nodes} concurrent nodes would be exceeded: "
            f"unfinished runs hold or wait for {use.nodes} nodes, and this run asks for {asks.node_count}."
        )
    if (
        quota.monthly_gpu_hours is not None
        and asks.gpus
        and use.month_gpu_hours >= float(quota.monthly_gpu_hours)
    ):
        raise QuotaExceeded(
            f"The workspace's limit of {float(quota.monthly_gpu_hours):g} GPU-hours this month is used up: "
            f"{use.month_gpu_hours:.1f} GPU-hours so far. Runs without GPUs can still be submitted."
        )


def warnings(workspace) -> list[str]:
    """What is at 80% of its limit or more, for the dashboard and the submit page."""
    quota = WorkspaceQuota.objects.filter(workspace=workspace).first()
    if quota is None:
        return []
    use = current_use(workspace)
    out = []
    limits = [
        (quota.monthly_gpu_hours, use.month_gpu_hours, "GPU-hours this month", "{:.1f}"),
        (quota.max_concurrent_gpus, use.gpus, "concurrent GPUs", "{:g}"),
        (quota.max_concurrent_nodes, use.nodes, "concurrent nodes", "{:g}"),
    ]
    for limit, used, what, fmt in limits:
        if limit and used >= WARN_AT * float(limit):
            share = used / float(limit)
            out.append(
                f"{fmt.format(used)} of {float(limit):g} {what} used ({share:.0%})"
                + (": new runs that need more are refused." if share >= 1 else ".")
            )
    return out
