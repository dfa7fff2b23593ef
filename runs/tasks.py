from celery import shared_task

from . import executor


@shared_task(ignore_result=True)
def execute_run(run_id: int) -> None:
    """Prepare, launch and monitor one run (returns at once if another monitor holds it)."""
    executor.execute(run_id)


@shared_task(ignore_result=True)
def reap_runs() -> None:
    """Periodic (celery beat): re-attach monitors to runs whose lease expired."""
    executor.reap()
