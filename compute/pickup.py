"""Attaching targets whose check never came: queued on a broker no worker
reads (a workspace made by `manage.py shell` or another process's admin on
the embedded default), or lost with a worker that died mid-check.

A running check saves every step it takes (``activity`` and ``updated_at``),
so a target is only picked up when nothing has touched it for a while:
"""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from .live import push_target
from .models import ComputeTarget, TargetState

# ...a queued check that never started (activity still empty or "Queued")...
NEVER_STARTED_AFTER = timedelta(seconds=60)
# ...or a check silent for longer than its connect and preflight timeouts allow.
STALLED_AFTER = timedelta(minutes=10)
QUEUED = "Queued"


def queue_stuck_attaches(*, now=None) -> list[int]:
    """Queue a check of every stuck Attaching target; returns their pks.

    Each target is claimed by a conditional update (same state and
    ``updated_at`` as read), so two beats, or a check that just began, never
    get it queued twice."""
    from .tasks import check_target

    now = now or timezone.now()
    never_started = ComputeTarget.objects.filter(
        activity__in=("", QUEUED), updated_at__lt=now - NEVER_STARTED_AFTER
    )
    stalled = ComputeTarget.objects.filter(updated_at__lt=now - STALLED_AFTER)
    stuck = (never_started | stalled).filter(state=TargetState.ATTACHING)
    queued = []
    for pk, updated_at in stuck.values_list("pk", "updated_at"):
        claimed = ComputeTarget.objects.filter(
            pk=pk, state=TargetState.ATTACHING, updated_at=updated_at
        ).update(activity=QUEUED, updated_at=now)
        if not claimed:
            continue
        push_target(ComputeTarget.objects.get(pk=pk))
        transaction.on_commit(lambda pk=pk: check_target.delay(pk))
        queued.append(pk)
    return queued
