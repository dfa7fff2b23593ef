from celery import shared_task

from . import lifecycle, services
from .models import ComputeTarget, TargetState


@shared_task(ignore_result=True)
def check_target(target_id: int) -> None:
    services.target_check(target_id=target_id)


@shared_task(ignore_result=True)
def check_all_targets(include_attaching: bool = False) -> None:
    """Periodic (celery beat): keeps "last checked" fresh and finds unreachable
    targets. At start-up the embedded server also picks up attaches that were
    queued while no worker ran (``include_attaching``)."""
    states = [TargetState.SUCCEEDED, TargetState.UNREACHABLE]
    if include_attaching:
        states.append(TargetState.ATTACHING)
    checkable = ComputeTarget.objects.filter(state__in=states).values_list("pk", flat=True)
    for pk in checkable:
        check_target.delay(pk)


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
def stop_idle_targets() -> None:
    """Periodic (celery beat): idle shutdown of created VMs."""
    lifecycle.stop_idle_targets()


@shared_task(ignore_result=True)
def remove_expired_run_containers() -> None:
    """Periodic (celery beat): containers kept after failed runs go once their time is up."""
    lifecycle.remove_expired_run_containers()
