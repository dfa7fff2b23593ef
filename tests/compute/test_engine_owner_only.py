"""A unix:// Docker engine is root on the portal's own host: owners only."""

import pytest

from compute import services
from compute.models import ComputeTarget

SOCKET = "unix:///var/run/docker.sock"


def test_a_contributor_gets_a_form_error_and_nothing_is_saved(team, login):
    response = login(team.contributor).post(
        "/compute/add/", {"kind": "docker", "name": "host-engine", "endpoint": SOCKET}
    )
    assert response.status_code == 400
    assert "only a workspace owner can attach one" in response.content.decode()
    assert not ComputeTarget.objects.filter(name="host-engine").exists()


def test_the_service_refuses_a_contributor_too(team):
    with pytest.raises(services.TargetActionError, match="root on the portal's own host"):
        services.target_attach(
            workspace=team.workspace,
            user=team.contributor,
            kind="docker",
            name="host-engine",
            config={"endpoint": SOCKET},
            secrets={},
        )
    assert not ComputeTarget.objects.filter(name="host-engine").exists()


def test_an_owner_attaches_it(team, login):
    response = login(team.owner).post(
        "/compute/add/", {"kind": "docker", "name": "host-engine", "endpoint": SOCKET}
    )
    assert response.status_code == 302
    target = ComputeTarget.objects.get(workspace=team.workspace, name="host-engine")
    assert target.config == {"endpoint": SOCKET} and target.origin == "attached"


def test_a_contributor_may_attach_a_remote_engine(team):
    target = services.target_add(
        workspace=team.workspace,
        user=team.contributor,
        kind="docker",
        name="remote-engine",
        config={"endpoint": "tcp://build1.lan:2376"},
        secrets={"tls_ca": "-----BEGIN CERTIFICATE-----", "tls_cert": "c", "tls_key": "k"},
    )
    assert target.kind == "docker" and sorted(target.encrypted_secrets) == ["tls_ca", "tls_cert", "tls_key"]
