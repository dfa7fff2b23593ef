"""The "+ Add compute" page: Create new and Use existing side by side; the
forms of the kinds that put containers on an engine."""

import pytest

from compute import services
from tests import podman

pytestmark = [pytest.mark.integration]


def test_create_new_and_use_existing_side_by_side(team, login):
    page = login(team.contributor).get("/compute/add/").content.decode()
    create, attach = page.index('id="add-create"'), page.index('id="add-attach"')
    create_part, attach_part = page[create:attach], page[attach:]
    assert "Create new" in create_part and "Use existing" in attach_part
    for kind in ("docker-vm", "container"):
        assert f'id="kind-{kind}"' in create_part and f'id="kind-{kind}"' not in attach_part
    for kind in ("ssh", "docker"):
        assert f'id="kind-{kind}"' in attach_part
    assert "Virtual machine" in create_part and "Virtual machine" in attach_part


@pytest.fixture
def engine(engine_target):
    target = engine_target("engine1")
    services.target_check(target_id=target.pk)
    target.refresh_from_db()
    return target


def test_vm_form_offers_checked_engines_and_their_images(team, login, engine):
    response = login(team.contributor).get("/compute/add/?kind=docker-vm", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="kind-form">')
    assert '<option value="engine1"' in html and f'<option value="{podman.PYTHON_IMAGE}">' in html
    assert "Idle shutdown" in html


@pytest.mark.parametrize(
    "extra,error",
    [
        ({"cpus": "999"}, "engine1 has"),
        ({"memory_gb": "100000"}, "GB of memory"),
        ({"gpus": "1"}, "has no GPU runtime"),
        ({"image": "localhost/nope:1"}, "is not on engine1 (images are never pulled)"),
        ({"engine": "other"}, "Select a valid choice"),
    ],
)
def test_vm_form_says_what_is_wrong(team, login, engine, extra, error):
    data = {
        "kind": "docker-vm",
        "name": "vm1",
        "engine": "engine1",
        "cpus": "1",
        "memory_gb": "1",
        "gpus": "0",
        "image": podman.PYTHON_IMAGE,
        **extra,
    }
    response = login(team.contributor).post("/compute/add/", data)
    assert response.status_code == 400
    assert error in response.content.decode()


def test_without_an_engine_the_form_says_to_attach_one(team, login):
    html = login(team.contributor).get("/compute/add/?kind=container").content.decode()
    assert "No engine yet: attach a Docker engine first." in html


def test_readers_cannot_create_or_stop(team, login, engine):
    reader = login(team.reader)
    assert reader.post("/compute/add/", {"kind": "docker-vm", "name": "vmx"}).status_code == 403
    assert reader.post("/compute/engine1/stop/").status_code == 403
    assert reader.post("/compute/engine1/delete/").status_code == 403
    assert login(team.outsider).post("/compute/engine1/start/").status_code in (403, 404)
