"""The azureml shim each run gets on its path: what it writes inside a run,
what it prints outside one, what it refuses, and that a real azureml wins."""

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

HELPER_DIR = Path(__file__).resolve().parents[2] / "runs" / "helper"


def python(code: str, cwd: Path, *, env: dict | None = None, interpreter: str = sys.executable):
    """Run ``code`` as a script with the run's lib/ on PYTHONPATH and no PORTAL_* variables (plus ``env``)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_") and k != "PYTHONPATH"}
    script = cwd / "script.py"
    script.write_text(code)
    return subprocess.run(
        [interpreter, str(script)],
        cwd=cwd,
        env={**base, "PYTHONPATH": str(HELPER_DIR), **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def in_a_run(tmp_path) -> tuple[dict, Path]:
    run_dir = tmp_path / "run"
    (run_dir / "src").mkdir(parents=True)
    metrics = run_dir / "metrics.jsonl"
    env = {
        "PORTAL_METRICS_FILE": str(metrics),
        "PORTAL_RUN_DIR": str(run_dir),
        "PORTAL_RUN_ID": "42",
        "PORTAL_EXPERIMENT": "sweeps",
    }
    return env, metrics


SCRIPT = """
import io
from azureml.core.run import Run
from azureml.core import Run as SameRun
assert Run is SameRun
run = Run.get_context()
assert Run.get_submitted_run() is run
print("id", run.id, "experiment", run.experiment.name, "parent", run.parent)
run.log("mse", 0.5)
run.log("mse", 0.25, description="mean squared error")
run.log("lr", 0.1, step=7)
run.log_list("acc", [0.7, 0.8])
run.log_row("curve", epoch=0, loss=1.0)
run.log_row("curve", epoch=1, loss=0.5)
run.log_table("cm", {"label": ["cat", "dog"], "cat": [5, 1]})
run.tag("model", "ridge")
run.tag("quick")
run.set_tags({"epochs": 3})
open("notes.txt", "w").write("n")
run.upload_file("outputs/notes.txt", "notes.txt")
run.upload_file("stream.txt", io.BytesIO(b"s"))
print("tags", sorted(run.get_tags().items()))
print("metrics", sorted(run.get_metrics().items()))
run.complete()
"""


def test_inside_a_run_every_call_is_one_line_of_the_metrics_file(tmp_path):
    env, metrics = in_a_run(tmp_path)
    result = python(SCRIPT, tmp_path / "run" / "src", env=env)
    assert result.returncode == 0, result.stderr
    assert "id 42 experiment sweeps parent None" in result.stdout
    assert "Attempted" not in result.stdout
    items = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert all(isinstance(item.pop("time"), float) for item in items)
    assert items == [
        {"name": "mse", "step": 0, "value": 0.5},
        {"name": "mse", "step": 1, "value": 0.25},
        {"name": "lr", "step": 7, "value": 0.1},
        {"type": "list", "name": "acc", "values": [0.7, 0.8]},
        {"type": "row", "name": "curve", "row": {"epoch": 0, "loss": 1.0}},
        {"type": "row", "name": "curve", "row": {"epoch": 1, "loss": 0.5}},
        {"type": "table", "name": "cm", "table": {"label": ["cat", "dog"], "cat": [5, 1]}},
        {"type": "tag", "key": "model", "value": "ridge"},
        {"type": "tag", "key": "quick", "value": ""},
        {"type": "tag", "key": "epochs", "value": "3"},
    ]
    outputs = tmp_path / "run" / "src" / "outputs"
    assert (outputs / "notes.txt").read_text() == "n" and (outputs / "stream.txt").read_text() == "s"
    assert "tags [('epochs', '3'), ('model', 'ridge'), ('quick', '')]" in result.stdout
    assert (
        "metrics [('acc', [0.7, 0.8]), ('cm', {'label': ['cat', 'dog'], 'cat': [5, 1]}), "
        "('curve', {'epoch': [0, 1], 'loss': [1.0, 0.5]}), ('lr', 0.1), ('mse', [0.5, 0.25])]"
    ) in result.stdout


def test_outside_a_run_it_prints_what_it_would_log_and_the_script_completes(tmp_path):
    result = python(SCRIPT, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "experiment offline parent None" in result.stdout
    assert "id OfflineRun_" in result.stdout
    assert "Attempted to log scalar metric mse:\n0.5\n" in result.stdout
    assert "Attempted to log list metric acc:\n[0.7, 0.8]\n" in result.stdout
    assert "Attempted to log row metric curve:\n{'epoch': 0, 'loss': 1.0}\n" in result.stdout
    assert "Attempted to log table metric cm:" in result.stdout
    assert "Attempted to set tag model:\nridge\n" in result.stdout
    assert "Attempted to track file outputs/notes.txt at notes.txt" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "script.py"]  # no outputs/ made


@pytest.mark.parametrize(
    ("code", "call"),
    [
        ("Run.get_context().register_model('m')", "Run.register_model"),
        ("Run.get_context().child_run()", "Run.child_run"),
        ("Run.get_context().experiment.workspace", "Experiment.workspace"),
        ("Run('exp', 'id')", "Run(experiment, run_id)"),
        ("from azureml.core import Workspace", "azureml.core.Workspace"),
    ],
)
def test_calls_outside_the_covered_set_raise_not_implemented(tmp_path, code, call):
    result = python(f"from azureml.core.run import Run\n{code}\n", tmp_path)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(
        f"NotImplementedError: {call} is not supported by the compute portal's azureml shim"
    )
    assert "README" in last


def test_private_names_stay_attribute_errors(tmp_path):
    """Libraries probe objects with hasattr(): only AttributeError means 'no'."""
    code = (
        "from azureml.core.run import Run\nimport azureml.core\n"
        "run = Run.get_context()\n"
        "print(hasattr(run, '_repr_html_'), hasattr(azureml.core, '__wrapped__'))\n"
    )
    result = python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("False False")


def test_log_image_saves_a_file_under_outputs_and_refuses_a_huge_line(tmp_path):
    env, metrics = in_a_run(tmp_path)
    src = tmp_path / "run" / "src"
    (src / "chart.png").write_bytes(b"\x89PNG fake")
    code = (
        "from azureml.core.run import Run\nrun = Run.get_context()\n"
        "run.log_image('a chart', path='chart.png')\n"
        "run.log_image('a chart', path='chart.png')\n"
        "run.log_list('huge', list(range(200000)))\n"
        "run.log('after', 1)\n"
    )
    result = python(code, src, env=env)
    assert result.returncode == 0, result.stderr
    assert "list 'huge' was not logged" in result.stderr
    items = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [(i.get("type"), i.get("path")) for i in items] == [
        ("image", "outputs/images/a_chart.png"),
        ("image", "outputs/images/a_chart_1.png"),
        (None, None),
    ]
    assert (src / "outputs" / "images" / "a_chart_1.png").read_bytes() == b"\x89PNG fake"


def test_an_environment_with_the_real_azureml_imports_that_one(tmp_path):
    """The shim sits after the environment's site-packages; the real package wins."""
    env_dir = tmp_path / "env"
    venv.create(env_dir, with_pip=False)
    interpreter = str(env_dir / "bin" / "python")
    site = subprocess.run(
        [interpreter, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    code = "from azureml.core.run import Run\nprint(getattr(Run, 'REAL', 'shim'))\n"
    result = python(code, tmp_path, interpreter=interpreter)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "shim"
    real = Path(site) / "azureml" / "core"
    real.mkdir(parents=True)
    (real.parent / "__init__.py").write_text("")
    (real / "__init__.py").write_text("")
    (real / "run.py").write_text("class Run:\n    REAL = 'real'\n")
    result = python(code, tmp_path, interpreter=interpreter)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "real"


def test_a_sitecustomize_the_helper_hides_still_runs(tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "sitecustomize.py").write_text("import builtins\nbuiltins.OTHER_SITECUSTOMIZE = True\n")
    code = "import builtins\nfrom azureml.core import Run\nprint(getattr(builtins, 'OTHER_SITECUSTOMIZE', False))\n"
    result = python(code, tmp_path, env={"PYTHONPATH": f"{HELPER_DIR}:{other}"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_the_helpers_fit_in_one_ssh_command():
    """Over SSH the whole launch is one argument of the remote shell, which
    Linux caps at 128 KiB: the helpers must leave room for the script's arguments."""
    import shlex

    from compute.backends.runner import JOB, LAUNCH, helper_arguments
    from runs.executor import HELPER_FILES

    assert {"portal_run.py", "sitecustomize.py", "fallback/azureml/core/run.py"} <= set(HELPER_FILES)
    command = shlex.join(["/bin/sh", "-c", LAUNCH, "sh", JOB, *helper_arguments(HELPER_FILES)])
    assert len(command.encode()) < 64 * 1024
