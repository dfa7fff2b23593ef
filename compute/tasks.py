from celery import shared_task

from . import clusters, lifecycle, pickup, services
from .backends import cluster_kinds
from .models import ComputeTarget, TargetState


@shared_task(ignore_result=True)
def check_target(target_id: int) -> None:
    services.target_check(target_id=target_id)


@shared_task(ignore_result=True)
def check_all_targets(include_attaching: bool = False) -> None:
    """Periodic (celery beat): keeps "last checked" fresh, finds unreachable
    targets and picks up stuck attaches. At start-up the embedded server also
    checks every attach queued while no worker ran (``include_attaching``)."""
    states = [TargetState.SUCCEEDED, TargetState.UNREACHABLE]
    if include_attaching:
        states.append(TargetState.ATTACHING)
    checkable = ComputeTarget.objects.filter(state__in=states).values_list("pk", flat=True)
    for pk in checkable:
        check_target.delay(pk)
    if not include_attaching:
        pickup.queue_stuck_attaches()


@shared_task(ignore_result=True)
def check_stuck_attaches() -> list[int]:
    """Periodic (celery beat, every 30 s): attaches whose check never started."""
    return pickup.queue_stuck_attaches()


@shared_task(ignore_result=True)
def provision_target(target_id: int) -> None:
    lifecycle.target_provision_now(target_id=target_id)


@shared_task(ignore_result=True)
def stop_target(target_id: int) -> None:
    lifecycle.target_stop_now(target_id=target_id)


@shared_task(ignore_result=True)
def start_target(target_id: int) -> None:
    lifecycle.target_start_now(target_id=target_id)


@shared_task(ignore_result=True)
def delete_target(target_id: int) -> None:
    lifecycle.target_delete_now(target_id=target_id)


@shared_task(ignore_result=True)
def resize_cluster(target_id: int, limits: dict) -> None:
    services.cluster_resize_now(target_id=target_id, limits=limits)


@shared_task(ignore_result=True)
def stop_idle_targets() -> list[str]:
    """Periodic (celery beat): idle shutdown of created VMs; the names stopped."""
    return lifecycle.stop_idle_targets()


@shared_task(ignore_result=True)
def remove_expired_run_containers() -> None:
    """Periodic (celery beat): containers kept after failed runs go once their time is up."""
    lifecycle.remove_expired_run_containers()


@shared_task(ignore_result=True)
def follow_clusters() -> None:
    """Periodic (celery beat, every few seconds): each running cluster's nodes and
    queue observed, created clusters' containers reconciled, one task per cluster."""
    for pk in ComputeTarget.objects.filter(kind__in=cluster_kinds(), state=TargetState.SUCCEEDED).values_list(
        "pk", flat=True
    ):
        follow_cluster.delay(pk)


@shared_task(ignore_result=True)
def follow_cluster(target_id: int) -> None:
    target = ComputeTarget.objects.filter(pk=target_id, state=TargetState.SUCCEEDED).first()
    if target is not None:
        clusters.follow(target)
