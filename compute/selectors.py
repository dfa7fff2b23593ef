from django.shortcuts import get_object_or_404

from .models import ComputeTarget


def target_list(*, workspace, kind: str = "", state: str = ""):
    targets = ComputeTarget.objects.filter(workspace=workspace)
    if kind:
        targets = targets.filter(kind=kind)
    if state:
        targets = targets.filter(state=state)
    return targets


def target_get(*, workspace, name: str) -> ComputeTarget:
    """The workspace's target, or 404: another workspace's name is not found."""
    return get_object_or_404(ComputeTarget, workspace=workspace, name=name)


def target_events(*, target, limit: int = 50):
    return target.events.select_related("actor")[:limit]
