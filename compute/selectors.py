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
