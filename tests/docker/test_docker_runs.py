"""Docker-enabled runs at the backend level: the environment image is built on
the engine that belongs to the target, reused, and the run uses its Python."""

import uuid

import pytest

from compute import services
from compute.backends import docker as engines
from compute.backends.base import BackendError
from compute.backends.docker_runs import DockerRunBackend
from compute.models import ComputeTarget, TargetState
from tests import podman
from tests.docker.test_runs_backend import launch, wait_ended

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WHICH = b"import sys\nprint(sys.executable)\n"


@pytest.fixture
def local(team):
    return ComputeTarget.objects.get(workspace=team.workspace, kind="local")


def test_docker_run_on_the_local_computer_builds_once_and_uses_the_env(local, engine_target, tmp_path):
    engine = engine_target("engine1")
    services.target_check(target_id=engine.pk)
    spec = f"--no-index\n# {uuid.uuid4().hex}\n"
    backend = DockerRunBackend(local, base_image=podman.PYTHON_IMAGE, requirements=spec, spec_hash=spec)
    lines = []
    try:
        assert backend.prepare_image(lines.append) == "built" and lines
        handle = launch(backend, tmp_path, WHICH, f"dock-{uuid.uuid4().hex[:8]}")
        assert wait_ended(backend, handle).exit_code == 0
        assert backend.read_logs(handle, {})["stdout"].decode().strip() == f"{engines.ENV_PREFIX}/bin/python3"
        backend.fetch_outputs(handle, tmp_path / "out.tar.gz")
        backend.close()

        again = DockerRunBackend(local, base_image=podman.PYTHON_IMAGE, requirements=spec, spec_hash=spec)
        assert again.prepare_image(lines.append) == "hit"  # image cache hit: nothing built
        again.close()
    finally:
        podman.podman("rmi", "-f", backend.tag)


def test_docker_run_needs_an_engine_on_the_target(local, ssh_target):
    with pytest.raises(BackendError, match="Use Docker needs a Docker engine on local"):
        DockerRunBackend(local, base_image="x", requirements="", spec_hash="h")
    vm = ssh_target("vm1", state=TargetState.SUCCEEDED)
    with pytest.raises(BackendError, match="through this VM"):
        DockerRunBackend(vm, base_image="x", requirements="", spec_hash="h")
