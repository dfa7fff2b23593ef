"""Run configurations, submit (snapshot only when missing), log follow, metrics, outputs."""

import gzip
import io
import json
import tarfile

import pytest

from portal_sdk import ActivityFailedException, ExperimentExecutionException
from portal_sdk.core import Experiment, Run, ScriptRunConfig
from portal_sdk.core.conda_dependencies import CondaDependencies
from portal_sdk.core.experiment import pack_folder
from portal_sdk.core.runconfig import DEFAULT_CPU_IMAGE, RunConfiguration

from .fakes import FakePortal, response, workspace


def run_payload(status="Queued", **extra):
    return {
        "id": 7, "experiment": "exp", "target": "local", "status": status, "status_label": status,
        "finished": status in ("Completed", "Failed", "Canceled"), "url": "/w/team/runs/7/", "error": "", **extra,
    }  # fmt: skip


# ---- environments --------------------------------------------------------------------------


def test_user_managed_runs_with_the_interpreter():
    rc = RunConfiguration()
    rc.environment.python.user_managed_dependencies = True
    rc.environment.python.interpreter_path = "/opt/venv/bin/python"
    assert rc.environment.request() == {
        "kind": "user", "interpreter": "/opt/venv/bin/python", "docker": False, "base_image": "",
    }  # fmt: skip


def test_pip_packages_only_make_a_pip_environment():
    rc = RunConfiguration(framework="python")
    rc.environment.python.conda_dependencies = CondaDependencies.create(
        pip_packages=["scikit-learn", "numpy<3"]
    )
    assert rc.environment.request() == {
        "kind": "pip", "requirements": "scikit-learn\nnumpy<3", "docker": False, "base_image": "",
    }  # fmt: skip


def test_conda_packages_make_a_conda_environment_file():
    rc = RunConfiguration()
    rc.environment.python.user_managed_dependencies = False
    rc.prepare_environment = True
    rc.environment.python.conda_dependencies = CondaDependencies.create(
        conda_packages=["scikit-learn"], pip_packages=["tqdm"]
    )
    env = rc.environment.request()
    assert env["kind"] == "conda"
    assert env["requirements"] == (
        "name: project_environment\ndependencies:\n  - python=3.11\n  - scikit-learn\n  - pip\n  - pip:\n    - tqdm\n"
    )


def test_no_packages_run_on_the_targets_python_and_docker_takes_the_base_image():
    rc = RunConfiguration()
    rc.environment.docker.enabled = True
    assert rc.environment.docker.base_image == DEFAULT_CPU_IMAGE == "python:3.11-slim"
    assert rc.environment.request() == {
        "kind": "user", "interpreter": "python3", "docker": True, "base_image": "python:3.11-slim",
    }  # fmt: skip
    assert rc.target == "local" and rc.node_count == 1
    rc.container_instance.cpu_cores = 1  # the ACI snippet's settings are accepted
    rc.auto_prepare_environment = True


def test_only_python_is_a_framework():
    with pytest.raises(ValueError, match="framework='python'"):
        RunConfiguration(framework="pyspark")


# ---- submit ------------------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path):
    src = tmp_path / "src"
    (src / "data").mkdir(parents=True)
    (src / "train.py").write_text("print('hi')\n")
    (src / "data" / "big.bin").write_bytes(b"x" * 1000)
    (src / ".amlignore").write_text("data/\n")
    return src


def submit_portal(has_snapshot: bool):
    portal = FakePortal()
    portal.on("HEAD", r"workspaces/team/snapshots/[0-9a-f]{64}/", (200 if has_snapshot else 404, None))
    portal.on("PUT", r"workspaces/team/snapshots/[0-9a-f]{64}/", (201, {"file_count": 2}))
    portal.on("POST", r"workspaces/team/runs/", (201, run_payload()))
    return portal


def test_submit_uploads_the_snapshot_when_missing_then_posts_the_run(folder):
    portal = submit_portal(has_snapshot=False)
    rc = RunConfiguration()
    rc.target = "vm1"
    rc.environment.python.user_managed_dependencies = True
    config = ScriptRunConfig(
        source_directory=folder, script="train.py", arguments=["--alpha", 0.5], run_config=rc
    )
    run = Experiment(workspace(portal), "exp").submit(config)

    (put,) = portal.requests_to("PUT")
    sha = put["path"].split("/")[-2]
    assert put["headers"]["Content-Type"] == "application/gzip"
    with tarfile.open(fileobj=io.BytesIO(put["data"]), mode="r:gz") as tar:
        assert sorted(tar.getnames()) == [".amlignore", "train.py"]  # data/ left out by the rules
    import hashlib

    assert hashlib.sha256(gzip.decompress(put["data"])).hexdigest() == sha
    (post,) = portal.requests_to("POST", r"workspaces/team/runs/")
    assert post["json"] == {
        "experiment": "exp", "target": "vm1", "snapshot": sha, "script": "train.py",
        "arguments": ["--alpha", "0.5"], "node_count": 1,
        "environment": {"kind": "user", "interpreter": "python3", "docker": False, "base_image": ""},
    }  # fmt: skip
    assert run.id == "7" and run.uploaded_bytes == len(put["data"]) > 0


def test_an_unchanged_folder_uploads_nothing(folder):
    portal = submit_portal(has_snapshot=True)
    target = type("T", (), {"name": "box"})()  # compute_target= may be a ComputeTarget
    run = Experiment(workspace(portal), "exp").submit(
        ScriptRunConfig(folder, "train.py", compute_target=target)
    )
    assert run.uploaded_bytes == 0 and not portal.requests_to("PUT")
    assert portal.requests_to("POST")[0]["json"]["target"] == "box"


def test_the_same_folder_always_packs_the_same(folder, tmp_path):
    first = pack_folder(folder)
    (folder / "train.py").touch()  # a new mtime changes nothing
    assert pack_folder(folder)[:2] == first[:2]
    (folder / "train.py").write_text("print('changed')\n")
    assert pack_folder(folder)[0] != first[0]


def test_a_config_holding_a_token_never_goes_into_a_snapshot(folder):
    (folder / "config.json").write_text(json.dumps({"url": "u", "workspace": "w", "token": "pat_x"}))
    (folder / "settings.json").write_text("{}")
    sha, packed, analysis = pack_folder(folder)
    with tarfile.open(fileobj=io.BytesIO(packed), mode="r:gz") as tar:
        assert "config.json" not in tar.getnames() and "settings.json" in tar.getnames()
    assert "config.json" in analysis.excluded


def test_a_refused_submit_raises_with_the_portals_message(folder):
    portal = submit_portal(has_snapshot=True)
    portal.on("POST", r"workspaces/team/runs/", (400, {"detail": "The target vm1 is not ready (Failed)."}))
    with pytest.raises(ExperimentExecutionException, match=r"^The target vm1 is not ready \(Failed\)\.$"):
        Experiment(workspace(portal), "exp").submit(ScriptRunConfig(folder, "train.py"))


# ---- following a run ---------------------------------------------------------------------------


def chunk(seq, text, stream="stdout"):
    return {"seq": seq, "stream": stream, "text": text}


def log_page(chunks, last_seq, *, more=False, finished=False, status="Running"):
    return (
        200,
        {"chunks": chunks, "last_seq": last_seq, "more": more, "finished": finished, "status": status},
    )


def test_wait_for_completion_prints_every_line_once_in_order():
    portal = FakePortal()
    pages = [
        log_page([chunk(1, "a\n"), chunk(2, "b\n")], 2, more=True),
        log_page([chunk(2, "b\n"), chunk(3, "c\n")], 3),  # an overlap is not printed twice
        log_page([], 3),  # a long-poll that timed out
        log_page([chunk(4, "d\n", "stderr")], 4, finished=True, status="Completed"),
    ]
    portal.on("GET", r"workspaces/team/runs/7/logs/", pages)
    portal.on("GET", r"workspaces/team/runs/7/", (200, run_payload("Completed")))
    run = Run._from_payload(Experiment(workspace(portal), "exp"), run_payload("Running"))
    out = io.StringIO()
    details = run.wait_for_completion(show_output=True, out=out)
    assert details["status"] == "Completed"
    text = out.getvalue()
    assert "a\nb\nc\nd\n" in text and text.count("b\n") == 1
    afters = [c["params"]["after"] for c in portal.requests_to("GET", r".*/logs/")]
    assert afters == [-1, 2, 3, 3]
    assert all(c["params"]["timeout"] == 25 for c in portal.requests_to("GET", r".*/logs/"))


def test_a_failed_run_raises_unless_told_not_to():
    portal = FakePortal()
    portal.on("GET", r"workspaces/team/runs/7/", (200, run_payload("Failed", error="Exit code 3")))
    run = Run._from_payload(Experiment(workspace(portal), "exp"), run_payload("Running"))
    with pytest.raises(ActivityFailedException, match="Run 7 failed: Exit code 3"):
        run.wait_for_completion()
    assert run.wait_for_completion(raise_on_error=False)["status"] == "Failed"
    assert run.get_status() == "Failed"


def test_metrics_files_and_downloads(tmp_path):
    portal = FakePortal()
    metrics = {
        "loss": [{"step": 1, "value": 0.5}, {"step": 0, "value": 0.9}],
        "final": [{"step": None, "value": 1}],
    }
    portal.on("GET", r"workspaces/team/runs/7/metrics/", (200, {"metrics": metrics}))
    portal.on("GET", r"workspaces/team/runs/7/outputs/", (200, [{"path": "model.pkl", "size": 3}, {"path": "sub/m.json", "size": 2}]))  # fmt: skip
    portal.on("GET", r"workspaces/team/runs/7/outputs/model.pkl", response(200, content=b"abc"))
    portal.on("GET", r"workspaces/team/runs/7/outputs/sub/m.json", response(200, content=b"{}"))
    run = Run._from_payload(Experiment(workspace(portal), "exp"), run_payload("Completed"))
    assert run.get_metrics() == {"loss": [0.9, 0.5], "final": 1}
    assert run.get_file_names() == ["outputs/model.pkl", "outputs/sub/m.json"]
    assert run.download_file("outputs/model.pkl", tmp_path).read_bytes() == b"abc"
    written = run.download_files(prefix="outputs/sub", output_directory=tmp_path / "d")
    assert written == [tmp_path / "d" / "outputs" / "sub" / "m.json"]
    with pytest.raises(ExperimentExecutionException, match="not a path inside outputs"):
        run.download_file("outputs/../../etc/passwd", tmp_path)
