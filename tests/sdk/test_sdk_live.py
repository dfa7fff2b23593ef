"""The SDK and the CLI against a live portal (uvicorn in a thread, the real
worker): runs on the local target, a VM attached over SSH, a container
instance and a created VM on the podman engine, and the docs page's snippets
with only their imports changed."""

import contextlib
import io
import json
import shutil
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings

from compute import hostkeys
from portal_sdk import ActivityFailedException, ComputeTargetException, cli
from portal_sdk.core import Experiment, ScriptRunConfig
from portal_sdk.core.compute import (
    ComputeTarget,
    ContainerInstanceCompute,
    DockerEngineCompute,
    RemoteCompute,
)
from portal_sdk.core.compute_target import POLL_SECONDS
from portal_sdk.core.conda_dependencies import CondaDependencies
from portal_sdk.core.runconfig import RunConfiguration
from runs.models import Run as RunRow
from runs.models import RunLogChunk
from tests.conftest import SSH_PASSWORD, SSH_USER, wait_for
from tests.podman import PYTHON_IMAGE

from .docs_snippets import NOTEBOOK_IMPORT, snippet

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLE = Path(settings.BASE_DIR) / "examples" / "sklearn"
COUNTING = "import sys\nfor i in range(int(sys.argv[1])):\n    print(f'line {i}', flush=True)\n"


def stored_log(run_id) -> str:
    return "".join(
        RunLogChunk.objects.filter(run_id=int(run_id)).order_by("seq").values_list("text", flat=True)
    )


def printed_log(text: str) -> str:
    """What wait_for_completion printed between its header and its summary."""
    body = text.split("\n\n", 1)[1]  # after "RunId: ...\nWeb View: ...\n\n"
    return body.rsplit("\nExecution Summary\n", 1)[0]


def folder(tmp_path, files: dict[str, str]) -> Path:
    root = tmp_path / "src"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def user_managed(target: str) -> RunConfiguration:
    config = RunConfiguration()
    config.target = target
    config.environment.python.user_managed_dependencies = True
    return config


# ---- runs ------------------------------------------------------------------------------------


@pytest.mark.timeout(420)
def test_the_example_runs_with_every_log_line_once_metrics_outputs_and_no_second_upload(
    live_workspace, local_target, tmp_path
):
    _, connect = live_workspace
    ws = connect()
    source = tmp_path / "sklearn"
    shutil.copytree(EXAMPLE, source)
    config = RunConfiguration()
    config.environment.python.conda_dependencies = CondaDependencies.create(
        pip_packages=(source / "requirements.txt").read_text().split()
    )
    src = ScriptRunConfig(source, "train.py", arguments=["--epochs", "5"], run_config=config)
    run = Experiment(ws, "sdk-example").submit(src)
    assert run.uploaded_bytes > 0 and run.get_status() in ("Queued", "Preparing", "Running")

    out = io.StringIO()
    details = run.wait_for_completion(show_output=True, out=out)
    assert details["status"] == "Completed", out.getvalue()[-3000:]
    assert printed_log(out.getvalue()) == stored_log(run.id)  # every chunk once, in order
    assert "epoch   4" in out.getvalue() and "Status: Completed" in out.getvalue()

    metrics = run.get_metrics()
    assert len(metrics["accuracy"]) == 5 and len(metrics["loss"]) == 5
    assert run.get_file_names() == ["outputs/metrics.json", "outputs/model.pkl"]
    saved = json.loads(run.download_file("outputs/metrics.json", tmp_path).read_text())
    assert saved["epochs"] == 5
    written = run.download_files(output_directory=tmp_path / "all")
    assert sorted(p.name for p in written) == ["metrics.json", "model.pkl"]

    again = Experiment(ws, "sdk-example").submit(src)
    assert again.uploaded_bytes == 0  # the unchanged folder is already there
    assert RunRow.objects.get(pk=int(again.id)).snapshot_id == RunRow.objects.get(pk=int(run.id)).snapshot_id
    again.cancel()


def test_a_long_log_streams_whole_and_a_failed_run_raises(live_workspace, local_target, tmp_path):
    _, connect = live_workspace
    ws = connect()
    src = ScriptRunConfig(
        folder(tmp_path, {"count.py": COUNTING}), "count.py", ["3000"], run_config=user_managed("local")
    )
    run = Experiment(ws, "sdk-log").submit(src)
    out = io.StringIO()
    run.wait_for_completion(show_output=True, out=out)
    printed = printed_log(out.getvalue())
    assert printed == stored_log(run.id)
    assert [line for line in printed.splitlines() if line.startswith("line ")] == [
        f"line {i}" for i in range(3000)
    ]

    failing = folder(tmp_path / "f", {"bad.py": "print('about to fail')\nraise SystemExit(3)\n"})
    bad = Experiment(ws, "sdk-log").submit(
        ScriptRunConfig(failing, "bad.py", run_config=user_managed("local"))
    )
    with pytest.raises(ActivityFailedException, match=f"Run {bad.id} failed"):
        bad.wait_for_completion(show_output=True, out=io.StringIO())
    assert bad.get_status() == "Failed"


def test_the_cli_submits_follows_and_exits_1_for_a_failed_run(
    live_workspace, local_target, tmp_path, capsys, monkeypatch
):
    portal, connect = live_workspace
    ws = connect()
    config = tmp_path / "cfg" / "config.json"
    config.parent.mkdir()
    config.write_text(json.dumps({"url": portal.url, "workspace": ws.name, "token": ws.token}))
    monkeypatch.setenv("HOME", str(tmp_path))
    src = folder(
        tmp_path, {"ok.py": COUNTING, "bad.py": "import sys\nprint('bye', file=sys.stderr)\nsys.exit(4)\n"}
    )
    base = ["--config", str(config)]

    code = cli.main(
        [
            "run",
            "submit",
            str(src),
            "--script",
            "ok.py",
            "--target",
            "local",
            "--arg",
            "5",
            "--wait",
            "--json",
            *base,
        ]
    )
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["status"] == "Completed" and result["uploaded_bytes"] > 0

    assert cli.main(["run", "logs", str(result["id"]), "-f", *base]) == 0
    assert capsys.readouterr().out == stored_log(result["id"])

    code = cli.main(
        ["run", "submit", str(src), "--script", "bad.py", "--target", "local", "--wait", "--json", *base]
    )
    captured = capsys.readouterr()
    failed = json.loads(captured.out)
    assert code == 1 and failed["status"] == "Failed" and failed["uploaded_bytes"] == 0
    assert f"Run {failed['id']} failed" in captured.err

    assert (
        cli.main(["run", "download", str(result["id"]), "--dir", str(tmp_path / "d"), "--json", *base]) == 0
    )
    assert json.loads(capsys.readouterr().out) == []  # ok.py wrote no outputs
    assert cli.main(["run", "submit", str(src), "--script", "nope.py", "--target", "local", *base]) == 3
    assert "The script “nope.py” is not in the snapshot." in capsys.readouterr().err
    assert cli.main(["run", "list", "--json", *base]) == 0
    assert [r["status"] for r in json.loads(capsys.readouterr().out)] == ["Failed", "Completed"]


# ---- compute targets -------------------------------------------------------------------------


def confirm_when_pending(ws_admin, name: str, fingerprint: str) -> threading.Thread:
    """A person confirming the host key on the page, while the SDK waits."""

    def confirm():
        def pending():
            with contextlib.suppress(ComputeTargetException):
                return ComputeTarget(ws_admin, name).provisioning_state == "HostKeyPending"

        wait_for(pending, timeout=60, message="the host key to be presented")
        time.sleep(3 * POLL_SECONDS)  # the person is slower than the SDK's polls: it has said so
        ComputeTarget(ws_admin, name).confirm_host_key(fingerprint)

    thread = threading.Thread(target=confirm, daemon=True)
    thread.start()
    return thread


@pytest.mark.timeout(300)
def test_attach_a_vm_confirm_its_key_run_on_it_and_detach(live_workspace, ssh_env, tmp_path):
    _, connect = live_workspace
    ws = connect()
    fingerprint = hostkeys.fingerprint(ssh_env.host_key)
    config = RemoteCompute.attach_configuration(
        address="127.0.0.1",
        ssh_port=ssh_env.port,
        username=SSH_USER,
        password=SSH_PASSWORD,
        workdir="portal-sdk-runs",
        host_key_fingerprint=fingerprint,
    )
    vm = ComputeTarget.attach(ws, "sdk-vm", config)
    out = io.StringIO()
    vm.wait_for_completion(show_output=True, out=out)
    assert vm.provisioning_state == "Succeeded" and isinstance(vm, RemoteCompute)
    assert "sdk-vm: Succeeded" in out.getvalue() and SSH_PASSWORD not in out.getvalue()
    assert vm.status.serialize()["secrets_set"] == ["password"]
    assert ("sdk-vm", "VirtualMachine") in [(ct.name, ct.type) for ct in ws.compute_targets()]

    src = ScriptRunConfig(folder(tmp_path, {"count.py": COUNTING}), "count.py", ["50"], compute_target=vm)
    src.run_config.environment.python.user_managed_dependencies = True
    run = Experiment(ws, "sdk-vm").submit(src)
    out = io.StringIO()
    run.wait_for_completion(show_output=True, out=out)
    assert printed_log(out.getvalue()) == stored_log(run.id) and "line 49" in out.getvalue()

    vm.check().wait_for_completion()
    assert vm.get_status().provisioning_state == "Succeeded"
    vm.detach()
    with pytest.raises(ComputeTargetException, match="No compute target named 'sdk-vm'"):
        ComputeTarget(ws, "sdk-vm")


@pytest.mark.timeout(420)
def test_container_instance_on_the_podman_engine_runs_a_script(live_workspace, team, podman_engine, tmp_path):
    _, connect = live_workspace
    owner_ws = connect(team.owner)  # a unix:// engine is root on the host: owners only
    engine = ComputeTarget.attach(
        owner_ws, "podman", DockerEngineCompute.attach_configuration(podman_engine.url)
    )
    engine.wait_for_completion()
    assert engine.provisioning_state == "Succeeded", engine.status.state_reason

    ws = connect()
    config = ContainerInstanceCompute.provisioning_configuration(cpu_cores=1, memory_gb=1, image=PYTHON_IMAGE)
    aci = ComputeTarget.create(ws, "sdk-aci", config)
    aci.wait_for_completion(show_output=True, out=io.StringIO())
    assert aci.provisioning_state == "Succeeded" and aci.serialize()["config"]["engine"] == "podman"

    src = ScriptRunConfig(
        folder(tmp_path, {"count.py": COUNTING}), "count.py", ["20"], compute_target="sdk-aci"
    )
    src.run_config.environment.python.user_managed_dependencies = True
    run = Experiment(ws, "sdk-aci").submit(src)
    out = io.StringIO()
    run.wait_for_completion(show_output=True, out=out)
    assert printed_log(out.getvalue()) == stored_log(run.id) and "line 19" in out.getvalue()

    aci.delete()
    aci.wait_for_completion(is_delete_operation=True)
    with pytest.raises(ComputeTargetException):
        ComputeTarget(ws, "sdk-aci")


# ---- the docs page's snippets, imports changed only --------------------------------------------


STAND_IN_CONDA_NOTE = (
    "No conda channel is reachable here: the stand-in conda of tests/runs/test_conda.py builds the "
    "environment (a venv) from the file the SDK sent."
)


@pytest.mark.timeout(600)
def test_the_docs_snippets_run_with_only_their_imports_changed(
    live_workspace, team, local_target, podman_engine, ssh_env, bin_dir, monkeypatch, tmp_path, capsys
):
    _, connect = live_workspace
    owner_ws = connect(team.owner)
    engine = ComputeTarget.attach(
        owner_ws, "podman", DockerEngineCompute.attach_configuration(podman_engine.url)
    )
    engine.wait_for_completion()
    ws = connect()
    script_folder = folder(tmp_path, {"train.py": "print('training', flush=True)\n"})
    namespace = {"ws": ws, "exp": Experiment(ws, "docs-snippets"), "script_folder": str(script_folder)}
    exec(NOTEBOOK_IMPORT, namespace)  # noqa: S102 - the page's code, run as a notebook would

    def run(code: str) -> None:
        exec(compile(code, "<docs snippet>", "exec"), namespace)  # noqa: S102

    # Local computer: user-managed and system-managed configurations.
    run(snippet("run_config_user_managed = RunConfiguration()"))
    assert namespace["run_config_user_managed"].environment.request()["kind"] == "user"
    run(snippet("run_config_system_managed = RunConfiguration()"))
    assert namespace["run_config_system_managed"].environment.request()["kind"] == "conda"

    # Create a VM (on the only Docker engine; the size is matched to the engine's).
    run(snippet("DsvmCompute.provisioning_configuration"))
    created = namespace["dsvm_compute"]
    assert created.provisioning_state == "Succeeded", created.status.state_reason
    assert created.serialize()["config"]["image"] == PYTHON_IMAGE  # the engine's Python image
    assert "creating new." in capsys.readouterr().out
    run(snippet("DsvmCompute.provisioning_configuration"))  # a second time it is found
    assert "found existing: mydsvm" in capsys.readouterr().out

    # Its run configuration (Docker on, DEFAULT_CPU_IMAGE, conda scikit-learn) and the delete.
    run(snippet("Use Docker in the remote VM"))
    assert namespace["run_config"].target == "mydsvm"
    run(snippet("dsvm_compute.delete()"))
    created.wait_for_completion(is_delete_operation=True)

    # Attach a VM: the page's placeholders filled in; a person confirms the host key on the page.
    code = snippet("RemoteCompute.attach(ws")
    for placeholder, value in (
        ("<username>", SSH_USER),
        ("<fqdn>", "127.0.0.1"),
        ("<password>", SSH_PASSWORD),
    ):
        code = code.replace(placeholder, value)
    code = code.replace("ssh_port=22", f"ssh_port={ssh_env.port}")
    confirmer = confirm_when_pending(
        connect(team.owner), "attach-dsvm", hostkeys.fingerprint(ssh_env.host_key)
    )
    run(code)
    confirmer.join(5)
    printed = capsys.readouterr().out
    assert "must be confirmed" in printed and "/compute/attach-dsvm/" in printed
    assert namespace["dsvm_compute"].provisioning_state == "Succeeded"

    # Container instance run configuration.
    run(snippet('run_config.target = "containerinstance"'))
    assert (
        namespace["run_config"].environment.docker.base_image
        == namespace["azureml"].core.runconfig.DEFAULT_CPU_IMAGE
    )

    # Submit with the system-managed (conda) configuration to the local computer, and wait.
    print(STAND_IN_CONDA_NOTE)
    (bin_dir / "conda").write_text(__import__("tests.runs.test_conda", fromlist=["STAND_IN"]).STAND_IN)
    (bin_dir / "conda").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    run(snippet("src = ScriptRunConfig(source_directory = script_folder"))
    assert namespace["run"].get_status() == "Completed"
    assert "training" in capsys.readouterr().out


@pytest.mark.timeout(300)
def test_the_cli_attaches_checks_lists_and_detaches_a_vm(
    live_workspace, ssh_env, tmp_path, capsys, monkeypatch
):
    portal, connect = live_workspace
    ws = connect()
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"url": portal.url, "workspace": ws.name, "token": ws.token}))
    base = ["--config", str(config), "--json"]
    monkeypatch.setattr("sys.stdin", io.StringIO(SSH_PASSWORD + "\n"))
    attach = ["compute", "attach", "cli-vm", "--address", "127.0.0.1", "--port", str(ssh_env.port)]
    attach += ["--username", SSH_USER, "--password-stdin", "--wait"]
    attach += [
        "--host-key-fingerprint",
        hostkeys.fingerprint(ssh_env.host_key),
        "--field",
        "workdir=portal-cli",
    ]
    assert cli.main([*attach, *base]) == 0
    captured = capsys.readouterr()
    attached = json.loads(captured.out)
    assert attached["state"] == "Succeeded" and attached["config"]["workdir"] == "portal-cli"
    assert SSH_PASSWORD not in captured.out + captured.err

    assert cli.main(["compute", "check", "cli-vm", "--wait", *base]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "Succeeded"
    assert cli.main(["compute", "list", *base]) == 0
    assert [t["name"] for t in json.loads(capsys.readouterr().out)] == ["cli-vm", "local"]
    # A wrong fingerprint: the CLI refuses the key the host presents and exits 3.
    monkeypatch.setattr("sys.stdin", io.StringIO(SSH_PASSWORD + "\n"))
    wrong = [a if a != hostkeys.fingerprint(ssh_env.host_key) else "SHA256:not-this-one" for a in attach]
    assert cli.main([*[a if a != "cli-vm" else "cli-vm2" for a in wrong], *base]) == 3
    assert "not the expected SHA256:not-this-one: refused" in capsys.readouterr().err

    assert cli.main(["compute", "delete", "cli-vm", "--wait", *base]) == 0
    assert json.loads(capsys.readouterr().out) == {"name": "cli-vm", "state": "Deleted"}
    assert cli.main(["compute", "show", "cli-vm", *base]) == 3
