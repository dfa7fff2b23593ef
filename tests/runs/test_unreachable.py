"""Targets that cannot be reached: at submit, and going away mid-run."""

import contextlib
import os
import signal
from pathlib import Path

import pytest

from compute.models import TargetState
from runs.models import RunStatus
from tests import servers
from tests.conftest import wait_for

from .test_execution import finished, text_of

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_unreachable_at_submit_fails_with_the_reason(worker, ssh_target, submit):
    target = ssh_target("gone", port=servers.free_port(), state=TargetState.SUCCEEDED)
    run = finished(submit(target, {"train.py": "print(1)"}))
    assert run.status == RunStatus.FAILED
    assert "Connection refused" in run.error
    assert not run.handle


def session_children(master_pid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == master_pid:
                pids.append(int(entry))
    return pids


def test_target_going_away_mid_run_goes_not_responding_then_failed(
    worker, ssh_env, ssh_target, submit, settings
):
    settings.RUN_UNREACHABLE_GRACE = 4
    target = ssh_target("vanishing", state=TargetState.SUCCEEDED)
    script = "import time\nprint('started', flush=True)\ntime.sleep(120)\n"
    run = submit(target, {"train.py": script})
    wait_for(lambda: "started" in text_of(run, "stdout"), timeout=30, message="the script to start")
    run.refresh_from_db()
    job_pid = int(run.handle["pid"])
    server = ssh_env.server
    sessions = session_children(server.process.pid)
    assert sessions, "the monitor's SSH session should be open"
    try:
        server.stop()  # the VM goes away: no new connections...
        for pid in sessions:  # ...and the open one breaks
            os.kill(pid, signal.SIGKILL)

        def not_responding():
            run.refresh_from_db()
            return run.status == RunStatus.NOT_RESPONDING

        wait_for(not_responding, timeout=30, message="NotResponding")
        assert "does not answer" in run.error
        run = finished(run, timeout=60)
        assert run.status == RunStatus.FAILED
        assert "stopped answering for more than 4 s" in run.error
    finally:
        server.start()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(job_pid, signal.SIGKILL)
