"""Runs end to end through the executor (real worker, real engine): a
docker-enabled run on the local computer, runs in container instances (limits,
OOM kill, cancel) and in a created VM."""

import uuid

import pytest

from compute import lifecycle, services
from compute.models import ComputeTarget, Origin, TargetState
from runs import services as runs
from runs.models import RunStatus
from tests import podman
from tests.conftest import wait_for
from tests.runs.conftest import folder_upload

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TRAIN = """
import os, sys
print("python", sys.executable)
os.makedirs("outputs", exist_ok=True)
open("outputs/model.txt", "w").write("weights")
for path in ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory.max"):
    if os.path.exists(path):
        print("memory-limit", open(path).read().strip())
"""
HOG = "chunks = []\nwhile True:\n    chunks.append(bytearray(16 * 1024 * 1024))\n"
SLEEPER = "import time\nprint('sleeping', flush=True)\ntime.sleep(300)\n"


@pytest.fixture
def engine(engine_target):
    target = engine_target("engine1")
    services.target_check(target_id=target.pk)
    return target


def submit(team, target, script_text, environment=None):
    snapshot = runs.snapshot_create(workspace=team.workspace, files=folder_upload({"train.py": script_text}))
    return runs.run_submit(
        workspace=team.workspace,
        user=team.contributor,
        experiment_name="docker",
        snapshot=snapshot,
        script="train.py",
        arguments=[],
        target=target,
        environment=environment or runs.environment_spec(kind="user"),
    )


def finished(run, timeout=90):
    from runs.models import Run

    return wait_for(
        lambda: Run.objects.filter(pk=run.pk, ended_at__isnull=False).first(),
        timeout=timeout,
        message="run end",
    )


def stdout(run):
    return "".join(run.log_chunks.filter(stream="stdout").order_by("seq").values_list("text", flat=True))


def system(run):
    return "".join(run.log_chunks.filter(stream="system").order_by("seq").values_list("text", flat=True))


def instance(team, memory_gb=0.5):
    return ComputeTarget.objects.create(
        workspace=team.workspace,
        name=f"ci-{uuid.uuid4().hex[:6]}",
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


def test_use_docker_on_the_local_computer_builds_the_image_once(worker, team, engine):
    local = wait_for(
        lambda: ComputeTarget.objects.filter(
            workspace=team.workspace, kind="local", state=TargetState.SUCCEEDED
        ).first()
    )
    spec = runs.environment_spec(
        kind="pip",
        requirements=f"--no-index\n# {uuid.uuid4().hex}",
        docker=True,
        base_image=podman.PYTHON_IMAGE,
    )
    spec["requirements"] += f"\n# {uuid.uuid4().hex}"
    first = finished(submit(team, local, TRAIN, spec))
    try:
        assert first.status == RunStatus.COMPLETED, first.error
        assert "python /opt/portal-env/bin/python3" in stdout(first)
        assert "python3 -m venv" in system(first)  # the build log, streamed as system lines
        assert "Image built in" in first.environment_note
        second = finished(submit(team, local, TRAIN, spec))
        assert second.status == RunStatus.COMPLETED and "Image cache hit" in second.environment_note
        assert "python3 -m venv" not in system(second)
    finally:
        from compute.backends.docker_images import env_image_tag

        podman.podman("rmi", "-f", env_image_tag(podman.PYTHON_IMAGE, spec["hash"]))


def test_container_instance_run_with_limits_outputs_and_cleanup(worker, team, engine):
    target = instance(team)
    run = finished(submit(team, target, TRAIN))
    assert run.status == RunStatus.COMPLETED, run.error
    assert f"memory-limit {512 * 1024 * 1024}" in stdout(run)
    assert [o.path for o in run.outputs.all()] == ["model.txt"]
    assert not podman.podman("ps", "-aq", "--filter", f"label={podman.LABEL}={target.pk}").stdout.strip()


def test_container_instance_out_of_memory(worker, team, engine):
    run = finished(submit(team, instance(team, memory_gb=0.1), HOG))
    assert run.status == RunStatus.FAILED and run.exit_code == 137
    assert run.error.startswith("killed: out of memory")


def test_container_instance_cancel_stops_it(worker, team, engine):
    from runs.models import Run

    target = instance(team)
    run = submit(team, target, SLEEPER)
    wait_for(lambda: "sleeping" in stdout(run), timeout=60)
    runs.run_cancel(run=Run.objects.get(pk=run.pk), user=team.contributor)
    run = finished(run, timeout=30)
    assert run.status == RunStatus.CANCELED
    assert not podman.podman("ps", "-aq", "--filter", f"label={podman.LABEL}={target.pk}").stdout.strip()


def test_run_in_a_created_vm(worker, team, engine):
    vm = lifecycle.target_create(
        workspace=team.workspace,
        user=team.owner,
        kind="docker-vm",
        name="vm-run",
        config={"engine": "engine1", "cpus": 1, "memory_gb": 0.5, "gpus": 0, "image": podman.PYTHON_IMAGE},
    )
    wait_for(lambda: ComputeTarget.objects.get(pk=vm.pk).state == TargetState.SUCCEEDED, timeout=60)
    used = ComputeTarget.objects.get(pk=vm.pk).last_used_at
    run = finished(submit(team, ComputeTarget.objects.get(pk=vm.pk), TRAIN))
    assert run.status == RunStatus.COMPLETED, run.error
    assert "python /usr/bin/python3" in stdout(run) and f"memory-limit {512 * 1024 * 1024}" in stdout(run)
    assert ComputeTarget.objects.get(pk=vm.pk).last_used_at > used
    assert not ComputeTarget.objects.get(pk=vm.pk).has_active_runs()


def test_cancel_during_the_image_build(worker, team, engine):
    from runs.models import Run

    local = wait_for(
        lambda: ComputeTarget.objects.filter(
            workspace=team.workspace, kind="local", state=TargetState.SUCCEEDED
        ).first()
    )
    # An index that refuses connections: pip retries, printing a line each time.
    spec = runs.environment_spec(
        kind="pip",
        requirements=f"--index-url http://127.0.0.1:9/simple\nportal-nothing-{uuid.uuid4().hex[:8]}",
        docker=True,
        base_image=podman.PYTHON_IMAGE,
    )
    run = submit(team, local, TRAIN, spec)
    wait_for(lambda: "Retrying" in system(run), timeout=60, message="pip retrying")
    runs.run_cancel(run=Run.objects.get(pk=run.pk), user=team.contributor)
    run = finished(run, timeout=30)
    assert run.status == RunStatus.CANCELED and run.error == "Canceled during the image build."
    from compute.backends.docker_images import env_image_tag

    assert not podman.image_exists(env_image_tag(podman.PYTHON_IMAGE, spec["hash"]))
