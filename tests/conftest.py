import io
import logging
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker
from django.test import Client

from portal.celery import app as celery_app
from portal.live import LiveConsumer
from portal.models import Role

from . import factories, servers
from .secret_scan import SecretLeak, SecretScanLogHandler, leaked_in, plant

# Overridable so two checkouts can run their suites side by side.
SSH_USER = os.environ.get("PORTAL_TEST_SSH_USER", "portaltest")
SSH_PASSWORD = plant("PLANTED-ssh-pw-7f3a9c41e2")
KEY_PASSPHRASE = plant("PLANTED-passphrase-55b1d0")
NOPY_USER = SSH_USER + "-nopy"


# ---- secrets must not leak into logs ---------------------------------------


@pytest.fixture(scope="session", autouse=True)
def secret_log_scan():
    handler = SecretScanLogHandler(level=logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(old_level)
    assert not handler.leaks, f"planted secrets were logged: {handler.leaks}"


@pytest.fixture(scope="session", autouse=True)
def secret_frame_scan():
    """Every websocket frame a live consumer sends is searched for planted secrets."""
    original = LiveConsumer.send

    async def send(self, text_data=None, bytes_data=None, close=False):
        if text_data and (secret := leaked_in(text_data)):
            raise SecretLeak(f"A planted secret went out over a websocket: {secret[:8]}…")
        return await original(self, text_data=text_data, bytes_data=bytes_data, close=close)

    LiveConsumer.send = send
    yield
    LiveConsumer.send = original


# ---- local runs execute as the unprivileged run user (the tests run as root) ------


@pytest.fixture(scope="session", autouse=True)
def local_run_user():
    from django.conf import settings
    from django.core.management import call_command

    call_command("setup_local_runner", stdout=io.StringIO())
    return settings.LOCAL_RUN_USER


# ---- people and workspaces ---------------------------------------------------


@pytest.fixture
def team(db):
    """A workspace with an owner, a contributor and a reader, granted the local computer;
    an outsider in another workspace, without it."""
    owner = factories.make_user("olivia")
    workspace = factories.make_workspace("Vision team", owner, local_target=True)
    contributor = factories.make_user("carlos")
    reader = factories.make_user("rita")
    factories.add_member(workspace, contributor, Role.CONTRIBUTOR)
    factories.add_member(workspace, reader, Role.READER)
    outsider = factories.make_user("oscar")
    other = factories.make_workspace("Other team", outsider)
    return type(
        "Team",
        (),
        {
            "workspace": workspace,
            "owner": owner,
            "contributor": contributor,
            "reader": reader,
            "outsider": outsider,
            "other_workspace": other,
        },
    )


@pytest.fixture
def login():
    def _login(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return _login


# ---- the REST API -------------------------------------------------------------


@pytest.fixture
def api():
    """api(user, workspace, read_only=False) -> a DRF APIClient with a fresh
    personal access token (``client.token`` is its ApiToken row)."""
    from rest_framework.test import APIClient

    from portal import tokens

    def _api(user, workspace, *, read_only: bool = False) -> APIClient:
        issued = tokens.token_create(user=user, workspace=workspace, name="test", read_only=read_only)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
        client.token = issued.token
        return client

    return _api


# ---- a real Celery worker on the real Redis broker ----------------------------


@pytest.fixture(scope="session")
def celery_session_worker(django_db_setup, django_db_blocker):
    celery_app.control.purge()
    with (
        django_db_blocker.unblock(),
        start_worker(
            celery_app, pool="threads", concurrency=4, perform_ping_check=False, shutdown_timeout=15
        ) as worker,
    ):
        yield worker
        from runs import monitor_service

        monitor_service.stop()  # before the test database goes: the service holds connections


@pytest.fixture
def worker(celery_session_worker, transactional_db):
    return celery_session_worker


def wait_for(predicate, timeout: float = 20, interval: float = 0.05, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {message}")


# ---- a real OpenSSH server on loopback -----------------------------------------


class SSHEnv:
    """The sshd, its users and client keys, as the tests use them."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.user, self.password = SSH_USER, SSH_PASSWORD
        self.nopy_user = NOPY_USER
        nopy_path = servers.restricted_bin(folder / "nopy-bin")
        for name in (SSH_USER, NOPY_USER):
            servers.ensure_user(name, SSH_PASSWORD)
        self.key = self._client_key("id_plain", "")
        self.encrypted_key = self._client_key("id_encrypted", KEY_PASSPHRASE)
        self.server = servers.start_sshd(
            folder / "sshd", config_extra=f"Match User {NOPY_USER}\n  SetEnv PATH={nopy_path}\n"
        )
        (folder / "sshd" / "authorized_keys").write_text(
            "".join(Path(f"{folder / name}.pub").read_text() for name in ("id_plain", "id_encrypted"))
        )

    def _client_key(self, name: str, passphrase: str) -> str:
        path = self.folder / name
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-f", str(path)], check=True)
        return plant(path.read_text())

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def host_key(self) -> str:
        return self.server.host_key

    def close(self):
        self.server.stop()
        for name in (SSH_USER, NOPY_USER):
            servers.remove_user(name)


@pytest.fixture(scope="session")
def ssh_env():
    # sshd reads authorized_keys as the logging-in user: the folder must be
    # readable by others (pytest's tmp folders are 0700).
    folder = Path(tempfile.mkdtemp(prefix="portal-sshd-"))
    folder.chmod(0o755)
    env = SSHEnv(folder)
    yield env
    env.close()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def ssh_target(team, ssh_env):
    """Makes SSH targets in the team's workspace, pinned to the test server's key."""
    from compute.models import ComputeTarget, TargetState
    from portal import crypto

    def _make(
        name="vm1",
        *,
        password=SSH_PASSWORD,
        key=None,
        passphrase="",
        user=SSH_USER,
        port=None,
        host_key=None,
        state=TargetState.ATTACHING,
    ):
        secrets = {"password": password} if key is None else {"private_key": key}
        if passphrase:
            secrets["passphrase"] = passphrase
        return ComputeTarget.objects.create(
            workspace=team.workspace,
            name=name,
            kind="ssh",
            state=state,
            config={
                "address": "127.0.0.1",
                "port": port or ssh_env.port,
                "username": user,
                "workdir": "portal-runs",
            },
            encrypted_secrets={k: crypto.encrypt(v) for k, v in secrets.items() if v},
            host_key=ssh_env.host_key if host_key is None else host_key,
        )

    return _make


# ---- a real browser: Debian's Chromium driven by Playwright ------------------------

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


@pytest.fixture
def page(monkeypatch):
    """A Chromium page for this test only: Playwright's sync API runs an event
    loop in this thread while it lives, so it must not outlive the test (other
    tests call asyncio.run). Meanwhile the test reads the database synchronously."""
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        yield context.new_page()
        browser.close()


# ---- markers stay true --------------------------------------------------------------

# Fixtures that start a real server (sshd, podman) for the test that uses them.
SERVER_FIXTURES = ("ssh_env", "podman_engine")


def pytest_collection_modifyitems(config, items):
    unmarked = [
        f"{item.nodeid} (uses {', '.join(f for f in SERVER_FIXTURES if f in item.fixturenames)})"
        for item in items
        if any(f in item.fixturenames for f in SERVER_FIXTURES) and not item.get_closest_marker("integration")
    ]
    if unmarked:
        raise pytest.UsageError(
            "Tests that start sshd or podman must be marked integration:\n  " + "\n  ".join(unmarked)
        )


@pytest.fixture(scope="session", autouse=True)
def _flush_retried_on_deadlock():
    """A transactional test's teardown empties every table (flush: TRUNCATE). A
    monitor or push thread still storing a row for a run that just ended can
    deadlock with it in PostgreSQL, which picks one side to abort; when that is
    the flush, it is run again instead of leaving the next test a full database."""
    import time as clock

    from django.core.management.base import CommandError
    from django.core.management.commands import flush

    original = flush.Command.handle

    def handle(self, **options):
        for attempt in range(5):
            try:
                return original(self, **options)
            except CommandError as exc:
                if "deadlock" not in str(exc.__cause__ or "") or attempt == 4:
                    raise
                clock.sleep(0.2)

    flush.Command.handle = handle
    yield
    flush.Command.handle = original
