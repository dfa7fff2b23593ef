"""A sweep whose children run in a container instance on the podman engine:
the children are ordinary runs of the instance."""

import pytest

from compute import services
from runs.models import Run, RunStatus, SweepState
from runs.sweeps.services import sweep_submit
from tests.runs.conftest import folder_upload
from tests.runs.sweeps.test_sweep_runs import most_at_once, sweep_done

from .test_run_flow import instance

pytestmark = [pytest.mark.integration, pytest.mark.slow]

QUADRATIC = """
import argparse, time
from portal_run import Run
parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float)
args = parser.parse_args()
run = Run.get_context()
for step in range(4):
    run.log("loss", (args.x - 2) ** 2 + 1.0 / (step + 1), step=step)
    time.sleep(0.2)
"""


def test_sweep_in_a_container_instance(worker, team, engine_target):
    from runs import services as runs

    services.target_check(target_id=engine_target("engine1").pk)
    target = instance(team)
    parent = sweep_submit(
        workspace=team.workspace,
        user=team.contributor,
        experiment_name="sweep-ci",
        target=target,
        snapshot=runs.snapshot_create(workspace=team.workspace, files=folder_upload({"train.py": QUADRATIC})),
        script="train.py",
        arguments=[],
        environment={"kind": "user"},
        space={"--x": {"type": "choice", "values": [0, 1, 2, 3]}},
        sampling="grid",
        primary_metric="loss",
        goal="minimize",
        max_total_runs=4,
        max_concurrent_runs=2,
    )
    sweep = sweep_done(parent, timeout=150)
    children = list(Run.objects.filter(parent=parent))
    assert sweep.state == SweepState.COMPLETED, [(c.status, c.error) for c in children]
    assert len(children) == 4 and {c.target_id for c in children} == {target.pk}
    assert all(c.status == RunStatus.COMPLETED for c in children), [(c.status, c.error) for c in children]
    assert most_at_once(children) <= 2
    from runs.sweeps.selectors import sweep_summary

    best = sweep_summary(sweep)["best"]
    assert best["params"] == {"--x": 2} and best["value"] == pytest.approx(0.25)
