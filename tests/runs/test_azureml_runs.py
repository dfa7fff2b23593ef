"""Scripts written for the cloud service's Run API run unchanged: real runs
on the local target and on a real sshd, with the real Celery worker; and the
same scripts as plain ``python train.py`` outside the portal."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from django.urls import reverse

from runs.downloads import output_file
from runs.models import Metric, RunImage, RunStatus, RunTable, RunTag

from .test_execution import finished, text_of

pytestmark = pytest.mark.integration

SCRIPTS = Path(__file__).parent / "azureml_scripts"
HELPER_DIR = Path(__file__).resolve().parents[2] / "runs" / "helper"
# scikit-learn and matplotlib go into the run's environment, never the portal's.
ENVIRONMENT = {"kind": "pip", "requirements": "scikit-learn\nmatplotlib\n"}
SUBMITTED_ARGS = ["--epochs", "4", "--learning-rate", "0.25", "--model-name", "mlp"]


def folder(name: str) -> dict[str, str]:
    root = SCRIPTS / name
    return {p.relative_to(root).as_posix(): p.read_text() for p in root.rglob("*.py")}


def tags_of(run) -> dict:
    return dict(RunTag.objects.filter(run=run).values_list("key", "value"))


def series(run, name) -> list:
    return list(Metric.objects.filter(run=run, name=name).order_by("step").values_list("step", "value"))


def offline(name: str, interpreter: str, tmp_path: Path, arguments=()) -> subprocess.CompletedProcess:
    """The script as a laptop runs it: the shim on PYTHONPATH, no PORTAL_* variables."""
    work = tmp_path / name
    shutil.copytree(SCRIPTS / name, work)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "PYTHONPATH"))}
    return subprocess.run(
        [interpreter, "train.py", *arguments],
        cwd=work,
        env={**env, "PYTHONPATH": str(HELPER_DIR)},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_run_api_scripts_run_unchanged(worker, any_target, submit, team, login, tmp_path):
    ridge = submit(any_target, folder("ridge"), environment=ENVIRONMENT, experiment="azureml")
    submitted = submit(any_target, folder("submitted"), arguments=SUBMITTED_ARGS, experiment="azureml")
    tables = submit(any_target, folder("tables"), environment=ENVIRONMENT, experiment="azureml")
    for run in (ridge, submitted, tables):
        finished(run, timeout=300)
        assert run.status == RunStatus.COMPLETED, run.error + run.stderr_tail
        assert "Metric refused" not in text_of(run, "system")

    # (a) the ridge sweep: alpha and mse per step, a model per alpha, a helper module of its own
    assert series(ridge, "alpha") == [(i, pytest.approx(a)) for i, a in enumerate([0.0, 0.2, 0.4, 0.6, 0.8])]
    mse = series(ridge, "mse")
    assert [step for step, _ in mse] == [0, 1, 2, 3, 4] and all(2000 < value < 6000 for _, value in mse)
    assert sorted(ridge.outputs.values_list("path", flat=True)) == [
        f"ridge_{a:.2f}.pkl" for a in (0.0, 0.2, 0.4, 0.6, 0.8)
    ]
    assert tags_of(ridge) == {"model": "ridge"}
    assert "alpha is 0.20, and mse is" in text_of(ridge, "stdout")

    # (b) get_submitted_run() and argparse
    assert series(submitted, "loss") == [(0, 0.75), (1, 0.5625), (2, 0.421875), (3, 0.31640625)]
    assert tags_of(submitted) == {"model": "mlp", "epochs": "4", "learning_rate": "0.25"}
    summary = output_file(submitted, "summary.txt").read_text()
    assert summary == f"azureml {submitted.pk} loss=0.3164\n"

    # (c) lists, rows, tables and images
    stored = {t.name: t for t in RunTable.objects.filter(run=tables)}
    assert (stored["accuracies"].kind, stored["accuracies"].rows) == ("list", [[0.61], [0.72], [0.83]])
    curve = stored["learning curve"]
    assert curve.kind == "row" and curve.columns == ["epoch", "loss", "phase"]
    assert curve.rows == [[0, 1.0, "train"], [1, 0.5, "train"], [2, 0.3333, "train"], [3, 0.25, "train"]]
    confusion = stored["confusion"]
    assert confusion.columns == ["label", "cat", "dog"] and confusion.rows == [["cat", 5, 2], ["dog", 1, 7]]
    images = list(RunImage.objects.filter(run=tables).values_list("name", "path"))
    assert images == [("loss plot", "images/loss_plot.png"), ("class counts", "images/class_counts.png")]
    for _, path in images:
        assert output_file(tables, path).read_bytes().startswith(b"\x89PNG")

    # the run pages show them
    client = login(team.reader)
    page = client.get(reverse("run-detail", args=[tables.pk])).content.decode()
    for text in ("accuracies", "learning curve", "confusion", "0.3333", '<th scope="col">phase</th>'):
        assert text in page
    for _, path in images:
        url = reverse("run-output", args=[tables.pk, path])
        assert f'src="{url}"' in page
        response = client.get(url)
        assert response.status_code == 200 and response["Content-Type"] == "image/png"
    page = client.get(reverse("run-detail", args=[submitted.pk])).content.decode()
    assert f'id="run-{submitted.pk}-tags"' in page and "learning_rate" in page and "mlp" in page

    # the experiment page: tags per run, filtered by tag
    experiment = reverse("experiment-detail", args=["azureml"])
    page = client.get(experiment).content.decode()
    assert "model: ridge" in page and "model: mlp" in page
    only_ridge = client.get(experiment, {"tag": "model:ridge"}).content.decode()
    assert f'id="run-{ridge.pk}-row"' in only_ridge
    assert f'id="run-{submitted.pk}-row"' not in only_ridge and f'id="run-{tables.pk}-row"' not in only_ridge
    tagged = client.get(experiment, {"tag": "model"}).content.decode()
    assert f'id="run-{submitted.pk}-row"' in tagged and f'id="run-{tables.pk}-row"' not in tagged

    if any_target.kind != "local":
        return
    # The same scripts outside the portal, with the environment the portal built for them.
    env_python = (
        f"{any_target.config['workdir']}/ws-{team.workspace.pk}/envs/{ridge.environment['hash']}/bin/python"
    )
    result = offline("ridge", env_python, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Attempted to log scalar metric alpha:\n0.0\n" in result.stdout and "best mse" in result.stdout
    result = offline("submitted", "python3", tmp_path, SUBMITTED_ARGS)
    assert result.returncode == 0, result.stderr
    assert "experiment offline, run OfflineRun_" in result.stdout
    result = offline("tables", env_python, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Attempted to log image metric loss plot:" in result.stdout
    assert "logged ['accuracies', 'confusion', 'learning curve']" in result.stdout


BAD_LINES = r"""
import json, os
from azureml.core import Run

run = Run.get_context()
run.log("loss", 0.5)
run.log("loss", float("nan"))
run.log("name", "ridge")
run.log_list("ok", [1, 2])
run.log_list("bad", [1, float("inf")])
run.log_table("ragged", {"a": [1, 2], "b": [1]})
run.log_row("nested", x={"deep": 1})
run.tag("kept", "yes")
with open(os.environ["PORTAL_METRICS_FILE"], "a") as f:
    f.write("{not json\n")
    f.write(json.dumps({"type": "list", "name": "huge", "values": list(range(20000))}) + "\n")
    f.write(json.dumps({"type": "image", "name": "escape", "path": "../../etc/passwd"}) + "\n")
    f.write(json.dumps({"type": "param", "key": "alpha", "value": "1"}) + "\n")
    f.write(json.dumps({"type": "param", "key": "alpha", "value": "2"}) + "\n")
run.log("loss", 0.25)
print("done")
"""


def test_bad_lines_are_refused_with_a_note_and_change_nothing_else(worker, local_target, submit):
    run = finished(submit(local_target, {"train.py": BAD_LINES}))
    assert run.status == RunStatus.COMPLETED, run.error + run.stderr_tail
    assert series(run, "loss") == [(0, 0.5), (2, 0.25)]
    assert list(RunTable.objects.filter(run=run).values_list("name", "rows")) == [("ok", [[1], [2]])]
    assert tags_of(run) == {"kept": "yes"}
    assert list(run.params.values_list("key", "value")) == [("alpha", "1")]
    assert not RunImage.objects.filter(run=run).exists()
    system = text_of(run, "system")
    for note in (
        "metric 'loss' at step 1: nan is not a finite number",
        "metric 'name' at step 0: 'ridge' is not a number",
        "list 'bad', column 'bad': inf is not a finite number",
        "table 'ragged': its columns have different lengths",
        "row 'nested', column 'x': a dict is not a number",
        "a malformed metrics line was skipped",
        "list 'huge': 20000 rows, over the 10000 limit",
        "Image path '../../etc/passwd' is not a file under outputs/",
        "Param 'alpha' was already logged as '1'",
    ):
        assert f"{note}" in system, system
    assert "done" in text_of(run, "stdout")
