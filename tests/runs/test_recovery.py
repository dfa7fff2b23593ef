"""Worker death: kill -9 the Celery worker running a monitor mid-run. The run
keeps running on its target; the reaper re-attaches a monitor once the lease
expires; no line is lost or doubled and the script was started exactly once."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from runs import executor, lease, monitor, services
from runs.models import Run, RunLogChunk, RunStatus
from runs.tasks import execute_run
from tests.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import os, time
with open("starts.txt", "a") as f:
    f.write(f"{os.getpid()}\\n")
for i in range(400):
    print(f"line {i}", flush=True)
    time.sleep(0.01)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return ") Z" not in f.read()


@pytest.fixture
def victim_worker(tmp_path):
    """A real `celery worker` process on its own queue, with a 2 s run lease."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "PORTAL_VAR_DIR": str(settings.VAR_DIR),
        "PORTAL_RUN_LEASE_SECONDS": "2",
    }
    log = open(tmp_path / "victim.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "worker",
            "-Q",
            "victim",
            "-P",
            "solo",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "-l",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
    )
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    log.close()


def test_worker_killed_mid_run_reaper_resumes_without_loss(
    request, team, local_target, make_snapshot, victim_worker
):
    snapshot = make_snapshot({"train.py": SCRIPT})
    run = Run.objects.create(
        workspace=team.workspace,
        experiment=services.experiment_get_or_create(
            workspace=team.workspace, user=team.contributor, name="recovery"
        ),
        snapshot=snapshot,
        script="train.py",
        target=local_target,
        environment={"kind": "user", "interpreter": "python3"},
        status=RunStatus.QUEUED,
        queued_at=timezone.now(),
    )
    execute_run.apply_async((run.pk,), queue="victim")

    def some_lines_stored():
        return RunLogChunk.objects.filter(run=run).exists()

    wait_for(some_lines_stored, timeout=30, message="the first lines from the victim's monitor")
    run.refresh_from_db()
    job = int(run.handle["pid"])
    os.kill(victim_worker.pid, signal.SIGKILL)
    victim_worker.wait()
    assert alive(job), "killing the worker must not kill the run"
    stored_at_kill = run.log_chunks.count()

    time.sleep(2.5)  # the victim's lease expires
    request.getfixturevalue("worker")  # a healthy worker picks up what the reaper queues
    assert executor.reap() == 1

    def done():
        run.refresh_from_db()
        return run.is_terminal

    wait_for(done, timeout=60, message="the re-attached monitor to finish the run")
    assert run.status == RunStatus.COMPLETED, run.error
    text = "".join(
        RunLogChunk.objects.filter(run=run, stream="stdout").order_by("seq").values_list("text", flat=True)
    )
    assert text == "".join(f"line {i}\n" for i in range(400))
    seqs = list(RunLogChunk.objects.filter(run=run).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(len(seqs)))
    assert len(seqs) > stored_at_kill
    starts = (Path(run.handle["run_dir"]) / "src" / "starts.txt").read_text().split()
    assert len(starts) == 1, f"the script started {len(starts)} times"


def test_the_reaper_is_scheduled_with_celery_beat():
    from portal.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["reap-runs"]
    assert entry["task"] == "runs.tasks.reap_runs" and entry["task"] in app.tasks
    assert entry["schedule"] < settings.RUN_LEASE_SECONDS


def test_a_worker_shutting_down_hands_its_runs_back(team, local_target, make_snapshot):
    """A monitor stops at once on shutdown, expiring its lease so the reaper can re-attach."""
    snapshot = make_snapshot({"train.py": "import time\nprint('up', flush=True)\ntime.sleep(30)\n"})
    run = Run.objects.create(
        workspace=team.workspace,
        experiment=services.experiment_get_or_create(workspace=team.workspace, user=team.owner, name="stop"),
        snapshot=snapshot,
        script="train.py",
        target=local_target,
        environment={"kind": "user", "interpreter": "python3"},
        status=RunStatus.QUEUED,
        queued_at=timezone.now(),
    )
    import threading

    thread = threading.Thread(target=executor.execute, args=(run.pk,))
    thread.start()
    try:
        wait_for(lambda: RunLogChunk.objects.filter(run=run).exists(), timeout=30, message="the run to start")
        monitor.stopping.set()
        thread.join(10)
        assert not thread.is_alive()
        run.refresh_from_db()
        assert run.status == RunStatus.RUNNING and run.lease_expires_at <= timezone.now()
        assert alive(int(run.handle["pid"])), "handing back must not stop the run"
    finally:
        monitor.stopping.clear()
        thread.join(10)
        run.refresh_from_db()
        if run.handle:
            run.target.backend.cancel(run.handle)


def test_one_monitor_at_a_time_and_a_stale_one_stops_writing(team, local_target, make_snapshot, settings):
    snapshot = make_snapshot({"train.py": "print('x')"})
    run = Run.objects.create(
        workspace=team.workspace,
        experiment=services.experiment_get_or_create(workspace=team.workspace, user=team.owner, name="lease"),
        snapshot=snapshot,
        script="train.py",
        target=local_target,
        environment={"kind": "user", "interpreter": "python3"},
        status=RunStatus.QUEUED,
        queued_at=timezone.now(),
    )
    first = lease.claim(run.pk, "first")
    assert first is not None and first.status == RunStatus.PREPARING
    assert lease.claim(run.pk, "second") is None, "a live lease must not be taken"
    Run.objects.filter(pk=run.pk).update(lease_expires_at=timezone.now())
    second = lease.claim(run.pk, "second")
    assert second is not None and second.lease_owner == "second"
    with pytest.raises(lease.LeaseLost):
        lease.update_run(first, "first", substep="stale write")
    run.refresh_from_db()
    assert run.substep != "stale write"
