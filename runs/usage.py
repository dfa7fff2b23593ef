"""Recording what runs hold, when it happens: one RunAllocation per attempt,
opened when the run starts Running, closed when it ends or is requeued.

The monitor (store_readings) and ``lease.update_run`` call ``open_allocation``
when a run reaches Running and ``close_allocations`` when it goes back to
Preparing (requeued) or its attempt changes; ``finish_run`` closes it when
the run ends. Opening attempt 2 also closes an attempt 1 left open. All of
them run inside the caller's transaction, on the run's locked row.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone

from .models import Run, RunAllocation, TargetPrice


@dataclass(frozen=True)
class Allocation:
    """What a run on a target holds, over all its nodes."""

    cpus: float
    gpus: int
    node_count: int
    hourly_price: Decimal | None = None


def per_node(target) -> tuple[float, int, Decimal | None]:
    """(cores, GPUs, hourly price) of one node of ``target``: its node size
    (clusters), its configured limits (containers, VMs made as containers),
    or what its check found (a machine a run has to itself)."""
    from compute.models import NodeSize

    config, caps = target.config or {}, target.capabilities or {}
    price = None
    if config.get("size"):
        mine = NodeSize.objects.filter(name=config["size"], workspace_id=target.workspace_id).first()
        size = mine or NodeSize.objects.filter(name=config["size"], workspace__isnull=True).first()
        fixed = config.get("node")  # a created cluster's size as it was made (the catalogue may change)
        if isinstance(fixed, dict) and fixed.get("cpus") is not None:
            return float(fixed["cpus"]), int(fixed.get("gpus") or 0), size.hourly_price if size else None
        if size is not None:
            return float(size.cpu_cores), int(size.gpus), size.hourly_price
    if config.get("cpus"):
        cpus, gpus = float(config["cpus"]), int(config.get("gpus") or 0)
    else:
        cpus = float(caps.get("cpus") or 0)
        listed = caps.get("gpus")
        gpus = len(listed) if isinstance(listed, list) else int(caps.get("gpu_count") or 0)
    return cpus, gpus, price


def allocation_of(target, node_count: int = 1) -> Allocation:
    """What a run of ``node_count`` nodes on ``target`` holds."""
    if target is None:
        return Allocation(0.0, 0, node_count)
    cpus, gpus, price = per_node(target)
    own = TargetPrice.objects.filter(target=target).values_list("hourly_price", flat=True).first()
    if own is not None:
        price = own
    nodes = max(1, node_count)
    return Allocation(cpus * nodes, gpus * nodes, nodes, None if price is None else price * nodes)


def open_allocation(run: Run, at=None) -> RunAllocation:
    """The run started Running (attempt ``run.attempt``): open its
    allocation, closing any earlier attempt's that is still open. Calling it
    again for the same attempt changes nothing."""
    at = at or timezone.now()
    RunAllocation.objects.filter(run=run, ended_at__isnull=True, attempt__lt=run.attempt).update(ended_at=at)
    existing = RunAllocation.objects.filter(run=run, attempt=run.attempt).first()
    if existing is not None:
        return existing
    held = allocation_of(run.target, run.node_count)
    previous = (
        RunAllocation.objects.filter(run=run, attempt__lt=run.attempt)
        .order_by("-attempt")
        .values("ended_at")
        .first()
    )
    waiting_since = previous["ended_at"] if previous else run.queued_at
    return RunAllocation.objects.create(
        workspace_id=run.workspace_id,
        run=run,
        attempt=run.attempt,
        target_id=run.target_id,
        user_id=run.created_by_id,
        experiment_id=run.experiment_id,
        started_at=at,
        cpus=held.cpus,
        gpus=held.gpus,
        node_count=held.node_count,
        hourly_price=held.hourly_price,
        partition=run.partition,
        waited_seconds=(at - waiting_since).total_seconds() if waiting_since else None,
    )


def close_allocations(run: Run, at=None) -> int:
    """The run ended, or its attempt was requeued: close what it holds."""
    return RunAllocation.objects.filter(run=run, ended_at__isnull=True).update(ended_at=at or timezone.now())


def open_allocation_of(run_id: int):
    """The allocation a run holds now, if any (what a system sample is measured against)."""
    return RunAllocation.objects.filter(run_id=run_id, ended_at__isnull=True).order_by("-attempt").first()


def target_price_set(*, target, hourly_price: Decimal | None) -> None:
    """An owner's hourly price for one node of ``target`` (None removes it);
    runs that start afterwards are costed with it."""
    if hourly_price is None:
        TargetPrice.objects.filter(target=target).delete()
        return
    if hourly_price < 0:
        raise ValueError("A price cannot be negative.")
    TargetPrice.objects.update_or_create(target=target, defaults={"hourly_price": hourly_price})
