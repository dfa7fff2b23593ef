"""The beat's cluster follow: one worker at a time per target."""

from django.core.cache import cache

from compute import clusters
from compute.backends import cluster_kinds
from compute.models import ComputeTarget, TargetState


def test_follow_skips_a_target_another_worker_holds(team):
    target = ComputeTarget.objects.create(
        workspace=team.workspace, name="c1", kind="ssh", state=TargetState.SUCCEEDED, config={}
    )
    lock = f"cluster-follow-{target.pk}"
    cache.add(lock, "1", 60)
    try:
        assert clusters.follow(target) is False
    finally:
        cache.delete(lock)
    assert clusters.follow(target) is True
    assert cache.get(lock) is None  # released afterwards


def test_only_kinds_with_nodes_are_followed():
    assert "ssh" not in cluster_kinds() and "docker-vm" not in cluster_kinds()
