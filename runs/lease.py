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
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .live import push_run
from .models import Run, RunStatus

log = logging.getLogger(__name__)


class LeaseLost(Exception):
    """Another monitor took the run over: this one stops touching it."""


def owner_token() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_native_id()}:{uuid.uuid4().hex[:8]}"


def lease_deadline():
    return timezone.now() + timedelta(seconds=settings.RUN_LEASE_SECONDS)


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
        if run.lease_owner and run.lease_expires_at and run.lease_expires_at > now:
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
        push_run(locked)
    return locked


def finish_run(
    run: Run, owner: str, status: str, *, error: str = "", exit_code=None, stderr_tail: str = ""
) -> None:
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        if locked.lease_owner != owner or locked.is_terminal:
            return
        locked.status = status
        locked.substep = ""
        locked.error = error
        locked.exit_code = exit_code
        locked.stderr_tail = stderr_tail
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
                "ended_at",
                "lease_owner",
                "lease_expires_at",
            ]
        )
        push_run(locked)
