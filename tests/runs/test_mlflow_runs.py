"""MLflow scripts run unchanged: real runs on the local target and a real
sshd, with the real worker, the real mlflow client (in the run's own pip
environment, never the portal's) talking to the portal served by uvicorn."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from django.urls import reverse

from runs.models import LoggedModel, Metric, Output, RunParam, RunStatus, RunTag
from tests.asgi import streamed_body
from tests.servers import LivePortal

from .test_execution import finished, text_of

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCRIPTS = Path(__file__).parent / "mlflow_scripts"
# The mlflow client version these tests verify (see README, MLflow section).
ENVIRONMENT = {
    "kind": "pip",
    "requirements": "mlflow-skinny==3.17.2\nscikit-learn==1.9.1\npandas==3.1.1\nskops==0.16.0\n",
}


def folder(name: str) -> dict[str, str]:
    root = SCRIPTS / name
    return {p.relative_to(root).as_posix(): p.read_text() for p in root.rglob("*.py")}


def series(run, name) -> list:
    return list(Metric.objects.filter(run=run, name=name).order_by("step").values_list("step", "value"))


@pytest.fixture
def portal_url(settings):
    """The portal served over HTTP, as the runs' MLFLOW_TRACKING_URI reaches it."""
    portal = LivePortal()
    settings.PORTAL_URL = portal.url
    yield portal.url
    portal.stop()


def test_mlflow_scripts_record_into_their_portal_runs(
    worker, portal_url, any_target, submit, team, login, tmp_path
):
    tracking = submit(any_target, folder("tracking"), environment=ENVIRONMENT, experiment="mlflow")
    autolog = submit(any_target, folder("autolog"), environment=ENVIRONMENT, experiment="mlflow")
    for run in (tracking, autolog):
        finished(run, timeout=600)
        assert run.status == RunStatus.COMPLETED, run.error + "\n" + run.stderr_tail

    # start_run() attached to the portal's run: same id, no stray run.
    assert f"mlflow run {tracking.key.hex}" in text_of(tracking, "stdout")
    assert [step for step, _ in series(tracking, "mse")] == [0, 1, 2, 3, 4]
    assert series(tracking, "n_samples") == [(0, 60.0)]
    assert dict(RunParam.objects.filter(run=tracking).values_list("key", "value")) == {"alpha": "0.5"}
    assert RunTag.objects.get(run=tracking, key="model").value == "ridge"
    model = LoggedModel.objects.get(run=tracking)
    assert model.name == "model" and model.status == "LOGGED_MODEL_READY"
    outputs = dict(Output.objects.filter(run=tracking).values_list("path", "size"))
    assert "mlflow/report.txt" in outputs
    assert f"mlflow/models/{model.model_id}/MLmodel" in outputs
    assert f"mlflow/models/{model.model_id}/model.skops" in outputs

    # autolog: each fit() is an MLflow run; the second records under run-1/, nothing lost.
    params = dict(RunParam.objects.filter(run=autolog).values_list("key", "value"))
    assert params["alpha"] == "0.1" and params["run-1/alpha"] == "1.0"
    assert series(autolog, "training_score") and series(autolog, "run-1/training_score")
    assert LoggedModel.objects.filter(run=autolog).count() == 2

    # On the pages: params, tags, metrics and the artifacts as outputs.
    client = login(team.reader)
    page = client.get(reverse("run-detail", args=[tracking.pk])).content.decode()
    assert "alpha" in page and "ridge" in page and "mlflow/report.txt" in page and "mse" in page
    report = client.get(reverse("run-output", args=[tracking.pk, "mlflow/report.txt"]))
    assert streamed_body(report) == b"final mse " + f"{series(tracking, 'final_mse')[0][1]:.6f}\n".encode()

    if any_target.kind != "local":
        return
    # The same scripts outside the portal, with the environment the portal built. The
    # skinny client has no SQLite store: a laptop points it at a file store (full mlflow
    # would default to SQLite and need nothing).
    env_python = f"{any_target.config['workdir']}/ws-{team.workspace.pk}/envs/{tracking.environment['hash']}/bin/python"
    for name in ("tracking", "autolog"):
        work = tmp_path / name
        shutil.copytree(SCRIPTS / name, work)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "MLFLOW_", "PYTHONPATH"))}
        env.update(MLFLOW_TRACKING_URI=f"file:{work}/mlruns", MLFLOW_ALLOW_FILE_STORE="true")
        result = subprocess.run(
            [env_python, "train.py"], cwd=work, env=env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert "done" in result.stdout and (work / "mlruns").is_dir()
