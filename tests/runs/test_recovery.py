"""Worker death: kill -9 the Celery worker whose monitor service follows a run.
The run keeps running on its target; another worker's monitor service takes
it over (at once: the dead owner was a process of this machine); no line is
lost or doubled and the script was started exactly once."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from runs import executor, lease, services
from runs.models import Run, RunLogChunk, RunStatus
from runs.monitor_service import MonitorService
from runs.tasks import prepare_run
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
        "PORTAL_RUN_LEASE_SECONDS": "60",  # its death, not an expiry, must free the run
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


def test_worker_killed_mid_run_another_monitor_resumes_without_loss(
    worker, team, local_target, make_snapshot, victim_worker
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
    prepare_run.apply_async((run.pk,), queue="victim")

    def some_lines_stored():
        return RunLogChunk.objects.filter(run=run).exists()

    wait_for(some_lines_stored, timeout=30, message="the first lines from the victim's monitor")
    run.refresh_from_db()
    victim_owner = run.lease_owner
    assert victim_owner.split(":")[1] == str(victim_worker.pid), "the victim's service follows the run"
    job = int(run.handle["pid"])
    os.kill(victim_worker.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    victim_worker.wait()
    assert alive(job), "killing the worker must not kill the run"
    stored_at_kill = run.log_chunks.count()

    def taken_over():
        run.refresh_from_db()
        return run.lease_owner not in ("", victim_owner)

    # The victim's lease had 60 s to go: only noticing its death frees the run this soon.
    wait_for(taken_over, timeout=10, message="another monitor service to take the run over")
    print(f"taken over {time.monotonic() - killed_at:.1f} s after the kill")

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
    """A monitor service stops at once on shutdown, voiding its leases so another worker follows on."""
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
    service = MonitorService().start()
    owner = lease.owner_token()
    claimed = lease.claim(run.pk, owner)
    backend = local_target.backend
    try:
        handle = executor.launch(claimed, backend, owner)
        service.follow(lease.hand_over(claimed, owner, handle, to=service.owner))
        wait_for(lambda: RunLogChunk.objects.filter(run=run).exists(), timeout=30, message="the run to start")
        service.stop()
        run.refresh_from_db()
        assert run.status == RunStatus.RUNNING
        assert run.lease_owner != service.owner or run.lease_expires_at <= timezone.now()
        assert alive(int(run.handle["pid"])), "handing back must not stop the run"
    finally:
        service.stop()
        backend.cancel(handle)
        backend.close()


def test_monitors_share_runs_through_the_lease(team, local_target, make_snapshot):
    """claim_for_monitor takes free, expired and dead-owner runs only, each by one owner."""
    snapshot = make_snapshot({"train.py": "print(1)"})
    experiment = services.experiment_get_or_create(workspace=team.workspace, user=team.owner, name="share")

    def launched(**fields):
        return Run.objects.create(
            workspace=team.workspace,
            experiment=experiment,
            snapshot=snapshot,
            script="train.py",
            target=local_target,
            status=RunStatus.RUNNING,
            handle={"run_dir": "/nowhere/runs/" + "0" * 32, "pid": "1"},
            **fields,
        )

    soon = timezone.now() + timedelta(seconds=60)
    free = launched()
    expired = launched(lease_owner="elsewhere:1:1:x", lease_expires_at=timezone.now())
    live = launched(lease_owner="elsewhere:1:1:x", lease_expires_at=soon)
    dead_here = launched(lease_owner=f"{lease.HOST}:{2**22 + 12345}:1:x", lease_expires_at=soon)
    Run.objects.create(  # not launched: its preparation task owns it
        workspace=team.workspace,
        experiment=experiment,
        snapshot=snapshot,
        script="train.py",
        target=local_target,
    )
    statuses = [RunStatus.RUNNING]
    taken = lease.claim_for_monitor("first", statuses=statuses, limit=10)
    assert sorted(r.pk for r in taken) == sorted([free.pk, expired.pk, dead_here.pk])
    assert lease.claim_for_monitor("second", statuses=statuses, limit=10) == []
    assert lease.renew("first", [free.pk, live.pk]) == {free.pk}
    live.refresh_from_db()
    assert live.lease_owner == "elsewhere:1:1:x"


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


def test_the_reaper_requeues_a_lost_preparation_once_per_interval(
    team, local_target, make_snapshot, monkeypatch
):
    """A queued run whose task was lost is queued again; a backlog is not
    queued again at every reap (duplicates would pile up behind it)."""
    queued = []
    monkeypatch.setattr("runs.tasks.prepare_run.delay", queued.append)
    snapshot = make_snapshot({"train.py": "print(1)"})
    old = timezone.now() - timedelta(seconds=settings.RUN_REQUEUE_AFTER + 5)
    run = Run.objects.create(
        workspace=team.workspace,
        experiment=services.experiment_get_or_create(workspace=team.workspace, user=team.owner, name="reap"),
        snapshot=snapshot,
        script="train.py",
        target=local_target,
        status=RunStatus.QUEUED,
        queued_at=old,
    )
    Run.objects.create(  # queued just now: its task is on its way
        workspace=team.workspace,
        experiment=run.experiment,
        snapshot=snapshot,
        script="train.py",
        target=local_target,
        status=RunStatus.QUEUED,
        queued_at=timezone.now(),
    )
    assert executor.reap() == 1 and queued == [run.pk]
    assert executor.reap() == 0, "queued again before RUN_REQUEUE_AFTER passed"
    Run.objects.filter(pk=run.pk).update(heartbeat_at=old)
    assert executor.reap() == 1 and queued == [run.pk, run.pk]
