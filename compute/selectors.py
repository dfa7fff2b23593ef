from django.db.models import OuterRef, Subquery
from django.http import Http404

from .models import ComputeTarget, TargetEvent


def target_list(*, workspace, kind: str = "", state: str = ""):
    targets = ComputeTarget.objects.filter(workspace=workspace)
    if kind:
        targets = targets.filter(kind=kind)
    if state:
        targets = targets.filter(state=state)
    return targets


def target_get(*, workspace, name: str) -> ComputeTarget:
    """The workspace's target, or 404: another workspace's name is not found."""
    target = ComputeTarget.objects.filter(workspace=workspace, name=name).first()
    if target is None:
        raise Http404(f"No compute target “{name}” in {workspace}.")
    return target


def with_state_reason(targets):
    """Each target with ``state_reason``: the reason its latest event recorded."""
    latest = TargetEvent.objects.filter(target=OuterRef("pk")).order_by("-at", "-pk").values("reason")[:1]
    return targets.annotate(state_reason=Subquery(latest))


def target_events(*, target, limit: int = 50):
    return target.events.select_related("actor")[:limit]


# The activities of a check that is queued on the ``targets`` queue and not started yet.
QUEUED_CHECK = ("Queued", "Queued for a check")


def check_wait(target: ComputeTarget) -> str:
    """What a queued check waits for: a free worker on the targets queue, and
    how many checks were queued before it (across workspaces: the queue is shared)."""
    if target.activity not in QUEUED_CHECK:
        return ""
    ahead = (
        ComputeTarget.objects.filter(activity__in=QUEUED_CHECK, updated_at__lt=target.updated_at)
        .exclude(pk=target.pk)
        .count()
    )
    behind = f"; {ahead} check{'s' if ahead != 1 else ''} queued before it" if ahead else ""
    return f"Waiting for a free worker on the targets queue{behind}."
