"""Targets the portal creates: create, stop, start, delete, idle shutdown.

Requests (from views) change the state and queue a task on commit; the tasks
call the ``*_now`` functions, which push every step live through
``services._transition`` and the target's ``activity``.
"""

import logging
from datetime import timedelta

from django.db import DatabaseError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from .backends import BACKENDS, get_backend
from .backends.base import BackendError
from .live import push_target, push_target_deleted
from .models import ComputeTarget, Origin, TargetEvent, TargetState
from .services import TargetActionError, _run_check, _transition, encrypt_secrets, require_may_add

log = logging.getLogger(__name__)

STOPPABLE = (TargetState.SUCCEEDED, TargetState.UNREACHABLE, TargetState.FAILED)
DELETABLE = (
    TargetState.SUCCEEDED,
    TargetState.UNREACHABLE,
    TargetState.FAILED,
    TargetState.STOPPED,
)


def target_create(
    *, workspace, user, kind: str, name: str, config: dict, secrets: dict | None = None
) -> ComputeTarget:
    backend = get_backend(kind)
    if "create" not in backend.modes:
        raise ValueError(f"{kind} targets cannot be created here")
    secrets = secrets or {}
    require_may_add(workspace=workspace, user=user, kind=kind, config=config, secrets=secrets)
    with transaction.atomic():
        target = ComputeTarget.objects.create(
            workspace=workspace,
            name=name,
            kind=kind,
            origin=Origin.CREATED,
            state=TargetState.CREATING,
            activity="Queued",
            config=config,
            encrypted_secrets=encrypt_secrets(secrets),
            created_by=user,
        )
        TargetEvent.objects.create(target=target, state=target.state, reason="Create requested.", actor=user)
        _queue("provision_target", target)
    return target


def target_request_stop(*, target: ComputeTarget, user=None, reason: str = "Stop requested.") -> None:
    _require_lifecycle(target)
    if target.state not in STOPPABLE:
        raise TargetActionError(f"{target.name} cannot be stopped while {target.state_label.lower()}.")
    target.activity = "Queued"
    _transition(target, TargetState.STOPPING, reason, actor=user)
    _queue("stop_target", target)


def target_request_start(*, target: ComputeTarget, user=None) -> None:
    _require_lifecycle(target)
    if target.state != TargetState.STOPPED:
        raise TargetActionError(f"{target.name} is not stopped ({target.state_label.lower()}).")
    target.activity = "Queued"
    _transition(target, TargetState.STARTING, "Start requested.", actor=user)
    _queue("start_target", target)


def target_request_delete(*, target: ComputeTarget, user=None) -> None:
    if target.origin != Origin.CREATED:
        raise TargetActionError(f"{target.name} was attached: detach it instead.")
    if target.state not in DELETABLE:
        raise TargetActionError(f"{target.name} is busy ({target.activity or target.state_label}).")
    if target.has_active_runs():
        raise TargetActionError(f"Runs are active on {target.name}: cancel them or let them finish first.")
    target.activity = "Queued"
    _transition(target, TargetState.DELETING, "Delete requested.", actor=user)
    _queue("delete_target", target)


# ---- what the tasks do ----------------------------------------------------------


def target_provision_now(*, target_id: int) -> None:
    target = _load(target_id, TargetState.CREATING)
    if target is None:
        return
    progress = _progress(target)
    try:
        target.backend.provision(progress)
    except BackendError as exc:
        _transition(target, TargetState.FAILED, f"Creating failed: {exc.message}")
        return
    except Exception as exc:
        log.exception("Provisioning target %s failed unexpectedly", target_id)
        _transition(target, TargetState.FAILED, f"Unexpected error while creating: {type(exc).__name__}.")
        return
    target.last_used_at = timezone.now()
    _save_quietly(target, ["config", "last_used_at"])
    _run_check(target, progress)


def target_stop_now(*, target_id: int) -> None:
    target = _load(target_id, TargetState.STOPPING)
    if target is None:
        return
    try:
        target.backend.stop(_progress(target))
    except BackendError as exc:
        _transition(target, TargetState.FAILED, f"Stopping failed: {exc.message}")
        return
    _transition(target, TargetState.STOPPED, "Stopped: the container is kept with its files.")


def target_start_now(*, target_id: int) -> None:
    target = _load(target_id, TargetState.STARTING)
    if target is None:
        return
    progress = _progress(target)
    try:
        target.backend.start(progress)
    except BackendError as exc:
        _transition(target, TargetState.FAILED, f"Starting failed: {exc.message}")
        return
    target.last_used_at = timezone.now()
    _save_quietly(target, ["last_used_at"])
    _run_check(target, progress)


def target_delete_now(*, target_id: int) -> None:
    target = _load(target_id, TargetState.DELETING)
    if target is None:
        return
    try:
        target.backend.deprovision(_progress(target))
    except BackendError as exc:
        _transition(target, TargetState.FAILED, f"Deleting failed: {exc.message} Try Delete again.")
        return
    pk = target.pk
    try:
        with transaction.atomic():
            target.delete()
    except ProtectedError:
        # Runs in its history refer to it: what it made is gone, the record stays.
        _transition(
            target,
            TargetState.FAILED,
            "Deleted on the engine; the portal keeps this record because runs in its history refer to it.",
        )
        return
    log.info("Target %s deleted", pk)
    target.pk = pk  # delete() cleared it; the pushes name the row and page by it
    push_target_deleted(target)


def stop_idle_targets(*, now=None) -> list[str]:
    """Stop created VMs with an idle shutdown whose last use is older than it."""
    now = now or timezone.now()
    stopped = []
    for target in ComputeTarget.objects.filter(origin=Origin.CREATED, state=TargetState.SUCCEEDED):
        minutes = int(target.config.get("idle_minutes") or 0)
        if not minutes or not target.backend.lifecycle:
            continue
        if target.last_used_at and now - target.last_used_at < timedelta(minutes=minutes):
            continue
        if target.has_active_runs():
            continue
        target_request_stop(target=target, reason=f"Idle shutdown: no runs for {minutes} min.")
        stopped.append(target.name)
    return stopped


def remove_expired_run_containers() -> None:
    """Each kind's periodic cleanup (run containers kept after a failure)."""
    for kind in BACKENDS:
        get_backend(kind).housekeeping()


# ---- helpers --------------------------------------------------------------------


def _require_lifecycle(target):
    if not target.backend.lifecycle:
        raise TargetActionError(f"{target.kind_label} targets cannot be stopped or started.")


def _load(target_id, state):
    """The target if it is (still) in the state the task was queued for."""
    target = ComputeTarget.objects.filter(pk=target_id).first()
    if target is None or target.state != state:
        log.info("Target %s is no longer %s; nothing to do", target_id, state)
        return None
    return target


def _progress(target):
    def progress(step: str):
        target.activity = step
        _save_quietly(target, ["activity"])
        push_target(target)

    return progress


def _save_quietly(target, fields):
    try:
        target.save(update_fields=[*fields, "updated_at"])
    except DatabaseError:
        log.info("Target %s vanished during its task", target.pk)


def _queue(task_name: str, target) -> None:
    from . import tasks

    task = getattr(tasks, task_name)
    transaction.on_commit(lambda: task.delay(target.pk))
