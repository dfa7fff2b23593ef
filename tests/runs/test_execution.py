"""Runs on the local target and on a real sshd: real processes, a real Celery worker."""

import os

import pytest

from runs.models import Metric, Run, RunLogChunk, RunStatus
from tests.conftest import wait_for

pytestmark = pytest.mark.integration

COUNTING = """
import sys
n = int(sys.argv[1])
for i in range(n):
    print(f"line {i}")
    if i % 7 == 0:
        print(f"err {i}", file=sys.stderr)
"""


def finished(run, timeout=60):
    def done():
        run.refresh_from_db()
        return run.is_terminal

    wait_for(done, timeout=timeout, message=f"run {run.pk} to end (status {run.status})")
    return run


def text_of(run, stream):
    return "".join(
        RunLogChunk.objects.filter(run=run, stream=stream).order_by("seq").values_list("text", flat=True)
    )


def assert_gapless(run):
    seqs = list(RunLogChunk.objects.filter(run=run).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(len(seqs)))


def test_run_completes_with_every_line_in_order(worker, any_target, submit):
    run = finished(submit(any_target, {"train.py": COUNTING}, arguments=["3000"]))
    assert run.status == RunStatus.COMPLETED, run.error
    assert run.exit_code == 0
    assert text_of(run, "stdout") == "".join(f"line {i}\n" for i in range(3000))
    assert text_of(run, "stderr") == "".join(f"err {i}\n" for i in range(0, 3000, 7))
    assert_gapless(run)
    assert run.running_at and run.ended_at and run.preparing_at
    assert not run.lease_owner


def test_crashing_script_fails_with_exit_code_and_stderr_tail(worker, any_target, submit):
    script = "import sys\nprint('starting')\nprint('about to fail', file=sys.stderr)\nraise SystemExit(3)\n"
    run = finished(submit(any_target, {"train.py": script}))
    assert run.status == RunStatus.FAILED
    assert run.exit_code == 3
    assert "exited with code 3" in run.error
    assert "about to fail" in run.stderr_tail


def test_exception_traceback_in_stderr_tail(worker, local_target, submit):
    run = finished(submit(local_target, {"train.py": "def f():\n    1 / 0\nf()\n"}))
    assert run.status == RunStatus.FAILED and run.exit_code == 1
    assert "ZeroDivisionError" in run.stderr_tail


def test_missing_interpreter_is_a_clear_error(worker, local_target, submit):
    run = finished(
        submit(
            local_target,
            {"train.py": "print(1)"},
            environment={"kind": "user", "interpreter": "/nowhere/python9"},
        )
    )
    assert run.status == RunStatus.FAILED
    assert "The interpreter /nowhere/python9 was not found on the target." in run.error


def test_metrics_and_outputs(worker, any_target, submit):
    script = (
        "import os\nfrom portal_run import Run\nrun = Run.get_context()\n"
        "for epoch in range(5):\n    run.log('loss', 1.0 / (epoch + 1))\n"
        "run.log_list('acc', [0.5, 0.75])\n"
        "os.makedirs('outputs/sub', exist_ok=True)\n"
        "open('outputs/model.txt', 'w').write('weights')\n"
        "open('outputs/sub/notes.txt', 'w').write('n' * 10)\n"
    )
    run = finished(submit(any_target, {"train.py": script}))
    assert run.status == RunStatus.COMPLETED, run.error
    loss = list(Metric.objects.filter(run=run, name="loss").order_by("step").values_list("step", "value"))
    assert loss == [(i, 1.0 / (i + 1)) for i in range(5)]
    assert list(Metric.objects.filter(run=run, name="acc").values_list("step", "value")) == [
        (0, 0.5),
        (1, 0.75),
    ]
    assert sorted(run.outputs.values_list("path", "size")) == [("model.txt", 7), ("sub/notes.txt", 10)]


def test_cancel_kills_the_process_tree(worker, any_target, submit):
    from runs import services

    script = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        "print('child', child.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    run = submit(any_target, {"train.py": script})
    wait_for(lambda: "child" in text_of(run, "stdout"), timeout=30, message="the child to start")
    child = int(text_of(run, "stdout").split()[1])
    run.refresh_from_db()
    parent = int(run.handle["pid"])
    services.run_cancel(run=run, user=None)
    run = finished(run)
    assert run.status == RunStatus.CANCELED

    def gone(pid):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # an unreaped zombie is dead too
        with open(f"/proc/{pid}/stat") as f:
            return ") Z" in f.read()

    assert gone(child), "the script's child survived the cancel"
    assert gone(parent), "the job survived the cancel"


def test_script_missing_on_the_target_is_a_clear_error(worker, team, local_target, make_snapshot):
    """Submit refuses a script that is not in the snapshot; the target checks again before starting."""
    from django.db import transaction
    from django.utils import timezone

    from runs import services
    from runs.tasks import prepare_run

    snapshot = make_snapshot({"train.py": "print(1)"})
    experiment = services.experiment_get_or_create(workspace=team.workspace, user=team.owner, name="e")
    with transaction.atomic():
        run = Run.objects.create(
            workspace=team.workspace,
            experiment=experiment,
            snapshot=snapshot,
            script="src/nope.py",
            target=local_target,
            environment={"kind": "user", "interpreter": "python3"},
            status=RunStatus.QUEUED,
            queued_at=timezone.now(),
        )
        transaction.on_commit(lambda: prepare_run.delay(run.pk))
    run = finished(run)
    assert run.status == RunStatus.FAILED
    assert run.error.startswith("The script src/nope.py is not in the snapshot")
    assert "src/nope.py is not in the snapshot" in text_of(run, "system")


def test_a_hundred_thousand_lines_none_lost(worker, local_target, submit):
    script = (
        "import sys\nw = sys.stdout.write\nfor i in range(100000):\n    w(f'{i} ' + 'x' * (i % 50) + '\\n')\n"
    )
    run = finished(submit(local_target, {"train.py": script}), timeout=120)
    assert run.status == RunStatus.COMPLETED, run.error
    expected = "".join(f"{i} " + "x" * (i % 50) + "\n" for i in range(100000))
    assert text_of(run, "stdout") == expected
    assert_gapless(run)
    assert run.log_offsets["stdout"] == len(expected.encode())


def test_detaching_a_target_is_refused_while_a_run_is_unfinished_and_keeps_history(team, ssh_target, submit):
    from compute.models import TargetState
    from compute.services import TargetActionError, target_detach

    target = ssh_target(state=TargetState.SUCCEEDED)
    run = submit(target, {"train.py": "print(1)"})  # stays Queued: no worker here
    with pytest.raises(TargetActionError, match="1 unfinished run"):
        target_detach(target=target, user=team.owner)
    Run.objects.filter(pk=run.pk).update(status=RunStatus.COMPLETED)
    target_detach(target=target, user=team.owner)
    run.refresh_from_db()
    assert run.target is None and run.status == RunStatus.COMPLETED


def test_launching_twice_starts_the_script_once(any_target, make_snapshot):
    """A worker that dies after launching and before saving the handle re-launches: nothing starts again."""
    import uuid

    from compute.backends.base import LaunchSpec
    from compute.backends.runner import tree_digest
    from runs import executor, snapshots

    snapshot = make_snapshot({"train.py": "import os\nopen('starts.txt', 'a').write('x')\n"})
    backend = any_target.backend
    try:
        archive = snapshots.archive_path(snapshot.sha256)
        digest = tree_digest(archive)
        backend.ensure_snapshot(snapshot.sha256, archive, tree_digest=digest)
        assert backend.ensure_snapshot(snapshot.sha256, archive, tree_digest=digest) is False
        launch = LaunchSpec(
            key=uuid.uuid4().hex,
            sha256=snapshot.sha256,
            script="train.py",
            arguments=[],
            env_kind="user",
            env_arg="python3",
            helpers=executor.HELPER_FILES,
            tree_digest=digest,
        )
        first = backend.launch(launch)
        second = backend.launch(launch)
        assert not first["already"] and second["already"]
        assert first["run_dir"] == second["run_dir"] and first["pid"] == second["pid"]
        wait_for(
            lambda: backend.poll([first])[0].exit_code is not None, timeout=20, message="the script to end"
        )
        assert backend._read(f"{first['run_dir']}/src/starts.txt", 0, 100) == b"x"
    finally:
        backend.close()


def test_a_snapshot_extracted_by_many_launches_at_once_stays_one_clean_copy(local_target, make_snapshot):
    """Each launch that finds the snapshot missing extracts its own copy: the
    losers of that race must not nest their copy inside the winner's (the
    content check would then refuse the snapshot for every run)."""
    import threading
    from pathlib import Path

    from compute.backends.runner import tree_digest
    from runs import snapshots

    # Enough files that the extractions overlap.
    files = {f"data/{i:03d}.txt": f"{i}\n" * 200 for i in range(600)}
    snapshot = make_snapshot({"train.py": "print('ok')\n", **files})
    archive = snapshots.archive_path(snapshot.sha256)
    digest = tree_digest(archive)
    barrier = threading.Barrier(8)
    errors = []

    def extract():
        backend = type(local_target.backend)(local_target)
        barrier.wait()
        try:
            backend.ensure_snapshot(snapshot.sha256, archive, tree_digest=digest)
        except Exception as exc:  # collected: a thread's exception would be lost
            errors.append(exc)

    threads = [threading.Thread(target=extract) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    folder = Path(local_target.backend.area) / "snapshots" / snapshot.sha256
    assert sorted(p.name for p in folder.iterdir()) == ["data", "train.py"]
    assert len(list((folder / "data").iterdir())) == 600
    assert local_target.backend.ensure_snapshot(snapshot.sha256, archive, tree_digest=digest) is False
