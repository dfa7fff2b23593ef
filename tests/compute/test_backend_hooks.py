"""Per-kind rules live in the backends: the pages and services only ask hooks."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.template.loader import get_template

from compute import services
from compute.backends import BACKENDS, get_backend
from compute.models import ComputeTarget, Origin, TargetState


@pytest.mark.parametrize("kind", list(BACKENDS))
def test_each_kind_has_a_status_partial_of_its_own(kind):
    backend = get_backend(kind)
    assert backend.status_template == f"compute/backends/_{kind.replace('-', '_')}_status.html"
    get_template(backend.status_template)  # exists and compiles


def test_no_template_tests_a_kind_name():
    names = "|".join(re.escape(kind) for kind in BACKENDS)
    pattern = re.compile(rf"kind\s*[!=]=\s*['\"]({names})['\"]")
    templates = Path(settings.BASE_DIR) / "templates"
    found = [
        f"{path.relative_to(templates)}: {match.group(0)}"
        for path in templates.rglob("*.html")
        for match in pattern.finditer(path.read_text())
    ]
    assert found == []


def test_only_kinds_that_run_scripts_say_so():
    runnable = {kind for kind in BACKENDS if get_backend(kind).can_run}
    assert runnable == {"local", "ssh", "docker-vm", "container", "slurm"}


def test_ssh_status_page_shows_address_and_pinned_key(team, login):
    target = ComputeTarget.objects.create(
        workspace=team.workspace,
        name="vm1",
        kind="ssh",
        state=TargetState.SUCCEEDED,
        config={"address": "127.0.0.1", "port": 2222, "username": "u", "workdir": "portal"},
    )
    page = login(team.reader).get("/compute/vm1/").content.decode()
    properties = page[page.index(f'id="target-{target.pk}-properties"') :]
    assert f"127.0.0.1:{target.config['port']}" in properties and "Pinned host key" in properties
    assert "Endpoint" not in properties and "Idle shutdown" not in properties
    # the private key is replaced in a textarea, the password in a password box
    assert 'aria-label="New private key"></textarea>' in page
    assert (
        'type="password" name="value" class="form-control form-control-sm" placeholder="New password"' in page
    )


def test_local_page_offers_no_detach_and_its_own_rows(team, login):
    page = login(team.owner).get("/compute/local/").content.decode()
    assert "/compute/local/detach/" not in page and "Working directory" in page
    assert "Pinned host key" not in page


def _engine(team, name="engine1", state=TargetState.SUCCEEDED):
    return ComputeTarget.objects.create(
        workspace=team.workspace,
        name=name,
        kind="docker",
        state=state,
        config={"endpoint": "tcp://build1.lan:2376"},
        capabilities={"cpus": 4, "memory_mb": 8192, "images": ["python:3.11"]},
    )


def _created_on(engine, kind, name):
    return ComputeTarget.objects.create(
        workspace=engine.workspace,
        name=name,
        kind=kind,
        origin=Origin.CREATED,
        state=TargetState.SUCCEEDED,
        config={"engine": engine.name, "cpus": 1, "memory_gb": 1, "gpus": 0, "image": "python:3.11"},
    )


def test_an_engine_hosting_created_targets_refuses_to_detach(team):
    engine = _engine(team)
    _created_on(engine, "docker-vm", "vm-a")
    with pytest.raises(services.TargetActionError, match="engine1 hosts vm-a: delete those first"):
        services.target_detach(target=engine, user=team.owner)
    assert ComputeTarget.objects.filter(pk=engine.pk).exists()
    ComputeTarget.objects.filter(name="vm-a").delete()
    services.target_detach(target=engine, user=team.owner)
    assert not ComputeTarget.objects.filter(pk=engine.pk).exists()


@pytest.mark.parametrize(
    "kind,says",
    [
        ("docker-vm", "The container on engine1 is removed with every file inside it."),
        ("container", "forgets this container instance and removes the containers kept"),
    ],
)
def test_delete_page_says_what_the_kind_removes(team, login, kind, says):
    target = _created_on(_engine(team), kind, "made1")
    page = login(team.contributor).get(f"/compute/{target.name}/delete/").content.decode()
    assert says in page


@pytest.mark.parametrize(
    "kind,rows,absent",
    [
        ("docker-vm", ["Container", "Idle shutdown", "Base image", "Working directory"], "Endpoint"),
        ("container", ["Base image", "Limits", "Working directory"], "Idle shutdown"),
    ],
)
def test_created_kinds_show_their_own_rows(team, login, kind, rows, absent):
    target = _created_on(_engine(team), kind, "made1")
    page = login(team.reader).get(f"/compute/{target.name}/").content.decode()
    properties = page[page.index(f'id="target-{target.pk}-properties"') :]
    for row in rows:
        assert f"<th>{row}</th>" in properties
    assert f"<th>{absent}</th>" not in properties
    assert "/detach/" not in page and f"/compute/{target.name}/delete/" in page


def test_engine_page_replaces_tls_material_in_textareas(team, login):
    engine = _engine(team)
    page = login(team.contributor).get(f"/compute/{engine.name}/").content.decode()
    assert f"<code>{engine.config['endpoint']}</code>" in page
    assert 'aria-label="New ca certificate"></textarea>' in page
    assert f"/compute/{engine.name}/detach/" in page
