from celery import shared_task
from celery.signals import worker_init, worker_shutdown

from . import executor, monitor_service
from .sweeps import orchestrator


@shared_task(ignore_result=True)
def prepare_run(run_id: int) -> None:
    """Upload, build and launch one run, then hand it to the monitor service."""
    monitor_service.ensure_started()
    executor.prepare(run_id)


@shared_task(ignore_result=True)
def execute_run(run_id: int) -> None:
    """The task's name before the monitor service (messages queued by an older version)."""
    prepare_run(run_id)


@shared_task(ignore_result=True)
def reap_runs() -> None:
    """Periodic (celery beat): queue the preparation again for runs whose task was lost."""
    executor.reap()


@worker_init.connect
def _start_monitor_service(**kwargs):
    monitor_service.ensure_started()


@worker_shutdown.connect
def _stop_monitor_service(**kwargs):
    monitor_service.stop()


@shared_task(ignore_result=True)
def advance_sweep(sweep_id: int) -> None:
    """One step of a sweep's state machine (runs.sweeps.orchestrator)."""
    orchestrator.sweep_advance(sweep_id)


@shared_task(ignore_result=True)
def advance_sweeps() -> None:
    """Periodic (celery beat): a step for every running sweep, should an event have been lost."""
    orchestrator.advance_running()
