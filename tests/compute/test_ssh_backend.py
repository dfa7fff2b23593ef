"""The SSH backend against a real OpenSSH server on loopback."""

import time

import pytest

from compute.backends.base import BackendError, HostKeyChanged, HostKeyUnconfirmed
from tests import servers
from tests.conftest import KEY_PASSPHRASE, SSH_USER

pytestmark = pytest.mark.integration


def check(target):
    steps = []
    caps = target.backend.check(steps.append)
    return caps, steps


def test_password_auth_runs_the_preflight(ssh_target):
    caps, steps = check(ssh_target())
    assert [s.split()[0] for s in steps] == ["Connecting", "Authenticating", "Preflight:"]
    assert caps["os"] == "Linux" and caps["cpus"] >= 1
    assert any(p["version"].startswith("3.") for p in caps["pythons"])
    assert caps["workdir"] == "portal-runs"


def test_key_auth(ssh_target, ssh_env):
    caps, _ = check(ssh_target(key=ssh_env.key))
    assert caps["pythons"]


def test_encrypted_key_with_passphrase(ssh_target, ssh_env):
    caps, _ = check(ssh_target(key=ssh_env.encrypted_key, passphrase=KEY_PASSPHRASE))
    assert caps["pythons"]


def test_encrypted_key_with_wrong_passphrase(ssh_target, ssh_env):
    with pytest.raises(BackendError, match="wrong passphrase") as exc:
        check(ssh_target(key=ssh_env.encrypted_key, passphrase="not-it"))
    assert exc.value.permanent


def test_wrong_password(ssh_target):
    with pytest.raises(BackendError, match=f"Authentication failed for {SSH_USER} .*wrong password") as exc:
        check(ssh_target(password="wrong-password"))
    assert exc.value.permanent


def test_closed_port(ssh_target):
    with pytest.raises(BackendError, match="Connection refused") as exc:
        check(ssh_target(port=servers.free_port()))
    assert not exc.value.permanent


def test_host_that_hangs_times_out(ssh_target, settings):
    settings.SSH_CONNECT_TIMEOUT = 1.5
    hanging = servers.HangingServer()
    try:
        started = time.monotonic()
        with pytest.raises(BackendError, match="did not complete the SSH handshake within 2 s"):
            check(ssh_target(port=hanging.port))
        assert time.monotonic() - started < 10
    finally:
        hanging.close()


def test_first_contact_asks_for_the_key_and_sends_nothing(ssh_target, ssh_env):
    target = ssh_target(host_key="")
    log = ssh_env.server.folder / "sshd.log"
    before = len(log.read_text())
    with pytest.raises(HostKeyUnconfirmed) as exc:
        check(target)
    assert exc.value.key == ssh_env.host_key
    time.sleep(0.2)
    new_lines = log.read_text()[before:]
    assert "by 127.0.0.1" in new_lines  # the connection ended before authentication
    assert SSH_USER not in new_lines  # no user name, no password was sent


def test_changed_host_key_blocks_the_connection(ssh_target, ssh_env, tmp_path):
    other_key = servers.make_host_key(tmp_path / "other")
    with pytest.raises(HostKeyChanged, match="HOST KEY CHANGED") as exc:
        check(ssh_target(host_key=other_key))
    assert exc.value.key == ssh_env.host_key


def test_host_without_python3(ssh_target, ssh_env):
    with pytest.raises(BackendError, match="No python3 found") as exc:
        check(ssh_target(user=ssh_env.nopy_user))
    assert exc.value.permanent


def test_one_connection_serves_many_commands(ssh_target, ssh_env):
    log = ssh_env.server.folder / "sshd.log"
    before = log.read_text().count("Accepted password")
    with ssh_target().backend.session() as session:
        results = [session.run("echo hi", timeout=5) for _ in range(20)]
    time.sleep(0.2)
    assert results == [(0, "hi\n", "")] * 20
    assert log.read_text().count("Accepted password") - before == 1  # one login for twenty commands


def test_command_exit_code_and_stderr(ssh_target):
    with ssh_target().backend.session() as session:
        assert session.run("echo oops >&2; exit 3", timeout=5) == (3, "", "oops\n")
