"""A sweep's state machine. ``sweep_advance`` is the one step: under the
Sweep row's lock it reads the children (the trials), stops the ones the
policy rejects, starts as many new ones as the budget and the concurrency
allow, and ends the sweep when nothing is left to do. It runs on events (a
child ends, new metrics for a child) and on a beat tick as the fallback; it
holds no worker between steps, and everything it needs is in the database,
so any worker can take the next step after a restart."""

import logging
from datetime import timedelta

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from ..live import push_run
from ..models import TERMINAL, Metric, Run, RunStatus, Sweep, SweepState
from .policies import make_policy
from .sampling import Trial, make_sampler
from .space import parse_space

log = logging.getLogger(__name__)

ADVANCE_THROTTLE_SECONDS = 1  # metric events queue at most one advance per sweep per second

TRIAL_STATE = {
    RunStatus.COMPLETED: "done",
    RunStatus.FAILED: "failed",
    RunStatus.CANCELED: "failed",
    RunStatus.EARLY_STOPPED: "stopped",
}


def queue_advance(sweep_id: int, *, throttle: bool = False) -> None:
    """Queue a step for the sweep once the transaction commits. Throttled
    (metric events): the first event of a window queues one step to run at the
    window's end, which reads every metric stored by then; the window's other
    events add nothing. So a policy sees the last metrics within about
    ADVANCE_THROTTLE_SECONDS, even when no event follows them."""
    from ..tasks import advance_sweep

    if not throttle:
        transaction.on_commit(lambda: advance_sweep.delay(sweep_id))
    elif cache.add(f"sweep-advance-{sweep_id}", 1, timeout=ADVANCE_THROTTLE_SECONDS):
        transaction.on_commit(
            lambda: advance_sweep.apply_async((sweep_id,), countdown=ADVANCE_THROTTLE_SECONDS)
        )


def best_value(values, goal: str):
    if not values:
        return None
    return max(values) if goal == "maximize" else min(values)


def sweep_trials(sweep: Sweep, children=None) -> list[tuple[Run, Trial]]:
    """(child, Trial) for every child; a trial's value is its best primary metric."""
    children = list(sweep.run.children.all()) if children is None else children
    values: dict[int, list[float]] = {}
    for run_id, value in Metric.objects.filter(
        run__parent_id=sweep.pk, name=sweep.primary_metric
    ).values_list("run_id", "value"):
        values.setdefault(run_id, []).append(value)
    return [
        (
            child,
            Trial(
                params=child.trial_params or {},
                value=best_value(values.get(child.pk), sweep.goal),
                state=TRIAL_STATE.get(child.status, "running"),
            ),
        )
        for child in children
    ]


def _streams(sweep: Sweep) -> dict[str, list[tuple[int, float]]]:
    streams: dict[str, list[tuple[int, float]]] = {}
    for run_id, step, value in (
        Metric.objects.filter(run__parent_id=sweep.pk, name=sweep.primary_metric)
        .order_by("run_id", "step")
        .values_list("run_id", "step", "value")
    ):
        streams.setdefault(str(run_id), []).append((step, value))
    return streams


def sweep_advance(sweep_id: int) -> None:
    """One step of the sweep; safe to run any number of times, concurrently."""
    from .. import services

    with transaction.atomic():
        sweep = (
            Sweep.objects.select_for_update(of=("self",)).select_related("run").filter(pk=sweep_id).first()
        )
        if sweep is None or sweep.is_finished:
            return
        parent = sweep.run
        children = list(Run.objects.filter(parent=parent).order_by("pk"))
        active = [c for c in children if c.status not in TERMINAL]

        if sweep.cancel_requested_at:
            for child in active:
                if child.can_cancel:
                    services.run_cancel(run=child)
            active = Run.objects.filter(parent=parent).exclude(
                status__in=TERMINAL
            )  # the unstarted end at once
            if not active.exists():
                _finish(sweep, SweepState.CANCELED, "Canceled: every child run was canceled.")
            _push(sweep)
            return

        if sweep.max_duration_minutes and timezone.now() >= sweep.created_at + timedelta(
            minutes=sweep.max_duration_minutes
        ):
            for child in active:
                if child.can_cancel:
                    services.run_cancel(run=child)
            if not active:
                _finish(sweep, SweepState.COMPLETED, f"Its {sweep.max_duration_minutes} minutes were up.")
            elif not sweep.note:
                sweep.note = (
                    f"Its {sweep.max_duration_minutes} minutes are up: canceling the running children."
                )
                sweep.save(update_fields=["note"])
            _push(sweep)
            return

        # Early termination, on every primary-metric stream so far.
        policy = make_policy(sweep.policy, **(sweep.policy_options or {}))
        finished = {
            str(c.pk) for c in children if c.status in TERMINAL or c.status == RunStatus.CANCEL_REQUESTED
        }
        for child_id, reason in policy.evaluate(_streams(sweep), sweep.goal, finished).items():
            child = next((c for c in active if str(c.pk) == str(child_id)), None)
            if child is not None and child.can_cancel:
                services.run_stop_early(run=child, reason=reason)

        # New trials, within the budget and the concurrency.
        room = min(sweep.max_concurrent_runs - len(active), sweep.max_total_runs - len(children))
        exhausted = False
        if room > 0:
            space = parse_space(sweep.space)
            sampler = make_sampler(sweep.sampling, space, seed=sweep.seed, goal=sweep.goal)
            trials = [trial for _, trial in sweep_trials(sweep, children)]
            if sweep.warm_start_from_id:
                trials = warm_trials(sweep.warm_start_from) + trials
            suggested = sampler.suggest(room, trials)[:room]
            exhausted = len(suggested) < room
            for params in suggested:
                try:
                    services.run_submit(
                        workspace=parent.workspace,
                        user=parent.created_by,
                        experiment_name=parent.experiment.name,
                        target=parent.target,
                        snapshot=parent.snapshot,
                        script=parent.script,
                        arguments=[*parent.arguments, *space.arguments(params)],
                        environment=parent.environment,
                        parent=parent,
                        trial_params=params,
                    )
                except services.RunError as exc:
                    for child in active:
                        if child.can_cancel:
                            services.run_cancel(run=child)
                    _finish(sweep, SweepState.FAILED, f"A child run could not be submitted: {exc}")
                    _push(sweep)
                    return
                children.append(None)
                active.append(None)
        if not active and (len(children) >= sweep.max_total_runs or exhausted):
            _finish(sweep, SweepState.COMPLETED, "" if not exhausted else "Every grid point was tried.")
        _push(sweep)


def warm_trials(earlier: Sweep) -> list[Trial]:
    """An earlier sweep's finished trials, for a sampler to learn from."""
    return [t for _, t in sweep_trials(earlier) if t.state in ("done", "stopped") and t.value is not None]


def _finish(sweep: Sweep, state: str, note: str) -> None:
    now = timezone.now()
    sweep.state, sweep.ended_at = state, now
    sweep.note = note or sweep.note
    sweep.save(update_fields=["state", "ended_at", "note"])
    parent = sweep.run
    parent.status = {
        SweepState.COMPLETED: RunStatus.COMPLETED,
        SweepState.CANCELED: RunStatus.CANCELED,
        SweepState.FAILED: RunStatus.FAILED,
    }[state]
    parent.ended_at, parent.substep = now, ""
    parent.error = note if state != SweepState.COMPLETED else ""
    parent.save(update_fields=["status", "ended_at", "substep", "error"])
    push_run(parent)


def _push(sweep: Sweep) -> None:
    from .live import push_sweep

    push_sweep(sweep.pk)


def sweep_cancel(*, sweep_id: int, user=None) -> None:
    """Cancel the sweep: every child is canceled; it ends once they have."""
    from ..services import RunError

    with transaction.atomic():
        sweep = Sweep.objects.select_for_update(of=("self",)).select_related("run").get(pk=sweep_id)
        if sweep.is_finished or sweep.cancel_requested_at:
            raise RunError(f"The sweep is {sweep.get_state_display().lower()}: there is nothing to cancel.")
        sweep.cancel_requested_at = timezone.now()
        sweep.save(update_fields=["cancel_requested_at"])
        parent = sweep.run
        parent.substep = f"Canceling the children{f' (by {user})' if user else ''}"
        parent.save(update_fields=["substep"])
        push_run(parent)
    sweep_advance(sweep_id)


def advance_running() -> int:
    """The beat's fallback: a step for every running sweep. Returns how many."""
    ids = list(Sweep.objects.filter(state=SweepState.RUNNING).values_list("pk", flat=True))
    for sweep_id in ids:
        try:
            sweep_advance(sweep_id)
        except Exception:  # one broken sweep must not stop the others' steps
            log.exception("Sweep %s: the step failed", sweep_id)
    return len(ids)
