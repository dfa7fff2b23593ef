"""Base images on the create forms: a Python default, images built since the
engine's last check found on demand, one image cache entry per pip spec."""

import pytest

from compute import services
from compute.backends.docker_forms import python_image
from compute.backends.docker_instance import ContainerInstanceForm
from compute.backends.docker_runs import backend_for_run
from compute.models import ComputeTarget, Origin, TargetState
from runs.services import environment_spec
from tests import podman


@pytest.fixture
def engine(engine_target):
    target = engine_target("engine1")
    services.target_check(target_id=target.pk)
    target.refresh_from_db()
    assert target.state == TargetState.SUCCEEDED, target.last_error
    return target


def instance_form(team, image):
    data = {"name": "ci1", "engine": "engine1", "cpus": "1", "memory_gb": "1", "gpus": "0", "image": image}
    return ContainerInstanceForm(data, workspace=team.workspace)


def test_python_image_is_the_first_that_says_python():
    assert python_image(["a/busybox:1", "localhost/python:3.11", "z/python:3.12"]) == "localhost/python:3.11"
    assert python_image(["a/busybox:1"]) == ""


@pytest.mark.integration
def test_create_form_defaults_to_a_python_image(team, engine):
    assert podman.BUSYBOX_IMAGE in engine.capabilities["images"]  # sorted first, the old default
    form = ContainerInstanceForm(workspace=team.workspace)
    assert form.fields["image"].initial == podman.PYTHON_IMAGE
    assert f"{podman.PYTHON_IMAGE} looks like a Python image" in form.fields["image"].help_text
    engine.capabilities = {**engine.capabilities, "images": [podman.BUSYBOX_IMAGE]}
    engine.save()
    form = ContainerInstanceForm(workspace=team.workspace)
    assert form.fields["image"].initial == podman.BUSYBOX_IMAGE
    assert "looks like a Python image" not in form.fields["image"].help_text


@pytest.mark.integration
def test_image_built_after_the_check_is_found_on_demand(team, engine):
    built_since = "localhost/portal-test-built-since:1"
    podman.podman("tag", podman.PYTHON_IMAGE, built_since)
    try:
        assert built_since not in engine.capabilities["images"]
        form = instance_form(team, built_since)
        assert form.is_valid(), form.errors
        engine.refresh_from_db()
        assert built_since in engine.capabilities["images"]  # remembered until the next check
    finally:
        podman.podman("rmi", "-f", built_since)


@pytest.mark.integration
def test_missing_image_is_refused_and_recheck_named_only_when_it_helps(team, engine):
    form = instance_form(team, podman.MISSING_IMAGE)
    assert not form.is_valid()
    assert "is not on engine1" in form.errors["image"][0] and "Re-check" not in form.errors["image"][0]
    engine.config = {**engine.config, "endpoint": "unix:///nonexistent/portal-engine.sock"}
    engine.save()
    form = instance_form(team, podman.MISSING_IMAGE)
    assert not form.is_valid()
    assert "Re-check engine1" in form.errors["image"][0]


def test_one_pip_spec_is_one_image_from_either_door(team):
    """A container instance's pip run and a "Use Docker" run on the same base
    image and requirements use the same image tag (one cache entry)."""
    engine = ComputeTarget.objects.create(
        workspace=team.workspace,
        name="engine1",
        kind="docker",
        origin=Origin.ATTACHED,
        state=TargetState.SUCCEEDED,
        config={"endpoint": "unix:///run/portal-test.sock"},
    )
    instance = ComputeTarget.objects.create(
        workspace=team.workspace,
        name="ci1",
        kind="container",
        origin=Origin.CREATED,
        state=TargetState.SUCCEEDED,
        config={"engine": engine.name, "cpus": 1, "memory_gb": 1, "gpus": 0, "image": "python:3.11-slim"},
    )
    local = ComputeTarget.objects.get(workspace=team.workspace, kind="local")
    pip = environment_spec(kind="pip", requirements="scikit-learn\n")
    docker = environment_spec(
        kind="pip", requirements="scikit-learn", docker=True, base_image="python:3.11-slim"
    )
    assert docker["hash"] == pip["hash"]
    assert backend_for_run(instance, pip).tag == backend_for_run(local, docker).tag
    other_base = environment_spec(
        kind="pip", requirements="scikit-learn", docker=True, base_image="python:3.12"
    )
    assert backend_for_run(local, other_base).tag != backend_for_run(local, docker).tag
