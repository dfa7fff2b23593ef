"""Container instances: created on an engine, checked = engine reachable + image present."""

import pytest

from compute import services
from compute.models import ComputeTarget, Origin, TargetState
from tests import podman
from tests.conftest import wait_for

pytestmark = [pytest.mark.integration]


@pytest.fixture
def engine(engine_target):
    target = engine_target("engine1")
    services.target_check(target_id=target.pk)
    return target


def instance_form(**extra):
    return {
        "kind": "container",
        "name": "ci1",
        "engine": "engine1",
        "cpus": "1",
        "memory_gb": "1",
        "gpus": "0",
        "image": podman.PYTHON_IMAGE,
        **extra,
    }


def test_create_a_container_instance(worker, team, login, engine):
    client = login(team.contributor)
    assert client.post("/compute/add/", instance_form()).status_code == 302
    target = wait_for(lambda: ComputeTarget.objects.filter(name="ci1", state=TargetState.SUCCEEDED).first())
    assert target.origin == Origin.CREATED and target.kind == "container"
    reason = target.events.first().reason
    assert f"engine engine1 reachable, image {podman.PYTHON_IMAGE} present" in reason
    assert "1 CPUs, 1 GB memory, 0 GPUs" in reason
    page = client.get("/compute/ci1/").content.decode()
    assert "Each run gets" in page and 'id="target-delete"' in page and 'id="target-stop"' not in page

    assert client.post("/compute/ci1/delete/").status_code == 302
    wait_for(lambda: not ComputeTarget.objects.filter(name="ci1").exists())


def test_instance_whose_image_went_missing_fails_its_check(worker, team, engine):
    from compute import lifecycle

    target = lifecycle.target_create(
        workspace=team.workspace,
        user=team.owner,
        kind="container",
        name="ci-missing",
        config={"engine": "engine1", "cpus": 1, "memory_gb": 1, "gpus": 0, "image": podman.MISSING_IMAGE},
    )
    failed = wait_for(lambda: ComputeTarget.objects.filter(pk=target.pk, state=TargetState.FAILED).first())
    assert f"The image {podman.MISSING_IMAGE} is not on the engine" in failed.last_error
    assert "never pulled" in failed.last_error


def test_an_engine_hosting_targets_cannot_be_detached(team, engine):
    ComputeTarget.objects.create(
        workspace=team.workspace,
        name="ci2",
        kind="container",
        origin=Origin.CREATED,
        config={"engine": "engine1"},
    )
    with pytest.raises(services.TargetActionError, match="hosts ci2: delete those first"):
        services.target_detach(target=engine, user=team.owner)
