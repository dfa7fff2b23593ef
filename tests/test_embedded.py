"""The embedded default, end to end: `manage.py serve` on SQLite with the
in-process Celery worker and the in-memory channel layer, in a subprocess.

A view queues a task (Re-check of the local target), the in-process worker
runs it, and its pushes reach a websocket client."""

import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import websockets
import websockets.exceptions

from tests.servers import free_port, wait_for_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def embedded_portal(tmp_path_factory):
    var = tmp_path_factory.mktemp("embedded-var")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        PORTAL_VAR_DIR=str(var),
        PORTAL_ADMIN_USER="admin",
        PORTAL_ADMIN_PASSWORD="embedded-admin-pw",
    )
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=ROOT)
    subprocess.run([*manage, "bootstrap"], env=env, check=True, cwd=ROOT, capture_output=True)
    port = free_port()
    log = open(var / "serve.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [*manage, "serve", "--port", str(port)], env=env, cwd=ROOT, stdout=log, stderr=log
    )
    try:
        wait_for_port(port, timeout=30)
        yield f"127.0.0.1:{port}", var
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def logged_in_session(base):
    session = requests.Session()
    page = session.get(f"{base}/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = session.post(
        f"{base}/login/",
        data={"username": "admin", "password": "embedded-admin-pw", "csrfmiddlewaretoken": token},
        headers={"Referer": f"{base}/login/"},
    )
    assert response.url == f"{base}/", "login failed"
    return session


def test_sqlite_runs_in_wal_mode(embedded_portal):
    import sqlite3

    _, var = embedded_portal
    with sqlite3.connect(var / "portal.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_view_queues_task_worker_runs_it_push_reaches_websocket(embedded_portal):
    host, _ = embedded_portal
    base = f"http://{host}"
    session = logged_in_session(base)
    page = session.get(f"{base}/compute/local/")
    assert page.status_code == 200
    target_id = re.search(r'ws-connect="/ws/targets/(\d+)/"', page.text).group(1)
    csrf = session.cookies["csrftoken"]

    # The first check, queued at start-up, runs first: wait until it is done.
    for _ in range(150):
        html = session.get(f"{base}/compute/local/").text
        if ">Succeeded</span>" in html and f'id="target-{target_id}-activity"' not in html:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the start-up check of the local target never finished")

    async def scenario():
        headers = {"Origin": base, "Cookie": f"sessionid={session.cookies['sessionid']}"}
        async with websockets.connect(
            f"ws://{host}/ws/targets/{target_id}/", additional_headers=headers
        ) as ws:
            current = await asyncio.wait_for(ws.recv(), timeout=10)  # the state as of connecting
            assert f'id="target-{target_id}-live"' in current and ">Succeeded</span>" in current
            response = await asyncio.to_thread(
                session.post, f"{base}/compute/local/check/", headers={"X-CSRFToken": csrf, "Referer": base}
            )
            assert response.status_code in (200, 302)
            frames = []
            while True:
                frame = await asyncio.wait_for(ws.recv(), timeout=30)
                frames.append(frame)
                if "Preflight" not in frame and "Queued" not in frame and "Succeeded" in frame:
                    return frames

    frames = asyncio.run(scenario())
    assert any("Queued for a check" in f for f in frames)  # pushed by the view's request
    assert any("Preflight" in f for f in frames)  # pushed by the worker mid-task
    assert f'id="target-{target_id}-live"' in frames[-1]


def test_websocket_without_session_is_refused(embedded_portal):
    host, _ = embedded_portal

    async def scenario():
        async with websockets.connect(
            f"ws://{host}/ws/targets/1/", additional_headers={"Origin": f"http://{host}"}
        ) as ws:
            await ws.recv()

    with pytest.raises(websockets.exceptions.WebSocketException):
        asyncio.run(scenario())


def test_the_in_process_worker_and_beat_are_not_refused(embedded_portal):
    _, var = embedded_portal
    log = (var / "serve.log").read_text()
    assert "Embedded Celery worker and beat started" in log or "Serving on" in log
    assert "Refusing to start" not in log
