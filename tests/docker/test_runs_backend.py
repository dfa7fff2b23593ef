"""Runs at the backend level, inside containers on the real engine: the shared
run scripts of runner.py through docker exec, in a created VM and in a fresh
container per run of a container instance (limits, OOM kill, cancel, cleanup)."""

import hashlib
import io
import tarfile
import time
from datetime import UTC, datetime, timedelta

import pytest

from compute import lifecycle, services
from compute.backends.base import LaunchSpec
from compute.backends.docker_instance import remove_expired_run_containers, run_container_name
from compute.backends.runner import tree_digest
from compute.models import ComputeTarget, Origin, TargetState
from tests import podman

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TRAIN = b"""
import os, sys
print("args", sys.argv[1:])
os.makedirs("outputs", exist_ok=True)
with open("outputs/model.txt", "w") as f:
    f.write("weights")
for path in ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory.max"):
    if os.path.exists(path):
        print("memory-limit", open(path).read().strip())
sys.stderr.write("done\\n")
"""
HOG = b"""
chunks = []
while True:
    chunks.append(bytearray(16 * 1024 * 1024))
"""
SLEEPER = b"""
import time
print("sleeping", flush=True)
time.sleep(300)
"""
FAILS = b"""
import sys
sys.exit(3)
"""


def snapshot(tmp_path, script: bytes, name="snap"):
    archive = tmp_path / f"{name}.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("train.py")
        info.size = len(script)
        tar.addfile(info, io.BytesIO(script))
    return name + "-" + str(abs(hash(script)))[:12], archive


def hexkey(name: str) -> str:
    """A run key (32 hex digits) named after the test's label."""
    return hashlib.md5(name.encode()).hexdigest()  # noqa: S324 - a name, not a secret


def launch(backend, tmp_path, script, key, arguments=(), **spec):
    sha, archive = snapshot(tmp_path, script)
    backend.ensure_snapshot(sha, archive, tree_digest=tree_digest(archive))
    return backend.launch(
        LaunchSpec(
            key=hexkey(key),
            sha256=sha,
            script="train.py",
            arguments=list(arguments),
            env_kind="user",
            env_arg="python3",
            tree_digest=tree_digest(archive),
            **spec,
        )
    )


def wait_ended(backend, handle, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        [state] = backend.poll([handle])
        if state.ended:
            return state
        time.sleep(0.1)
    raise AssertionError("the run did not end")


@pytest.fixture
def engine(engine_target):
    target = engine_target("engine1")
    services.target_check(target_id=target.pk)
    return target


@pytest.fixture
def instance(team, engine):
    def _make(memory_gb=0.5, name="ci1"):
        target = ComputeTarget.objects.create(
            workspace=team.workspace,
            name=name,
            kind="container",
            origin=Origin.CREATED,
            state=TargetState.SUCCEEDED,
            config={
                "engine": "engine1",
                "cpus": 1,
                "memory_gb": memory_gb,
                "gpus": 0,
                "image": podman.PYTHON_IMAGE,
            },
        )
        return target.backend

    return _make


def container_status(name):
    result = podman.podman("inspect", "--format", "{{.State.Status}}", name)
    return result.stdout.strip() if result.returncode == 0 else "gone"


def test_a_run_in_a_created_vm(team, engine, tmp_path):
    target = lifecycle.target_create(
        workspace=team.workspace,
        user=team.owner,
        kind="docker-vm",
        name="vm-runs",
        config={"engine": "engine1", "cpus": 1, "memory_gb": 0.5, "gpus": 0, "image": podman.PYTHON_IMAGE},
    )
    lifecycle.target_provision_now(target_id=target.pk)
    backend = ComputeTarget.objects.get(pk=target.pk).backend
    try:
        handle = launch(backend, tmp_path, TRAIN, "run1", ["--epochs", "2"])
        assert not handle["failure"] and not handle["already"]
        state = wait_ended(backend, handle)
        assert state.exit_code == 0
        logs = backend.read_logs(handle, {})
        assert b"args ['--epochs', '2']" in logs["stdout"] and logs["stderr"] == b"done\n"
        dest = tmp_path / "outputs.tar.gz"
        assert backend.fetch_outputs(handle, dest)
        with tarfile.open(dest) as tar:
            assert tar.extractfile("outputs/model.txt").read() == b"weights"
        # the snapshot stays in the VM: the next run uploads nothing
        sha, archive = snapshot(tmp_path, TRAIN)
        assert backend.ensure_snapshot(sha, archive) is False
        # launching the same run again starts nothing
        assert launch(backend, tmp_path, TRAIN, "run1")["already"]
    finally:
        backend.close()
        backend.deprovision(lambda step: None)


def test_each_run_gets_a_fresh_container_with_the_limits_then_it_goes(instance, tmp_path):
    backend = instance(memory_gb=0.5)
    handle = launch(backend, tmp_path, TRAIN, "fresh1")
    assert container_status(run_container_name(hexkey("fresh1"))) == "running"
    state = wait_ended(backend, handle)
    assert state.exit_code == 0
    stdout = backend.read_logs(handle, {})["stdout"].decode()
    assert f"memory-limit {512 * 1024 * 1024}" in stdout
    assert backend.fetch_outputs(handle, tmp_path / "out.tar.gz")
    assert container_status(run_container_name(hexkey("fresh1"))) == "gone"
    backend.close()


def test_out_of_memory_is_reported_as_such(instance, tmp_path):
    backend = instance(memory_gb=0.1)
    handle = launch(backend, tmp_path, HOG, "hog1")
    state = wait_ended(backend, handle)
    assert state.exit_code == 137, (state, backend.read_logs(handle, {}))
    assert state.failure.startswith("killed: out of memory")
    backend.fetch_outputs(handle, tmp_path / "out.tar.gz")
    assert container_status(run_container_name(hexkey("hog1"))) == "exited"  # kept for inspection
    backend.close()


def test_cancel_stops_the_run_and_removes_its_container(instance, tmp_path):
    backend = instance()
    handle = launch(backend, tmp_path, SLEEPER, "sleep1")
    deadline = time.monotonic() + 20
    while b"sleeping" not in backend.read_logs(handle, {})["stdout"]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    backend.cancel(handle)
    state = wait_ended(backend, handle, timeout=20)
    assert state.canceled
    backend.fetch_outputs(handle, tmp_path / "out.tar.gz")
    assert container_status(run_container_name(hexkey("sleep1"))) == "gone"
    backend.close()


def test_a_failed_run_keeps_its_container_for_a_while(instance, engine, tmp_path):
    backend = instance()
    handle = launch(backend, tmp_path, FAILS, "fail1")
    assert wait_ended(backend, handle).exit_code == 3
    backend.fetch_outputs(handle, tmp_path / "out.tar.gz")
    backend.close()
    name = run_container_name(hexkey("fail1"))
    assert container_status(name) == "exited"
    assert name not in remove_expired_run_containers(engine)  # not yet
    later = datetime.now(UTC) + timedelta(hours=2)
    assert name in remove_expired_run_containers(engine, now=later)
    assert container_status(name) == "gone"


def test_a_missing_image_fails_the_launch_clearly(instance, tmp_path):
    backend = instance()
    backend.target.config["image"] = podman.MISSING_IMAGE
    with pytest.raises(Exception, match=f"The image {podman.MISSING_IMAGE} is not on the engine"):
        launch(backend, tmp_path, TRAIN, "noimg1")
    backend.close()


AZUREML = b"""
from azureml.core import Run
run = Run.get_context()
run.log("mse", 0.5)
run.tag("where", "container")
print("run", run.id, run.experiment.name)
"""


def test_the_run_api_shim_and_the_run_variables_travel_into_the_container(instance, tmp_path):
    import json

    from runs.executor import HELPER_FILES

    backend = instance()
    env = {"PORTAL_RUN_ID": "7", "PORTAL_EXPERIMENT": "boxed"}
    handle = launch(backend, tmp_path, AZUREML, "azureml1", helpers=HELPER_FILES, env=env)
    state = wait_ended(backend, handle)
    logs = backend.read_logs(handle, {})
    assert state.exit_code == 0, logs["stderr"]
    assert logs["stdout"].decode() == "run 7 boxed\n"
    lines = [json.loads(line) for line in logs["metrics"].decode().splitlines()]
    assert [(line.get("type"), line.get("name") or line.get("key")) for line in lines] == [
        (None, "mse"),
        ("tag", "where"),
    ]
    backend.close()
