"""A separate worker or beat on the embedded (in-memory) broker refuses to start."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent
CELERY = [sys.executable, "-m", "celery", "-A", "portal"]
REFUSAL = "Refusing to start: REDIS_URL is not set"


def _env(tmp_path, **extra):
    # As found in production: PostgreSQL configured, REDIS_URL forgotten.
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(DJANGO_SETTINGS_MODULE="portal.settings", PORTAL_VAR_DIR=str(tmp_path), **extra)
    return env


@pytest.mark.parametrize(
    "command",
    [["worker", "-P", "solo", "-l", "info"], ["beat", "-l", "info", "-s", "{tmp}/beat-schedule"]],
    ids=["worker", "beat"],
)
def test_worker_or_beat_without_redis_url_exits_at_once_and_says_why(tmp_path, command):
    command = [part.format(tmp=tmp_path) for part in command]
    started = time.monotonic()
    result = subprocess.run(
        [*CELERY, *command], cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert REFUSAL in result.stdout + result.stderr
    assert "Set REDIS_URL" in result.stdout + result.stderr
    assert time.monotonic() - started < 30


def test_worker_with_redis_url_starts(tmp_path):
    # Its own queue, so it takes nothing meant for the tests' worker.
    env = _env(tmp_path, REDIS_URL=os.environ["REDIS_URL"])
    command = [*CELERY, "worker", "-P", "solo", "-l", "info", "-Q", f"refusal-probe-{os.getpid()}"]
    command += ["--without-mingle", "--without-gossip", "--without-heartbeat"]
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while " ready." not in log.read_text():
            assert worker.poll() is None, f"the worker exited: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"the worker never became ready: {log.read_text()[-2000:]}"
            time.sleep(0.2)
        assert REFUSAL not in log.read_text()
    finally:
        worker.terminate()
        worker.wait(30)
