"""The sweep state machine against the database, with no worker: each test
takes the steps itself and plays the children's part by writing their rows."""

import threading

import pytest
from django.db import connection
from django.utils import timezone

from runs.models import Metric, Run, RunLogChunk, RunStatus, Sweep, SweepState
from runs.sweeps import orchestrator


@pytest.fixture(autouse=True)
def no_queueing(monkeypatch):
    """Nothing reaches a worker: the tests take the steps by hand."""
    monkeypatch.setattr("runs.tasks.prepare_run.delay", lambda run_id: None)
    monkeypatch.setattr("runs.tasks.advance_sweep.delay", lambda sweep_id: None)


def children(parent):
    return list(Run.objects.filter(parent=parent).order_by("pk"))


def finish(child, status=RunStatus.COMPLETED, values=()):
    for step, value in enumerate(values):
        Metric.objects.create(run=child, name="accuracy", step=step, value=value, time=timezone.now())
    Run.objects.filter(pk=child.pk).update(status=status, ended_at=timezone.now())


def start(child):
    Run.objects.filter(pk=child.pk).update(
        status=RunStatus.RUNNING, handle={"pid": 1}, running_at=timezone.now()
    )


def test_first_step_starts_max_concurrent_children(make_sweep):
    parent = make_sweep()
    orchestrator.sweep_advance(parent.pk)
    kids = children(parent)
    assert len(kids) == 2
    assert all(k.status == RunStatus.QUEUED for k in kids)
    assert kids[0].snapshot_id == parent.snapshot_id and kids[0].target_id == parent.target_id
    assert kids[0].arguments == [
        "--alpha",
        str(kids[0].trial_params["--alpha"]),
        "--kernel",
        kids[0].trial_params["--kernel"],
    ]
    orchestrator.sweep_advance(parent.pk)  # nothing ended: nothing new
    assert len(children(parent)) == 2


def test_budget_then_completed_with_best(make_sweep):
    parent = make_sweep(max_total_runs=5, max_concurrent_runs=2)
    seen = []
    for _ in range(10):
        orchestrator.sweep_advance(parent.pk)
        for child in children(parent):
            if child.status == RunStatus.QUEUED:
                finish(child, values=[0.1 * child.pk])
                seen.append(child.pk)
    kids = children(parent)
    assert len(kids) == 5
    assert len({tuple(sorted(k.trial_params.items())) for k in kids}) == 5  # no duplicate trial
    sweep = Sweep.objects.get(pk=parent.pk)
    assert sweep.state == SweepState.COMPLETED
    assert Run.objects.get(pk=parent.pk).status == RunStatus.COMPLETED
    from runs.sweeps.selectors import sweep_summary

    assert sweep_summary(sweep)["best"]["id"] == max(seen)


def test_grid_exhausted_completes_below_budget(make_sweep):
    space = {"--a": {"type": "choice", "values": [1, 2]}}
    parent = make_sweep(space=space, max_total_runs=10, max_concurrent_runs=5)
    orchestrator.sweep_advance(parent.pk)
    assert len(children(parent)) == 2
    for child in children(parent):
        finish(child, values=[0.5])
    orchestrator.sweep_advance(parent.pk)
    sweep = Sweep.objects.get(pk=parent.pk)
    assert sweep.state == SweepState.COMPLETED and "grid" in sweep.note


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_never_pass_max_concurrent(make_sweep):
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    parent = make_sweep(
        max_total_runs=12,
        max_concurrent_runs=3,
        sampling="random",
        seed=7,
        space={"--a": {"type": "uniform", "low": 0, "high": 1}},
    )
    barrier = threading.Barrier(4)
    errors = []

    def step():
        try:
            barrier.wait()
            orchestrator.sweep_advance(parent.pk)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=step) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(children(parent)) == 3


def test_policy_stops_a_child_with_reason_and_status(make_sweep):
    parent = make_sweep(policy="bandit", policy_options={"slack_factor": 0.1, "evaluation_interval": 1})
    orchestrator.sweep_advance(parent.pk)
    good, bad = children(parent)
    start(good)
    start(bad)
    for step in range(3):
        Metric.objects.create(run=good, name="accuracy", step=step, value=0.9, time=timezone.now())
        Metric.objects.create(run=bad, name="accuracy", step=step, value=0.3, time=timezone.now())
    orchestrator.sweep_advance(parent.pk)
    bad.refresh_from_db()
    good.refresh_from_db()
    assert good.status == RunStatus.RUNNING
    assert bad.status == RunStatus.CANCEL_REQUESTED
    assert bad.stop_reason == "Stopped by the bandit policy at step 0: 0.3 < best 0.9 / (1 + 0.1)"
    log = "".join(RunLogChunk.objects.filter(run=bad, stream="system").values_list("text", flat=True))
    assert "Stopped by the bandit policy" in log
    # The monitor kills it and ends it as a cancel: the stop reason makes it EarlyStopped.
    from runs.lease import finish_run

    Run.objects.filter(pk=bad.pk).update(lease_owner="me")
    finish_run(bad, "me", RunStatus.CANCELED, error="Canceled: the process tree was killed.")
    bad.refresh_from_db()
    assert bad.status == RunStatus.EARLY_STOPPED
    assert bad.get_status_display() == "Stopped early"
    assert bad.error.startswith("Stopped by the bandit policy")


def test_cancel_sweep_cancels_every_child(make_sweep):
    from runs import services

    parent = make_sweep(max_concurrent_runs=3)
    orchestrator.sweep_advance(parent.pk)
    first, *rest = children(parent)
    start(first)
    services.run_cancel(run=Run.objects.get(pk=parent.pk), user=None)
    statuses = {k.pk: k.status for k in children(parent)}
    assert statuses[first.pk] == RunStatus.CANCEL_REQUESTED
    assert all(statuses[k.pk] == RunStatus.CANCELED for k in rest)
    assert Sweep.objects.get(pk=parent.pk).state == SweepState.RUNNING  # until the last child ends
    finish(first, RunStatus.CANCELED)
    orchestrator.sweep_advance(parent.pk)
    assert Sweep.objects.get(pk=parent.pk).state == SweepState.CANCELED
    assert Run.objects.get(pk=parent.pk).status == RunStatus.CANCELED
    assert len(children(parent)) == 3  # none started after the cancel


def test_restart_continues_without_duplicates(make_sweep):
    """A worker dies mid-sweep: the next step, on any worker, starts from the
    database alone and the sweep ends with exactly max total runs."""
    parent = make_sweep(
        sampling="random",
        seed=3,
        max_total_runs=8,
        max_concurrent_runs=3,
        space={"--a": {"type": "uniform", "low": 0, "high": 1}},
    )
    orchestrator.sweep_advance(parent.pk)
    for child in children(parent)[:2]:
        finish(child, values=[0.4])
    # "restart": nothing is kept in memory between steps, so a fresh step is all it takes
    for _ in range(10):
        orchestrator.sweep_advance(parent.pk)
        for child in children(parent):
            if child.status == RunStatus.QUEUED:
                finish(child, values=[0.5])
    kids = children(parent)
    assert len(kids) == 8
    assert len({k.trial_params["--a"] for k in kids}) == 8
    assert Sweep.objects.get(pk=parent.pk).state == SweepState.COMPLETED


def test_max_duration_cancels_the_rest(make_sweep):
    parent = make_sweep(max_duration_minutes=1)
    orchestrator.sweep_advance(parent.pk)
    Sweep.objects.filter(pk=parent.pk).update(created_at=timezone.now() - timezone.timedelta(minutes=2))
    orchestrator.sweep_advance(parent.pk)
    assert all(k.status == RunStatus.CANCELED for k in children(parent))
    orchestrator.sweep_advance(parent.pk)
    sweep = Sweep.objects.get(pk=parent.pk)
    assert sweep.state == SweepState.COMPLETED and "minutes" in sweep.note


def test_warm_start_hands_the_earlier_trials_to_the_sampler(make_sweep, monkeypatch):
    earlier = make_sweep(max_total_runs=2)
    orchestrator.sweep_advance(earlier.pk)
    for child in children(earlier):
        finish(child, values=[0.7])
    orchestrator.sweep_advance(earlier.pk)
    parent = make_sweep(max_total_runs=2, warm_start_from=Sweep.objects.get(pk=earlier.pk))
    orchestrator.sweep_advance(parent.pk)
    earlier_params = [k.trial_params for k in children(earlier)]
    # grid sampling skips the points the earlier sweep tried
    assert all(k.trial_params not in earlier_params for k in children(parent))


def test_finish_run_queues_a_step(make_sweep, monkeypatch, django_capture_on_commit_callbacks):
    from runs.lease import finish_run

    queued = []
    monkeypatch.setattr("runs.tasks.advance_sweep.delay", queued.append)
    parent = make_sweep()
    orchestrator.sweep_advance(parent.pk)
    child = children(parent)[0]
    Run.objects.filter(pk=child.pk).update(lease_owner="me", status=RunStatus.RUNNING)
    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        finish_run(child, "me", RunStatus.COMPLETED, exit_code=0)
    assert queued == [parent.pk]


def test_metric_events_queue_one_step_at_the_window_end(db, monkeypatch, django_capture_on_commit_callbacks):
    from django.core.cache import cache

    delayed = []
    monkeypatch.setattr(
        "runs.tasks.advance_sweep.apply_async", lambda args, countdown: delayed.append((args, countdown))
    )
    cache.delete("sweep-advance-4242")
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(5):
            orchestrator.queue_advance(4242, throttle=True)
    # one step, after the window: it reads the metrics of every event it stands for
    assert delayed == [((4242,), orchestrator.ADVANCE_THROTTLE_SECONDS)]
    cache.delete("sweep-advance-4242")
