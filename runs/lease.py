"""The lease on a Run row: one monitor at a time, renewed while it works.

A monitor claims the run, then writes only through ``update_run`` / ``finish_run``,
which re-check under a row lock that it still holds the lease: a monitor
whose lease was taken over raises LeaseLost instead of writing.
"""

import logging
import os
import socket
import threading
import uuid
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import connections, transaction
from django.db.models import Q
from django.utils import timezone

from .live import push_queue, push_run
from .models import Run, RunStatus
from .usage import close_allocations, open_allocation

log = logging.getLogger(__name__)


class LeaseLost(Exception):
    """Another monitor took the run over: this one stops touching it."""


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read(36).strip()[:8]
    except OSError:
        return "noboot"


# host/boot: an owner from this machine and boot whose pid is gone is dead.
HOST = f"{socket.gethostname()}/{_boot_id()}"


def owner_token() -> str:
    return f"{HOST}:{os.getpid()}:{threading.get_native_id()}:{uuid.uuid4().hex[:8]}"


def dead_local_owners(owners) -> list[str]:
    """The owners among ``owners`` that were processes of this machine which no
    longer exist: their leases are void at once, without waiting for expiry."""
    dead = []
    for owner in owners:
        host, _, rest = owner.partition(":")
        pid = rest.partition(":")[0]
        if host != HOST or not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            dead.append(owner)
        except PermissionError:
            pass
    return dead


def lease_deadline():
    return timezone.now() + timedelta(seconds=settings.RUN_LEASE_SECONDS)


def claim_for_monitor(owner: str, *, statuses, limit: int, exclude=()) -> list[Run]:
    """Take the lease of launched runs nobody follows (never claimed, expired,
    or held by a dead process of this machine). Rows another worker is
    claiming right now are skipped, not waited for (SKIP LOCKED), so N
    workers share the runs without double-reading."""
    now = timezone.now()
    candidates = Run.objects.filter(status__in=statuses).exclude(handle={}).exclude(pk__in=exclude)
    held = candidates.filter(lease_expires_at__gte=now).exclude(lease_owner="").exclude(lease_owner=owner)
    dead = dead_local_owners(
        set(held.filter(lease_owner__startswith=f"{HOST}:").values_list("lease_owner", flat=True))
    )
    free = (
        Q(lease_owner="")
        | Q(lease_expires_at__isnull=True)
        | Q(lease_expires_at__lt=now)
        | Q(lease_owner__in=dead)
    )
    with transaction.atomic():
        runs = list(
            candidates.filter(free)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("target", "snapshot")
            .order_by("pk")[:limit]
        )
        if not runs:
            return []
        deadline = now + timedelta(seconds=settings.RUN_LEASE_SECONDS)
        Run.objects.filter(pk__in=[r.pk for r in runs]).update(
            lease_owner=owner, lease_expires_at=deadline, heartbeat_at=now
        )
    for run in runs:
        if run.lease_owner and run.lease_owner != owner:
            log.info("Run %s: following it (the lease of %s ended)", run.pk, run.lease_owner)
        run.lease_owner, run.lease_expires_at, run.heartbeat_at = owner, deadline, now
    return runs


def renew(owner: str, run_ids) -> set[int]:
    """Extend this owner's leases; returns the runs it still holds."""
    held = set(Run.objects.filter(pk__in=list(run_ids), lease_owner=owner).values_list("pk", flat=True))
    if held:
        now = timezone.now()
        Run.objects.filter(pk__in=held, lease_owner=owner).update(
            lease_expires_at=now + timedelta(seconds=settings.RUN_LEASE_SECONDS), heartbeat_at=now
        )
    return held


@contextmanager
def kept(run_id: int, owner: str):
    """Renew the lease in the background while a long step runs (an upload,
    an image build): the reaper must not take a run whose preparation is
    merely slow."""
    done = threading.Event()

    def beat():
        while not done.wait(settings.RUN_LEASE_SECONDS / 3):
            try:
                renew(owner, [run_id])
            except Exception:
                log.exception("Run %s: renewing the lease failed", run_id)
            finally:
                connections.close_all()

    thread = threading.Thread(target=beat, name=f"lease-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def hand_back(owner: str, run_ids) -> None:
    """Give leases up at once (a worker shutting down): another worker follows on."""
    Run.objects.filter(pk__in=list(run_ids), lease_owner=owner).update(lease_expires_at=timezone.now())


def hand_over(run: Run, owner: str, handle: dict, *, to: str = "") -> Run:
    """The launch is done: store the handle whole and pass the lease to the
    monitor ``to`` (this process's), or leave it free for any monitor."""
    with transaction.atomic():
        locked = (
            Run.objects.select_for_update(of=("self",)).select_related("target", "snapshot").get(pk=run.pk)
        )
        if locked.lease_owner != owner:
            raise LeaseLost
        now = timezone.now()
        locked.handle = handle
        locked.lease_owner = to
        locked.lease_expires_at = now + timedelta(seconds=settings.RUN_LEASE_SECONDS) if to else None
        locked.heartbeat_at = now
        locked.save(update_fields=["handle", "lease_owner", "lease_expires_at", "heartbeat_at"])
    return locked


def claim(run_id: int, owner: str) -> Run | None:
    """Take the run's lease if nobody holds a live one; Queued becomes Preparing."""
    now = timezone.now()
    with transaction.atomic():
        run = (
            Run.objects.select_for_update(of=("self",))
            .select_related("target", "snapshot")
            .filter(pk=run_id)
            .first()
        )
        if run is None or run.is_terminal:
            return None
        if (
            run.lease_owner
            and run.lease_expires_at
            and run.lease_expires_at > now
            and not dead_local_owners([run.lease_owner])
        ):
            return None
        if run.status in (RunStatus.NOT_STARTED, RunStatus.QUEUED):
            run.status = RunStatus.PREPARING
            run.preparing_at = now
            run.substep = f"Connecting to {run.target.name}"
        elif run.lease_owner:
            log.info("Run %s: re-attaching a monitor (lease of %s expired)", run.pk, run.lease_owner)
        run.lease_owner = owner
        run.lease_expires_at = now + timedelta(seconds=settings.RUN_LEASE_SECONDS)
        run.heartbeat_at = now
        run.save(
            update_fields=[
                "status",
                "preparing_at",
                "substep",
                "lease_owner",
                "lease_expires_at",
                "heartbeat_at",
            ]
        )
        push_run(run)
        if run.status == RunStatus.PREPARING and run.preparing_at == now:
            push_queue(run.target_id)
    return run


def update_run(run: Run, owner: str, from_statuses=None, **fields) -> Run:
    """Save fields on the run if this monitor still holds it; pushes the status.
    A status change applies only when the row is in one of ``from_statuses``
    (a cancel request saved meanwhile is never overwritten)."""
    with transaction.atomic():
        locked = (
            Run.objects.select_for_update(of=("self",)).select_related("target", "snapshot").get(pk=run.pk)
        )
        if locked.lease_owner != owner:
            raise LeaseLost
        if from_statuses is not None and locked.status not in from_statuses:
            fields.pop("status", None)
        for name, value in fields.items():
            setattr(locked, name, value)
        locked.lease_expires_at = lease_deadline()
        locked.heartbeat_at = timezone.now()
        locked.save(update_fields=[*fields, "lease_expires_at", "heartbeat_at"])
        _record_allocation(locked, fields)
        push_run(locked)
    return locked


def _record_allocation(run: Run, fields: dict) -> None:
    """What the run holds follows its status: Running opens its attempt's
    allocation; back to Preparing (requeued) or a new attempt releases it."""
    if fields.get("status") == RunStatus.RUNNING:
        open_allocation(run, fields.get("running_at"))
    elif "attempt" in fields or (
        fields.get("status") == RunStatus.PREPARING and run.status == RunStatus.PREPARING
    ):
        close_allocations(run)


def finish_run(
    run: Run,
    owner: str,
    status: str,
    *,
    error: str = "",
    exit_code=None,
    stderr_tail: str = "",
    failure_kind: str = "",
) -> None:
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        if locked.lease_owner != owner or locked.is_terminal:
            return
        if status == RunStatus.CANCELED and locked.stop_reason:  # a sweep's policy stopped it
            status, error = RunStatus.EARLY_STOPPED, locked.stop_reason
        locked.status = status
        locked.substep = ""
        locked.error = error
        locked.exit_code = exit_code
        locked.stderr_tail = stderr_tail
        locked.failure_kind = failure_kind if status == RunStatus.FAILED else ""
        locked.ended_at = timezone.now()
        locked.lease_owner = ""
        locked.lease_expires_at = None
        locked.save(
            update_fields=[
                "status",
                "substep",
                "error",
                "exit_code",
                "stderr_tail",
                "failure_kind",
                "ended_at",
                "lease_owner",
                "lease_expires_at",
            ]
        )
        close_allocations(locked, locked.ended_at)
        push_run(locked)
        if locked.parent_id:
            from .sweeps.orchestrator import queue_advance

            queue_advance(locked.parent_id)
