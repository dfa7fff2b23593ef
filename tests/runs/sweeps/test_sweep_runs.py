"""Sweeps end to end: real children run by the real Celery worker on real
targets, a scikit-learn script in a pip environment of the run's own."""

from pathlib import Path

import pytest

from runs import services
from runs.models import TERMINAL, Metric, Run, RunStatus, Sweep, SweepState
from runs.sweeps.selectors import sweep_summary
from runs.sweeps.services import sweep_submit
from tests.conftest import wait_for

from ..test_execution import finished, text_of

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SGD = Path(__file__).parent / "scripts" / "sgd" / "train.py"
# scikit-learn goes into the run's environment, never the portal's.
SKLEARN = {"kind": "pip", "requirements": "scikit-learn\n"}
SPACE = {
    "--alpha": {"type": "choice", "values": [0.0001, 0.01, 3, 10]},
    "--loss": {"type": "choice", "values": ["hinge", "log_loss", "modified_huber"]},
}
SLEEPER = "import sys, time\nfor i in range(400):\n    print(i, flush=True)\n    time.sleep(0.1)\n"


@pytest.fixture
def sweep(team, make_snapshot):
    """sweep(target, files, **overrides) -> a started sweep's parent run (as the contributor)."""

    def _sweep(target, files, **overrides):
        request = {
            "workspace": team.workspace,
            "user": team.contributor,
            "experiment_name": "sweep-e2e",
            "target": target,
            "snapshot": make_snapshot(files),
            "script": "train.py",
            "arguments": ["--steps", "8", "--pause", "0.3"],
            "environment": SKLEARN,
            "space": SPACE,
            "sampling": "grid",
            "primary_metric": "accuracy",
            "goal": "maximize",
            "max_total_runs": 12,
            "max_concurrent_runs": 3,
            "policy": "bandit",
            "policy_options": {"slack_factor": 0.15, "delay_evaluation": 2},
        }
        request.update(overrides)
        return sweep_submit(**request)

    return _sweep


def sweep_done(parent, timeout=240) -> Sweep:
    def done():
        sweep = Sweep.objects.select_related("run").get(pk=parent.pk)
        return sweep if sweep.is_finished else None

    return wait_for(done, timeout=timeout, interval=0.5, message=f"sweep {parent.pk} to end")


def most_at_once(children) -> int:
    """The most children running at one moment, from their running_at / ended_at."""
    events = []
    for child in children:
        if child.running_at:
            events += [(child.running_at, 1), (child.ended_at, -1)]
    events.sort(key=lambda e: (e[0], e[1]))  # an end before a start at the same instant
    most = active = 0
    for _, delta in events:
        active += delta
        most = max(most, active)
    return most


def best_by_metrics(children, goal="maximize"):
    best = {}
    for child in children:
        values = list(Metric.objects.filter(run=child, name="accuracy").values_list("value", flat=True))
        if values and child.status != RunStatus.FAILED:
            best[child.pk] = max(values) if goal == "maximize" else min(values)
    pick = max if goal == "maximize" else min
    return pick(best, key=best.get)


def check_grid_sweep(parent, *, concurrent=3, total=12):
    sweep = sweep_done(parent)
    children = list(Run.objects.filter(parent=parent).order_by("pk"))
    detail = [(c.pk, c.status, c.trial_params, c.error, c.stderr_tail[-300:]) for c in children]
    assert sweep.state == SweepState.COMPLETED, (sweep.note, detail)
    assert len(children) == total
    assert len({tuple(sorted(c.trial_params.items())) for c in children}) == total  # no duplicate
    assert all(c.status in (RunStatus.COMPLETED, RunStatus.EARLY_STOPPED) for c in children), detail
    assert all(c.ended_at for c in children)
    assert most_at_once(children) <= concurrent
    summary = sweep_summary(sweep)
    assert summary["best"]["id"] == best_by_metrics(children)
    stopped = [c for c in children if c.status == RunStatus.EARLY_STOPPED]
    assert stopped, detail
    for child in stopped:
        assert child.stop_reason.startswith("Stopped by the bandit policy at step ")
        assert child.stop_reason in text_of(child, "system")
    parent.refresh_from_db()
    assert parent.status == RunStatus.COMPLETED and parent.ended_at
    return sweep, children


def test_sklearn_sweep_on_the_local_target(worker, local_target, sweep):
    parent = sweep(local_target, {"train.py": SGD.read_text()})
    _, children = check_grid_sweep(parent)
    stopped = {
        (c.trial_params["--alpha"], c.trial_params["--loss"])
        for c in children
        if c.status == RunStatus.EARLY_STOPPED
    }
    # alpha=10 with the log loss stays under 0.2 while the best is over 0.9 by step 2
    assert (10, "log_loss") in stopped
    assert not any(alpha < 1 for alpha, _ in stopped)
    best = max(children, key=lambda c: max(Metric.objects.filter(run=c).values_list("value", flat=True)))
    assert best.trial_params["--alpha"] in (0.0001, 0.01)
    assert best.status == RunStatus.COMPLETED


def test_cancel_mid_sweep_cancels_everything(worker, local_target, sweep):
    parent = sweep(
        local_target,
        {"train.py": SLEEPER},
        environment={"kind": "user", "interpreter": "python3"},
        arguments=[],
        policy="none",
        policy_options={},
    )

    def three_running():
        kids = Run.objects.filter(parent=parent, status=RunStatus.RUNNING)
        return kids.count() == 3

    wait_for(three_running, timeout=60, interval=0.2, message="three children running")
    services.run_cancel(run=parent, user=None)
    sweep = sweep_done(parent, timeout=60)
    assert sweep.state == SweepState.CANCELED
    children = list(Run.objects.filter(parent=parent))
    assert len(children) == 3
    assert all(c.status == RunStatus.CANCELED for c in children), [(c.pk, c.status) for c in children]
    parent.refresh_from_db()
    assert parent.status == RunStatus.CANCELED
    assert Run.objects.filter(parent=parent).exclude(status__in=TERMINAL).count() == 0


def test_sklearn_sweep_on_the_ssh_vm(worker, ssh_target, sweep):
    from compute.models import TargetState

    target = ssh_target(state=TargetState.SUCCEEDED)
    space = {"--alpha": {"type": "choice", "values": [0.0001, 10]}, **{"--loss": SPACE["--loss"]}}
    parent = sweep(
        target, {"train.py": SGD.read_text()}, space=space, max_total_runs=6, max_concurrent_runs=2
    )
    sweep_row, children = check_grid_sweep(parent, concurrent=2, total=6)
    assert {c.target_id for c in children} == {target.pk}
    assert finished(children[0]).snapshot_id == parent.snapshot_id


QUICK = """
import argparse, time
from portal_run import Run
parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float)
parser.add_argument("--depth", type=int)
args = parser.parse_args()
run = Run.get_context()
for step in range(3):
    run.log("loss", (args.lr - 0.3) ** 2 + args.depth / 10 + 1 / (step + 1), step=step)
    time.sleep(0.2)
"""


def test_sweep_survives_its_events_being_lost(worker, local_target, sweep, monkeypatch):
    """The worker handling the sweep dies: every queued step is gone and no
    event comes while it is down. The beat's tick on a fresh worker (two at
    once, racing) takes the sweep on from the database alone."""
    import threading
    import time

    from portal.celery import app as celery_app
    from runs import tasks
    from runs.sweeps import orchestrator

    parent = sweep(
        local_target,
        {"train.py": QUICK},
        environment={"kind": "user", "interpreter": "python3"},
        arguments=[],
        space={
            "--lr": {"type": "uniform", "low": 0.0, "high": 1.0},
            "--depth": {"type": "choice", "values": [1, 2, 3]},
        },
        sampling="random",
        seed=7,
        primary_metric="loss",
        goal="minimize",
        policy="none",
        policy_options={},
        max_total_runs=10,
        max_concurrent_runs=3,
    )
    wait_for(
        lambda: Run.objects.filter(parent=parent, status=RunStatus.COMPLETED).count() >= 2,
        timeout=60,
        message="two children done",
    )
    # The worker dies: what it had queued is lost, and its steps stop.
    monkeypatch.setattr(tasks.advance_sweep, "delay", lambda sweep_id: None)
    celery_app.control.purge()
    wait_for(
        lambda: not Run.objects.filter(parent=parent).exclude(status__in=TERMINAL).exists(),
        timeout=60,
        message="the running children to end",
    )
    stalled = Run.objects.filter(parent=parent).count()
    assert stalled < 10 and not Sweep.objects.get(pk=parent.pk).is_finished
    monkeypatch.undo()

    # A fresh worker's beat ticks, two at once.
    while not Sweep.objects.get(pk=parent.pk).is_finished:
        ticks = [threading.Thread(target=orchestrator.advance_running) for _ in range(2)]
        for tick in ticks:
            tick.start()
        for tick in ticks:
            tick.join()
        assert Run.objects.filter(parent=parent).exclude(status__in=TERMINAL).count() <= 3
        time.sleep(0.5)
    sweep_row = Sweep.objects.get(pk=parent.pk)
    children = list(Run.objects.filter(parent=parent))
    assert sweep_row.state == SweepState.COMPLETED
    assert len(children) == 10
    assert len({tuple(sorted(c.trial_params.items())) for c in children}) == 10
    assert all(c.status == RunStatus.COMPLETED for c in children)
    assert most_at_once(children) <= 3
