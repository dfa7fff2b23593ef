"""What a run that has not started yet is waiting for, in a sentence for its page and the API."""

from .models import Run, RunStatus


def queue_position(run: Run) -> tuple[int, int]:
    """(position, count) of the run among its target's queued runs, first queued first."""
    queued = Run.objects.filter(target_id=run.target_id, status=RunStatus.QUEUED)
    ahead = queued.filter(queued_at__lt=run.queued_at).count() if run.queued_at else 0
    return ahead + 1, max(queued.count(), ahead + 1)


def environment_builder(run: Run) -> Run | None:
    """The run on the same target that began building the same environment
    before this one: the target lets one build per environment run at a time
    (runner.py's lock), so this one waits for it, then reuses what it built."""
    env = run.environment or {}
    if env.get("kind") not in ("pip", "conda") or not run.preparing_at:
        return None
    return (
        Run.objects.filter(
            target_id=run.target_id,
            environment__hash=env.get("hash"),
            status=RunStatus.PREPARING,
            substep="Building the environment",
            preparing_at__lt=run.preparing_at,
        )
        .exclude(pk=run.pk)
        .order_by("preparing_at")
        .first()
    )


def waiting_for(run: Run) -> str:
    """Empty once the run is under way on its own."""
    if run.status == RunStatus.QUEUED and run.target is not None:
        reason = run.target.backend.queue_reason(run)
        if reason:
            return reason
        position, count = queue_position(run)
        return (
            f"Waiting for a free worker slot: {_ordinal(position)} of {count} queued "
            f"run{'s' if count != 1 else ''} on {run.target.name}."
        )
    if run.status == RunStatus.PREPARING and run.substep == "Building the environment":
        builder = environment_builder(run)
        if builder is not None:
            return f"Waiting for run {builder.pk}, which is building the same environment; then reusing it."
    return ""


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
