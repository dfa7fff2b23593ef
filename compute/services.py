"""Everything that changes a compute target goes through here."""

import logging

from django.db import DatabaseError, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from portal import crypto
from portal.models import Membership, Role, Workspace

from . import hostkeys, package_index
from .backends import get_backend
from .backends.base import BackendError, HostKeyChanged, HostKeyUnconfirmed
from .live import push_target
from .models import BUSY_STATES, ComputeTarget, NodeSize, Origin, TargetEvent, TargetState

log = logging.getLogger(__name__)

LOCAL_TARGET_NAME = "local"
# A check never runs into these: the lifecycle task owns the target.
LIFECYCLE_STATES = (TargetState.DELETING, TargetState.STOPPING, TargetState.STOPPED, TargetState.STARTING)


class TargetActionError(Exception):
    """A request the target's state does not allow; the message says why."""


def ensure_local_target(*, workspace) -> ComputeTarget:
    """The workspace's local computer; only for a workspace granted it (see local_grant.py)."""
    target, created = ComputeTarget.objects.get_or_create(
        workspace=workspace,
        kind="local",
        defaults={"name": LOCAL_TARGET_NAME, "origin": Origin.ATTACHED, "state": TargetState.ATTACHING},
    )
    if created:
        TargetEvent.objects.create(
            target=target, state=target.state, reason="Granted to this workspace by a superuser."
        )
        _queue_check(target)
    return target


@sensitive_variables("secrets")
def target_add(
    *, workspace, user, kind: str, name: str, config: dict, secrets: dict | None = None, host_key: str = ""
) -> ComputeTarget:
    """Add a target from its kind's cleaned form: created or attached, as the kind says."""
    if get_backend(kind).creates(config):
        from .lifecycle import target_create

        return target_create(
            workspace=workspace, user=user, kind=kind, name=name, config=config, secrets=secrets
        )
    return target_attach(
        workspace=workspace,
        user=user,
        kind=kind,
        name=name,
        config=config,
        secrets=secrets or {},
        host_key=host_key,
    )


def require_may_add(*, workspace, user, kind: str, config: dict, secrets: dict) -> None:
    """Refuse what this user may not add here; the message says why."""
    backend = get_backend(kind)
    unknown = set(secrets) - set(backend.secret_fields)
    if unknown:
        raise ValueError(f"{kind} has no secret fields {sorted(unknown)}")
    reason = backend.owner_only_reason(config)
    if reason and not Membership.objects.filter(workspace=workspace, user=user, role=Role.OWNER).exists():
        raise TargetActionError(reason)


@sensitive_variables("secrets")
def encrypt_secrets(secrets: dict) -> dict:
    return {field: crypto.encrypt(value) for field, value in secrets.items() if value}


@sensitive_variables("secrets")
def target_attach(
    *, workspace, user, kind: str, name: str, config: dict, secrets: dict, host_key: str = ""
) -> ComputeTarget:
    require_may_add(workspace=workspace, user=user, kind=kind, config=config, secrets=secrets)
    with transaction.atomic():
        target = ComputeTarget.objects.create(
            workspace=workspace,
            name=name,
            kind=kind,
            origin=Origin.ATTACHED,
            state=TargetState.ATTACHING,
            activity="Queued",
            config=config,
            encrypted_secrets=encrypt_secrets(secrets),
            host_key=host_key,
            created_by=user,
        )
        reason = "Attach requested" + (" with a host key pinned up front." if host_key else ".")
        TargetEvent.objects.create(target=target, state=target.state, reason=reason, actor=user)
        _queue_check(target)
    return target


def target_request_check(*, target: ComputeTarget, user=None) -> None:
    if target.is_busy:
        raise TargetActionError(f"{target.name} is busy ({target.activity or target.state}).")
    if target.state == TargetState.HOST_KEY_PENDING:
        raise TargetActionError("Confirm or reject the host key first.")
    if target.state == TargetState.STOPPED:
        raise TargetActionError(f"{target.name} is stopped: start it to check it.")
    target.activity = "Queued for a check"
    target.save(update_fields=["activity", "updated_at"])
    push_target(target)
    _queue_check(target)


def target_check(*, target_id: int) -> None:
    """Connect to the target, run the preflight and record the outcome.

    Each step is saved and pushed live. Runs in a Celery task."""
    target = ComputeTarget.objects.filter(pk=target_id).first()
    if target is None or target.state in LIFECYCLE_STATES:
        return
    if target.state == TargetState.HOST_KEY_PENDING:
        return  # nothing connects until a person confirms the key

    def progress(step: str):
        target.activity = step
        target.save(update_fields=["activity", "updated_at"])
        push_target(target)

    try:
        _run_check(target, progress)
    except DatabaseError:
        # update_fields never re-inserts: the target was detached mid-check.
        log.info("Target %s was detached during its check", target_id)


def _run_check(target, progress):
    """Check and record the outcome, unless a stop or delete took the target meanwhile."""
    try:
        capabilities = target.backend.check(progress)
    except HostKeyUnconfirmed as exc:
        target.pending_host_key = exc.key
        _transition(
            target,
            TargetState.HOST_KEY_PENDING,
            f"The host presented {hostkeys.fingerprint(exc.key)}. Confirm it to continue.",
        )
    except HostKeyChanged as exc:
        target.pending_host_key = exc.key
        _transition(target, TargetState.FAILED, exc.message)
    except crypto.SecretUnreadable as exc:
        _transition(target, TargetState.FAILED, str(exc))
    except BackendError as exc:
        # A target that worked before and now fails for a passing reason
        # (timeout, refused) is Unreachable; anything else is Failed.
        was_up = target.state in (TargetState.SUCCEEDED, TargetState.UNREACHABLE)
        state = TargetState.UNREACHABLE if was_up and not exc.permanent else TargetState.FAILED
        _transition(target, state, exc.message)
    except Exception as exc:
        log.exception("Check of target %s failed unexpectedly", target.pk)
        _transition(target, TargetState.FAILED, f"Unexpected error during the check: {type(exc).__name__}.")
    else:
        if _taken_by_lifecycle(target):
            return
        target.capabilities = capabilities
        summary = target.backend.summary(capabilities) or _summary(capabilities)
        _transition(target, TargetState.SUCCEEDED, summary)


def _taken_by_lifecycle(target) -> bool:
    current = ComputeTarget.objects.filter(pk=target.pk).values_list("state", flat=True).first()
    return current is None or (current in LIFECYCLE_STATES and current != target.state)


def host_key_role(target: ComputeTarget) -> str:
    """The role that may confirm or reject the key a host presented: re-pinning a
    changed key is for owners only (someone may be in the middle)."""
    return Role.OWNER if target.host_key else Role.CONTRIBUTOR


def target_confirm_host_key(*, target: ComputeTarget, user, fingerprint: str) -> None:
    """Pin the key the host presented, as the person saw it. Re-pinning a
    changed key is for owners only (callers check ``host_key_role``)."""
    if not target.pending_host_key:
        raise TargetActionError("There is no host key waiting for confirmation.")
    presented = hostkeys.fingerprint(target.pending_host_key)
    if fingerprint != presented:
        raise TargetActionError(
            "The host key changed while you were looking at it; check the new fingerprint."
        )
    old = target.host_key
    target.host_key, target.pending_host_key = target.pending_host_key, ""
    target.activity = "Queued"
    reason = (
        f"Host key re-pinned: {hostkeys.fingerprint(old)} → {presented}."
        if old
        else f"Host key {presented} confirmed and pinned."
    )
    _transition(target, TargetState.ATTACHING, reason, actor=user)
    _queue_check(target)


def target_reject_host_key(*, target: ComputeTarget, user) -> None:
    if not target.pending_host_key:
        raise TargetActionError("There is no host key waiting for confirmation.")
    rejected = hostkeys.fingerprint(target.pending_host_key)
    target.pending_host_key = ""
    _transition(
        target, TargetState.FAILED, f"Host key {rejected} rejected; nothing was sent to the host.", actor=user
    )


@sensitive_variables("value")
def target_set_secret(*, target: ComputeTarget, user, field: str, value: str) -> None:
    backend = target.backend
    if field not in backend.secret_fields:
        raise TargetActionError(f"{target.kind_label} targets have no “{field}”.")
    try:
        backend.validate_secret(field, value)
    except BackendError as exc:
        raise TargetActionError(exc.message) from None
    replaced = backend.secrets_replaced_by(field)
    kept = {k: v for k, v in target.encrypted_secrets.items() if k not in replaced}
    target.encrypted_secrets = {**kept, field: crypto.encrypt(value)}
    label = target.backend.secret_fields[field]
    if not _may_check_now(target):
        _save_secrets(target, user, f"{label} replaced.")
        return
    # A new credential is worth knowing about now, not at the next run: check with it at once.
    with transaction.atomic():
        target.activity = "Queued for a check"
        target.save(update_fields=["activity"])
        _save_secrets(target, user, f"{label} replaced, re-checking.")
        _queue_check(target)


def _may_check_now(target: ComputeTarget) -> bool:
    """Whether a check may be queued now (target_request_check's rules, without the refusal)."""
    return not target.is_busy and target.state not in (*LIFECYCLE_STATES, TargetState.HOST_KEY_PENDING)


def target_clear_secret(*, target: ComputeTarget, user, field: str) -> None:
    label = target.backend.secret_fields.get(field, field)
    if field not in target.encrypted_secrets:
        raise TargetActionError(f"No {label.lower()} is set.")
    target.encrypted_secrets = {k: v for k, v in target.encrypted_secrets.items() if k != field}
    _save_secrets(target, user, f"{label} cleared.")


def _save_secrets(target, user, reason):
    target.save(update_fields=["encrypted_secrets", "updated_at"])
    TargetEvent.objects.create(target=target, state=target.state, reason=reason, actor=user)
    push_target(target)


def target_detach(*, target: ComputeTarget, user) -> None:
    refusal = target.backend.detach_refusal()
    if refusal:
        raise TargetActionError(refusal)
    if target.origin == Origin.CREATED:
        raise TargetActionError(f"{target.name} was created here: delete it instead.")
    from runs.models import UNFINISHED

    active = target.runs.filter(status__in=UNFINISHED).count()
    if active:
        raise TargetActionError(
            f"{target.name} has {active} unfinished run(s): cancel them or let them end first."
        )
    log.info("Target %s detached by %s", target.pk, user)
    target.delete()


def rotate_secret_keys() -> int:
    """Re-encrypt every stored secret with the first configured key."""
    count = 0
    with transaction.atomic():
        for target in ComputeTarget.objects.select_for_update().exclude(encrypted_secrets={}):
            target.encrypted_secrets = {k: crypto.rotate(v) for k, v in target.encrypted_secrets.items()}
            target.save(update_fields=["encrypted_secrets"])
            count += len(target.encrypted_secrets)
        for owner in [
            *Workspace.objects.select_for_update().exclude(package_index={}),
            *ComputeTarget.objects.select_for_update().exclude(package_index={}),
        ]:
            count += package_index.rotate(owner)
    return count


def _transition(target: ComputeTarget, state: str, reason: str, *, actor=None) -> None:
    changed = state != target.state or reason != target.last_error
    target.state = state
    if state not in BUSY_STATES:
        target.activity = ""
    shown = (TargetState.FAILED, TargetState.UNREACHABLE, TargetState.HOST_KEY_PENDING)
    target.last_error = reason if state in shown else ""
    if state in (TargetState.SUCCEEDED, TargetState.FAILED, TargetState.UNREACHABLE):
        target.last_checked = timezone.now()
    target.save(
        update_fields=[
            "state",
            "activity",
            "last_error",
            "last_checked",
            "host_key",
            "pending_host_key",
            "capabilities",
            "updated_at",
        ]
    )
    if changed:
        TargetEvent.objects.create(target=target, state=state, reason=reason, actor=actor)
    push_target(target)


def _summary(caps: dict) -> str:
    parts = [f"{caps.get('cpus') or '?'} CPUs", f"{(caps.get('memory_mb') or 0) / 1024:.1f} GB memory"]
    if caps.get("gpus"):
        parts.append(f"{len(caps['gpus'])} × {caps['gpus'][0]['name']}")
    parts.append("Python " + ", ".join(p["version"] for p in caps.get("pythons", [])[:3]))
    return "Check passed: " + ", ".join(parts) + "."


def _queue_check(target: ComputeTarget) -> None:
    from .tasks import check_target

    transaction.on_commit(lambda: check_target.delay(target.pk))


# ---- clusters -------------------------------------------------------------------------------

NODE_LIMITS = ("min_nodes", "max_nodes", "idle_seconds")


def cluster_resize(*, target: ComputeTarget, user, min_nodes: int, max_nodes: int, idle_seconds: int) -> None:
    """Change a created cluster's node limits while it runs: checked here, applied by
    a task (the backend's resize(): slurm.conf rewritten, slurmctld told), and saved
    in the config once applied. TargetActionError, changing nothing, when they are
    wrong or the cluster cannot be resized now."""
    from .backends.slurm_forms import node_limits_errors

    if not target.backend.can_resize():
        raise TargetActionError(
            f"{target.name} was not created here: its nodes are not the portal's to change."
        )
    if target.state != TargetState.SUCCEEDED or target.activity:
        raise TargetActionError(
            f"{target.name} cannot be resized now ({target.activity or target.state_label.lower()})."
        )
    limits = {"min_nodes": min_nodes, "max_nodes": max_nodes, "idle_seconds": idle_seconds}
    errors = node_limits_errors(**limits)
    if errors:
        raise TargetActionError(" ".join(errors.values()))
    if {key: target.config.get(key) for key in NODE_LIMITS} == limits:
        raise TargetActionError(f"{target.name} already has these limits.")
    with transaction.atomic():
        target.activity = "Queued for a resize"
        target.save(update_fields=["activity", "updated_at"])
        TargetEvent.objects.create(
            target=target, state=target.state, reason=f"Resize requested: {_limits_text(limits)}.", actor=user
        )
        push_target(target)
        from .tasks import resize_cluster

        transaction.on_commit(lambda: resize_cluster.delay(target.pk, limits))


def cluster_resize_now(*, target_id: int, limits: dict) -> None:
    """The resize task: the backend applies ``limits`` to the running cluster; the
    config takes them once applied. A failure leaves the cluster, and its config, as they were."""
    target = ComputeTarget.objects.filter(pk=target_id).first()
    if target is None or target.state != TargetState.SUCCEEDED:
        return

    def progress(step: str):
        target.activity = step
        target.save(update_fields=["activity", "updated_at"])
        push_target(target)

    limits = {key: int(limits[key]) for key in NODE_LIMITS}
    try:
        target.backend.resize(progress, **limits)
    except BackendError as exc:
        reason = f"Resize failed: {exc.message} The cluster keeps {_limits_text(target.config)}."
    except Exception as exc:
        log.exception("Resizing target %s failed unexpectedly", target_id)
        reason = f"Resize failed: unexpected {type(exc).__name__}. The cluster keeps {_limits_text(target.config)}."
    else:
        target.config = {**target.config, **limits}
        reason = f"Resized: {_limits_text(limits)}."
    target.activity = ""
    try:
        target.save(update_fields=["config", "activity", "updated_at"])
    except DatabaseError:
        log.info("Target %s vanished during its resize", target_id)
        return
    TargetEvent.objects.create(target=target, state=target.state, reason=reason)
    push_target(target)


def _limits_text(limits: dict) -> str:
    return f"{limits['min_nodes']} to {limits['max_nodes']} nodes, released after {limits['idle_seconds']} s idle"


# ---- node sizes ---------------------------------------------------------------------------------


def node_size_save(
    *,
    workspace,
    user,
    size: NodeSize | None = None,
    name: str,
    cpu_cores: float,
    memory_gb: float,
    gpus: int,
    hourly_price=None,
) -> NodeSize:
    """Add a workspace's own size, or change ``size`` (one of its own). Owners only:
    the views check the role; NodeSizeForm checks the values."""
    if size is None:
        size = NodeSize(workspace=workspace)
    elif size.workspace_id != workspace.pk:
        raise TargetActionError("Only the workspace's own sizes can be changed here.")
    else:
        stored = NodeSize.objects.get(pk=size.pk)  # ``size`` may hold the form's new values already
        users = _clusters_of_size(stored)
        limits_change = (stored.name, stored.cpu_cores, stored.memory_gb, stored.gpus) != (
            name,
            cpu_cores,
            memory_gb,
            gpus,
        )
        if users and limits_change:
            raise TargetActionError(
                f"{stored.name} is the node size of {', '.join(users)}: only its price can change. "
                "Add a new size instead."
            )
    size.name, size.cpu_cores, size.memory_gb, size.gpus = name, cpu_cores, memory_gb, gpus
    size.hourly_price = hourly_price
    size.save()
    log.info("Node size %s of workspace %s saved by %s", size.name, workspace.pk, user)
    return size


def node_size_delete(*, size, user) -> None:
    """Delete a workspace's own size, unless a cluster made here uses it."""
    if size.workspace_id is None:
        raise TargetActionError(f"{size.name} is installation-wide: an administrator changes it.")
    users = _clusters_of_size(size)
    if users:
        raise TargetActionError(f"{size.name} is the node size of {', '.join(users)}: delete those first.")
    log.info("Node size %s of workspace %s deleted by %s", size.name, size.workspace_id, user)
    size.delete()


def _clusters_of_size(size: NodeSize) -> list[str]:
    """The names of the clusters made here in ``size``."""
    return list(
        ComputeTarget.objects.filter(
            workspace_id=size.workspace_id, origin=Origin.CREATED, config__size=size.name
        ).values_list("name", flat=True)
    )
