"""Docker-enabled environments: base image + pip spec built into an image,
tagged by the spec hash and reused."""

import uuid

import pytest

from compute import services
from compute.backends import docker as engines
from compute.backends.base import BackendError
from tests import podman

pytestmark = [pytest.mark.integration]


@pytest.fixture
def engine(engine_target):
    target = engine_target("engine1")
    services.target_check(target_id=target.pk)
    with engines.connect(target) as engine:
        yield engine


def test_image_built_once_then_reused(engine):
    spec = f"# offline spec {uuid.uuid4().hex}\n--no-index\n"
    tag = engines.env_image_tag(podman.PYTHON_IMAGE, spec)
    lines = []
    try:
        assert (
            engine.build_env_image(base=podman.PYTHON_IMAGE, requirements=spec, tag=tag, on_line=lines.append)
            == "built"
        )
        assert any("python3 -m venv" in line for line in lines)  # the build log streamed
        again = []
        assert (
            engine.build_env_image(base=podman.PYTHON_IMAGE, requirements=spec, tag=tag, on_line=again.append)
            == "hit"
        )
        assert again == []  # a cache hit builds nothing
        out = podman.podman("run", "--rm", tag, "sh", "-c", "command -v python").stdout
        assert out.strip() == f"{engines.ENV_PREFIX}/bin/python"
    finally:
        podman.podman("rmi", "-f", tag)


def test_a_broken_spec_fails_with_the_builds_own_error(engine):
    spec = "--no-index\nno-such-package-portal-test==1.0\n"
    tag = engines.env_image_tag(podman.PYTHON_IMAGE, spec)
    lines = []
    with pytest.raises(BackendError, match="The image build failed"):
        engine.build_env_image(base=podman.PYTHON_IMAGE, requirements=spec, tag=tag, on_line=lines.append)
    assert any("No matching distribution found for no-such-package-portal-test" in line for line in lines)
    assert not podman.image_exists(tag)


def test_a_missing_base_image_is_named(engine):
    with pytest.raises(BackendError, match=f"The image {podman.MISSING_IMAGE} is not on the engine"):
        engine.build_env_image(
            base=podman.MISSING_IMAGE, requirements="", tag="localhost/portal-env:x", on_line=print
        )
