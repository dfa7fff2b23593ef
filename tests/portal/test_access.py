"""Who may see and change what: anonymous, outsider, reader, contributor, owner."""

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator

from compute.models import ComputeTarget
from portal.asgi import application

READ_PAGES = ["/", "/compute/", "/compute/local/", "/workspace/members/", "/dashboard/"]


@pytest.mark.parametrize("path", [*READ_PAGES, "/compute/add/"])
def test_anonymous_is_sent_to_login(client, db, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.url == f"/login/?next={path}"


@pytest.mark.parametrize("path", READ_PAGES)
def test_reader_sees_every_page(team, login, path):
    assert login(team.reader).get(path).status_code == 200


@pytest.mark.integration
def test_outsider_gets_404_for_another_workspaces_target(team, login, ssh_target):
    ssh_target("vm1")
    client = login(team.outsider)
    for path in ["/compute/vm1/", "/compute/vm1/detach/"]:
        assert client.get(path).status_code == 404
    for path in [
        "/compute/vm1/check/",
        "/compute/vm1/host-key/",
        "/compute/vm1/secrets/password/",
        "/compute/vm1/detach/",
    ]:
        assert client.post(path).status_code == 404
    assert ComputeTarget.objects.filter(name="vm1").exists()


@pytest.mark.integration
def test_outsiders_own_list_does_not_show_our_targets(team, login, ssh_target):
    ssh_target("secret-vm")
    page = login(team.outsider).get("/compute/").content.decode()
    assert "secret-vm" not in page


@pytest.mark.integration
@pytest.mark.parametrize(
    "path,data",
    [
        (
            "/compute/add/",
            {
                "kind": "ssh",
                "name": "x1",
                "address": "127.0.0.1",
                "port": 22,
                "username": "u",
                "password": "p",
                "workdir": "w",
            },
        ),
        ("/compute/vm1/check/", {}),
        ("/compute/vm1/host-key/", {"action": "confirm"}),
        ("/compute/vm1/secrets/password/", {"action": "clear"}),
        ("/compute/vm1/detach/", {}),
        ("/workspace/members/", {"username": "rita", "role": "owner"}),
    ],
)
def test_reader_gets_403_on_every_change(team, login, ssh_target, path, data):
    target = ssh_target("vm1")
    before = (ComputeTarget.objects.count(), target.encrypted_secrets)
    response = login(team.reader).post(path, data)
    assert response.status_code == 403
    target.refresh_from_db()
    assert (ComputeTarget.objects.count(), target.encrypted_secrets) == before


def test_contributor_cannot_manage_members(team, login):
    membership = team.reader.memberships.get()
    response = login(team.contributor).post(f"/workspace/members/{membership.pk}/", {"role": "owner"})
    assert response.status_code == 403
    membership.refresh_from_db()
    assert membership.role == "reader"


def test_switching_to_a_foreign_workspace_is_404(team, login):
    response = login(team.owner).post(f"/workspaces/{team.other_workspace.slug}/switch/")
    assert response.status_code == 404


# ---- websockets ---------------------------------------------------------------


def _connect(path, *, origin=b"http://testserver", client=None):
    headers = [(b"origin", origin)] if origin else []
    if client is not None:
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))

    async def go():
        communicator = WebsocketCommunicator(application, path, headers=headers)
        connected, _ = await communicator.connect()
        await communicator.disconnect()
        return connected

    return async_to_sync(go)()


@pytest.fixture
def target_path(team):
    target = ComputeTarget.objects.get(workspace=team.workspace, kind="local")
    return f"/ws/targets/{target.pk}/"


@pytest.mark.django_db(transaction=True)
def test_websocket_member_with_session_connects(team, login, target_path):
    assert _connect(target_path, client=login(team.reader)) is True


@pytest.mark.django_db(transaction=True)
def test_websocket_without_session_is_refused(team, target_path):
    assert _connect(target_path) is False


@pytest.mark.django_db(transaction=True)
def test_websocket_from_a_foreign_origin_is_refused(team, login, target_path):
    assert _connect(target_path, origin=b"http://evil.example", client=login(team.owner)) is False


@pytest.mark.django_db(transaction=True)
def test_websocket_without_origin_is_refused(team, login, target_path):
    assert _connect(target_path, origin=None, client=login(team.owner)) is False


@pytest.mark.django_db(transaction=True)
def test_websocket_for_another_workspaces_object_is_refused(team, login, target_path):
    client = login(team.outsider)
    assert _connect(target_path, client=client) is False
    assert _connect(f"/ws/workspaces/{team.workspace.pk}/targets/", client=client) is False
    assert _connect(f"/ws/workspaces/{team.other_workspace.pk}/targets/", client=client) is True


@pytest.mark.django_db(transaction=True)
def test_the_secret_scan_catches_a_leak_in_a_frame(team, login, target_path):
    """The scan itself can fail: a frame holding a planted secret is refused."""
    from compute.models import ComputeTarget
    from tests.conftest import SSH_PASSWORD
    from tests.secret_scan import SecretLeak

    ComputeTarget.objects.filter(workspace=team.workspace, kind="local").update(last_error=SSH_PASSWORD)
    with pytest.raises(SecretLeak):
        _connect(target_path, client=login(team.owner))
