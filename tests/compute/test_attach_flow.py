"""Attach a VM end to end: view → Celery task on a real worker (Redis broker) →
real sshd → pushes over the Redis channel layer to websocket clients."""

import asyncio
import shutil

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator

from compute import hostkeys
from compute.models import ComputeTarget, TargetState
from compute.tasks import check_all_targets
from portal.asgi import application
from tests import servers
from tests.conftest import SSH_PASSWORD, SSH_USER, wait_for

pytestmark = [pytest.mark.integration]


@pytest.fixture
def own_sshd(ssh_env, tmp_path):
    """A second sshd of our own (same users and keys), free to be stopped or re-keyed."""
    folder = ssh_env.folder / f"own-{tmp_path.name}"
    folder.mkdir(mode=0o755)
    shutil.copy(ssh_env.server.folder / "authorized_keys", folder / "authorized_keys")
    host_key = servers.make_host_key(folder / "host_key")
    server = servers.SSHServer(folder, servers.free_port(), host_key).start()
    yield server
    server.stop()


def socket_for(path, client):
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    return WebsocketCommunicator(
        application, path, headers=[(b"origin", b"http://testserver"), (b"cookie", cookie)]
    )


async def frames_until(communicator, text, timeout=20):
    """Every frame received until one contains ``text``."""
    frames = []
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise AssertionError(f"no frame with {text!r} after {timeout} s; got {[f[:120] for f in frames]}")
        frame = await communicator.receive_from(timeout=remaining)
        frames.append(frame)
        if text in frame:
            return frames


def test_attach_confirm_fingerprint_and_succeed_live(worker, team, login, own_sshd):
    client = login(team.contributor)
    list_client = login(team.reader)

    async def scenario():
        listing = socket_for(f"/ws/workspaces/{team.workspace.pk}/targets/", list_client)
        assert (await listing.connect())[0]
        response = await sync_to_async(client.post)(
            "/compute/add/",
            {
                "kind": "ssh",
                "name": "vm-live",
                "address": "127.0.0.1",
                "port": own_sshd.port,
                "username": SSH_USER,
                "password": SSH_PASSWORD,
                "workdir": "portal-runs",
            },
        )
        assert response.status_code == 302
        target = await ComputeTarget.objects.aget(name="vm-live")
        page = socket_for(f"/ws/targets/{target.pk}/", client)
        assert (await page.connect())[0]

        # First contact: the host key is fetched and shown, nothing else happens.
        frames = await frames_until(page, "Confirm the host key")
        fingerprint = hostkeys.fingerprint(own_sshd.host_key)
        assert fingerprint in frames[-1]
        await target.arefresh_from_db()
        assert target.state == TargetState.HOST_KEY_PENDING and not target.host_key

        response = await sync_to_async(client.post)(
            "/compute/vm-live/host-key/", {"action": "confirm", "fingerprint": fingerprint}
        )
        assert response.status_code == 302
        frames = await frames_until(page, ">Succeeded</span>")
        steps = " ".join(frames)
        assert steps.index("Connecting to") < steps.index("Authenticating as") < steps.index("Preflight:")
        assert "Python" in frames[-1] and f'id="target-{target.pk}-capabilities"' in frames[-1]
        # The listing also carries the local computer's rows (its own check): wait for this one's.
        row = await frames_until(listing, f'id="target-{target.pk}-row"')
        while ">Succeeded</span>" not in row[-1]:
            row = await frames_until(listing, f'id="target-{target.pk}-row"')
        await page.disconnect()
        await listing.disconnect()

    async_to_sync(scenario)()
    target = ComputeTarget.objects.get(name="vm-live")
    assert target.host_key == own_sshd.host_key and target.last_checked
    reasons = [e.reason for e in target.events.order_by("at", "pk")]
    assert reasons[0] == "Attach requested."
    assert any(f"Host key {hostkeys.fingerprint(own_sshd.host_key)} confirmed" in r for r in reasons)
    assert reasons[-1].startswith("Check passed:")


def test_changed_host_key_blocks_until_an_owner_repins(worker, team, login, own_sshd, ssh_target):
    target = ssh_target("vm-rekey", port=own_sshd.port, host_key=own_sshd.host_key)
    check_all_targets.delay(include_attaching=True)
    wait_for(
        lambda: ComputeTarget.objects.get(pk=target.pk).state == TargetState.SUCCEEDED, message="first check"
    )
    old = own_sshd.host_key
    own_sshd.new_host_key()

    assert login(team.contributor).post("/compute/vm-rekey/check/").status_code == 302
    target = wait_for(
        lambda: ComputeTarget.objects.filter(pk=target.pk, state=TargetState.FAILED).first(),
        message="failure",
    )
    assert "HOST KEY CHANGED" in target.last_error
    assert target.host_key == old and target.pending_host_key == own_sshd.host_key

    page = login(team.owner).get("/compute/vm-rekey/").content.decode()
    assert hostkeys.fingerprint(old) in page and hostkeys.fingerprint(own_sshd.host_key) in page
    new_fingerprint = hostkeys.fingerprint(own_sshd.host_key)
    refused = login(team.contributor).post(
        "/compute/vm-rekey/host-key/", {"action": "confirm", "fingerprint": new_fingerprint}
    )
    assert refused.status_code == 403
    # a stale confirmation (of a fingerprint not presented) changes nothing
    login(team.owner).post(
        "/compute/vm-rekey/host-key/", {"action": "confirm", "fingerprint": hostkeys.fingerprint(old)}
    )
    assert ComputeTarget.objects.get(pk=target.pk).host_key == old

    login(team.owner).post(
        "/compute/vm-rekey/host-key/", {"action": "confirm", "fingerprint": new_fingerprint}
    )
    wait_for(
        lambda: ComputeTarget.objects.get(pk=target.pk).state == TargetState.SUCCEEDED,
        message="re-pinned check",
    )
    assert ComputeTarget.objects.get(pk=target.pk).host_key == own_sshd.host_key
    assert target.events.filter(reason__startswith="Host key re-pinned", actor=team.owner).exists()


def test_periodic_check_marks_a_vanished_host_unreachable_then_back(worker, team, own_sshd, ssh_target):
    target = ssh_target("vm-flaky", port=own_sshd.port, host_key=own_sshd.host_key)
    check_all_targets.delay(include_attaching=True)
    first = wait_for(lambda: ComputeTarget.objects.filter(pk=target.pk, state=TargetState.SUCCEEDED).first())
    own_sshd.stop()
    check_all_targets.delay()
    gone = wait_for(lambda: ComputeTarget.objects.filter(pk=target.pk, state=TargetState.UNREACHABLE).first())
    assert "Connection refused" in gone.last_error and gone.last_checked > first.last_checked
    own_sshd.start()
    check_all_targets.delay()
    wait_for(lambda: ComputeTarget.objects.filter(pk=target.pk, state=TargetState.SUCCEEDED).first())


@pytest.mark.parametrize(
    "kwargs,reason",
    [
        ({"password": "wrong-password"}, "wrong password"),
        ({"user": "__nopy__"}, "No python3 found"),
    ],
)
def test_failed_attach_says_why(worker, team, ssh_env, ssh_target, kwargs, reason):
    if kwargs.get("user") == "__nopy__":
        kwargs["user"] = ssh_env.nopy_user
    target = ssh_target("vm-bad", **kwargs)
    check_all_targets.delay(include_attaching=True)
    failed = wait_for(lambda: ComputeTarget.objects.filter(pk=target.pk, state=TargetState.FAILED).first())
    assert reason in failed.last_error and failed.activity == ""
