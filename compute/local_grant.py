"""Granting the local computer to a workspace: a superuser's decision.

The local target runs code on the portal's own host, so no workspace has it
unless a superuser grants it (the admin, or ``manage.py grant_local_target``).
"""

import logging

from django.db import transaction

from portal.models import Workspace

from .models import ComputeTarget
from .services import LOCAL_TARGET_NAME, TargetActionError, ensure_local_target

log = logging.getLogger(__name__)


@transaction.atomic
def local_target_grant(*, workspace: Workspace) -> ComputeTarget:
    """Allow the local computer in the workspace and create it (its check is queued)."""
    taken = ComputeTarget.objects.filter(workspace=workspace, name=LOCAL_TARGET_NAME).exclude(kind="local")
    if taken.exists():
        raise TargetActionError(
            f"{workspace} already has a target named “{LOCAL_TARGET_NAME}”: rename or detach it first."
        )
    Workspace.objects.filter(pk=workspace.pk).update(local_target_allowed=True)
    workspace.local_target_allowed = True
    return ensure_local_target(workspace=workspace)


@transaction.atomic
def local_target_revoke(*, workspace: Workspace) -> None:
    """Take the local computer away; refused while a run on it is unfinished."""
    from runs.models import UNFINISHED

    workspace = Workspace.objects.select_for_update().get(pk=workspace.pk)
    target = ComputeTarget.objects.select_for_update().filter(workspace=workspace, kind="local").first()
    if target is not None:
        unfinished = target.runs.filter(status__in=UNFINISHED).count()
        if unfinished:
            raise TargetActionError(
                f"The local computer of {workspace} has {unfinished} unfinished run(s): "
                "cancel them or let them end, then revoke again."
            )
        target.delete()
    workspace.local_target_allowed = False
    workspace.save(update_fields=["local_target_allowed"])
    log.info("Local computer revoked in workspace %s", workspace.pk)
