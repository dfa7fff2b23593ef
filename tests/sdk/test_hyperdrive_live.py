"""A sweep from the SDK against a live portal (uvicorn in a thread, the real
worker): submit a HyperDriveConfig, wait, read the best run and the children."""

import io

import pytest

from portal_sdk.core import Experiment, ScriptRunConfig
from portal_sdk.train.hyperdrive import (
    BanditPolicy,
    GridParameterSampling,
    HyperDriveConfig,
    HyperDriveRun,
    PrimaryMetricGoal,
    choice,
)
from runs.models import Run as RunRow
from runs.models import RunStatus

from .test_sdk_live import folder, user_managed

pytestmark = [pytest.mark.integration, pytest.mark.slow]

QUADRATIC = """
import argparse, time
from azureml.core import Run
parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float)
parser.add_argument("--y", type=float)
args = parser.parse_args()
run = Run.get_context()
for step in range(8):
    run.log("score", 10 - (args.x - 2) ** 2 - (args.y - 1) ** 2 - 1 / (step + 1))
    time.sleep(0.4)
"""


def test_a_sweep_from_the_sdk(live_workspace, local_target, tmp_path):
    _, connect = live_workspace
    ws = connect()
    src = ScriptRunConfig(
        folder(tmp_path, {"train.py": QUADRATIC}), "train.py", run_config=user_managed("local")
    )
    config = HyperDriveConfig(
        run_config=src,
        hyperparameter_sampling=GridParameterSampling({"--x": choice(0, 2, 9), "--y": choice(1, 8)}),
        policy=BanditPolicy(slack_amount=5, delay_evaluation=1),
        primary_metric_name="score",
        primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
        max_total_runs=6,
        max_concurrent_runs=2,
    )
    run = Experiment(ws, "sdk-sweep").submit(config)
    assert isinstance(run, HyperDriveRun)
    details = run.wait_for_completion(show_output=False, out=io.StringIO())
    assert details["status"] == "Completed"

    children = run.get_children()
    assert len(children) == 6
    assert {int(c.id) for c in children} == set(
        RunRow.objects.filter(parent_id=int(run.id)).values_list("pk", flat=True)
    )
    params = run.get_hyperparameters()
    assert sorted((p["--x"], p["--y"]) for p in params.values()) == [
        (x, y) for x in (0, 2, 9) for y in (1, 8)
    ]
    best = run.get_best_run_by_primary_metric()
    assert params[best.id] == {"--x": 2, "--y": 1}
    assert best.get_metrics()["score"][-1] == pytest.approx(10 - 1 / 8)
    # x=9 or y=8 scores under -39: far below the best minus 5 from step 1 on
    statuses = {c.id: c.get_status() for c in children}
    stopped = {cid for cid, s in statuses.items() if s == RunStatus.EARLY_STOPPED.label}
    picked = {(params[cid]["--x"], params[cid]["--y"]) for cid in stopped}
    assert (9, 8) in picked and not picked & {(0, 1), (2, 1)}, statuses
