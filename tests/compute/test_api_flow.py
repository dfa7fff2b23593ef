"""Attach a VM through the REST API alone, end to end: the real worker checks the
real sshd, the host key is confirmed by its fingerprint, then the VM is detached.
Every response passes the planted-secret scan."""

import pytest

from compute import hostkeys
from tests.compute.test_api import Api
from tests.conftest import SSH_PASSWORD, SSH_USER, wait_for
from tests.factories import make_token

pytestmark = [pytest.mark.integration]


def test_attach_confirm_check_and_detach_over_the_api(worker, team, ssh_env):
    api = Api(team.workspace.slug, token=make_token(team.contributor, team.workspace))
    body = {"kind": "ssh", "name": "vm-api", "address": "127.0.0.1", "port": ssh_env.port}
    body |= {"username": SSH_USER, "password": SSH_PASSWORD, "workdir": "portal-runs"}
    created = api.post("/computes/", body)
    assert created.status_code == 201, created.json()

    def state_is(state):
        target = api.get("/computes/vm-api/").json()
        return target if target["state"] == state and not target["activity"] else None

    pending = wait_for(lambda: state_is("HostKeyPending"), message="the host key to be presented")
    fingerprint = hostkeys.fingerprint(ssh_env.host_key)
    assert pending["host_key_pending"] == {"fingerprint": fingerprint, "replaces": None}
    assert fingerprint in pending["state_reason"]

    confirmed = api.post("/computes/vm-api/host-key/", {"fingerprint": fingerprint})
    assert confirmed.status_code == 200 and confirmed.json()["state"] == "Attaching"
    ready = wait_for(lambda: state_is("Succeeded"), timeout=60, message="the check to pass")
    assert ready["state_reason"].startswith("Check passed") and "CPUs" in ready["summary"]
    assert ready["capabilities"]["pythons"] and ready["secrets_set"] == ["password"]

    again = api.post("/computes/vm-api/check/")
    assert again.status_code == 202 and again.json()["activity"] == "Queued for a check"
    wait_for(lambda: state_is("Succeeded"), timeout=60, message="the second check")

    events = api.get("/computes/vm-api/events/").json()
    states = [e["state"] for e in reversed(events)]
    assert states[:4] == ["Attaching", "HostKeyPending", "Attaching", "Succeeded"]
    assert next(e for e in events if "confirmed and pinned" in e["message"])["actor"] == "carlos"

    assert api.delete("/computes/vm-api/").status_code == 202
    assert api.get("/computes/vm-api/").status_code == 404
