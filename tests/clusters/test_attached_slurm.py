"""An existing Slurm cluster attached over SSH: real slurmctld/slurmd on this machine, real sshd."""

import subprocess
from pathlib import Path

import pytest

from compute.backends.base import BackendError
from compute.backends.slurm import AttachedSlurm
from runs.models import RunStatus
from tests.conftest import wait_for
from tests.runs.test_execution import finished, text_of

pytestmark = [pytest.mark.integration, pytest.mark.slurm]


def test_check_discovers_version_partitions_nodes_and_accounting(attached_cluster, slurm_host):
    target = attached_cluster()
    assert isinstance(target.backend, AttachedSlurm)
    caps = target.capabilities
    assert caps["slurm_version"].startswith("22.")
    partitions = {p["name"]: p for p in caps["partitions"]}
    assert set(partitions) == {"debug", "short", "high"}
    assert partitions["debug"]["default"] and not partitions["short"]["default"]
    assert partitions["short"]["time_limit"] == "1:00"
    assert [n["name"] for n in caps["nodes"]] == [slurm_host]
    assert sorted(caps["nodes"][0]["partitions"]) == ["debug", "high", "short"]
    assert caps["sacct"] is False  # accounting storage is off on this cluster
    assert "Slurm 22." in target.backend.summary(caps)


def test_check_refuses_a_partition_that_does_not_exist(attached_cluster):
    target = attached_cluster(partition="gpu-huge", check=False)
    with pytest.raises(BackendError, match="partition gpu-huge does not exist.*debug, short, high"):
        target.backend.check(lambda step: None)


def test_a_run_goes_through_sbatch_and_completes_with_every_line(worker, attached_cluster, submit):
    target = attached_cluster()
    script = (
        "import os\nfor i in range(500):\n    print('line', i)\nprint('job', os.environ['SLURM_JOB_ID'])\n"
    )
    run = finished(submit(target, {"train.py": script}), timeout=120)
    assert run.status == RunStatus.COMPLETED, run.error
    out = text_of(run, "stdout")
    assert out.startswith("".join(f"line {i}\n" for i in range(500)))
    assert out.splitlines()[-1] == f"job {run.handle['pid']}"
    assert run.attempt == 1


def test_a_script_that_crashes_fails_with_its_exit_code(worker, attached_cluster, submit):
    run = finished(submit(attached_cluster(), {"train.py": "raise SystemExit(4)\n"}), timeout=120)
    assert run.status == RunStatus.FAILED and run.exit_code == 4


def test_a_partition_that_does_not_exist_fails_the_run_with_slurms_reason(worker, attached_cluster, submit):
    target = attached_cluster()
    target.config = {**target.config, "partition": "nosuch"}
    target.save(update_fields=["config"])
    run = finished(submit(target, {"train.py": "print(1)\n"}), timeout=60)
    assert run.status == RunStatus.FAILED
    assert "Slurm refused the job (partition nosuch)" in run.error
    assert "partition" in run.error.lower()


def test_cancel_reaches_scancel(worker, attached_cluster, submit):
    from runs import services

    run = submit(attached_cluster(), {"train.py": "import time\nprint('up', flush=True)\ntime.sleep(600)\n"})
    wait_for(lambda: "up" in text_of(run, "stdout"), timeout=90, message="the script to print")
    run.refresh_from_db()
    job = run.handle["pid"]
    services.run_cancel(run=run, user=run.created_by)
    run = finished(run, timeout=60)
    assert run.status == RunStatus.CANCELED
    import subprocess

    listed = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True)
    assert listed.stdout.strip() in ("", "CANCELLED", "COMPLETING")


@pytest.mark.slow
def test_a_job_killed_by_the_time_limit_is_reported_as_such(worker, attached_cluster, submit):
    target = attached_cluster(partition="short")  # MaxTime=1 minute
    script = "import time\nprint('go', flush=True)\ntime.sleep(300)\n"
    run = finished(submit(target, {"train.py": script}), timeout=200)
    assert run.status == RunStatus.FAILED
    assert "time limit" in run.error, run.error


RENDEZVOUS = (Path(__file__).parent / "rendezvous.py").read_text()


def submit_distributed(submit, target, monkeypatch, *, nodes=1, per_node=2):
    """Submits rendezvous.py on nodes × per_node processes."""
    from runs import tasks

    delay = tasks.prepare_run.delay
    monkeypatch.setattr("runs.tasks.prepare_run.delay", lambda run_id: None)
    run = submit(target, {"train.py": RENDEZVOUS})
    run.node_count, run.processes_per_node = nodes, per_node
    run.save(update_fields=["node_count", "processes_per_node"])
    monkeypatch.setattr("runs.tasks.prepare_run.delay", delay)
    tasks.prepare_run.delay(run.pk)
    return run


def test_two_processes_rendezvous_on_master_addr_and_agree_on_a_sum(
    worker, attached_cluster, submit, monkeypatch
):
    from runs.models import Metric

    run = finished(submit_distributed(submit, attached_cluster(), monkeypatch), timeout=120)
    assert run.status == RunStatus.COMPLETED, run.error
    lines = text_of(run, "stdout").splitlines()
    # srun --label: each line says its rank
    assert "0: rank 0 of 2 on node 0 local 0" in lines
    assert "1: rank 1 of 2 on node 0 local 1" in lines
    assert "0: rank 0 agrees: sum 1" in lines and "1: rank 1 agrees: sum 1" in lines
    # The run's metrics are rank 0's only
    assert list(Metric.objects.filter(run=run).values_list("name", "value", "step")) == [("sum", 1.0, 0)]
    # rank 0's outputs at the top, rank 1's under rank-1/
    names = set(run.outputs.values_list("path", flat=True))
    assert {"rank.txt", "rank-1/rank.txt"} <= names, names


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_preempted_run_is_requeued_and_completes_with_both_attempts_logs(
    worker, attached_cluster, submit, monkeypatch
):
    """A run in ``debug`` holds both CPUs; a run in ``high`` preempts it (PreemptMode=REQUEUE)."""
    low_target = attached_cluster("low")
    high_target = attached_cluster("urgent", partition="high")
    script = (
        "import os, sys, time\n"
        "attempt = int(os.environ.get('SLURM_RESTART_COUNT', '0')) + 1\n"
        "print(f'attempt {attempt} rank {os.environ[\"RANK\"]}', flush=True)\n"
        "if attempt == 1:\n    time.sleep(600)\n"
    )
    monkeypatch.setattr("runs.tasks.prepare_run.delay", lambda run_id: None)
    low = submit(low_target, {"train.py": script})
    low.processes_per_node = 2  # both CPUs of the node
    low.save(update_fields=["processes_per_node"])
    monkeypatch.undo()
    from runs import tasks

    tasks.prepare_run.delay(low.pk)
    wait_for(lambda: "attempt 1 rank 0" in text_of(low, "stdout"), timeout=90, message="attempt 1 to run")
    high = finished(submit(high_target, {"train.py": "print('urgent work')\n"}), timeout=120)
    assert high.status == RunStatus.COMPLETED, high.error
    wait_for(lambda: low.refresh_from_db() or low.attempt == 2, timeout=60, message="the requeue to be seen")
    assert "Requeued by Slurm (attempt 2)" in low.substep, low.substep
    # Slurm holds a requeued job back for two minutes (BeginTime); the test does not wait them out.
    subprocess.run(["scontrol", "update", f"jobid={low.handle['pid']}", "starttime=now"], check=True)
    low = finished(low, timeout=240)
    assert low.status == RunStatus.COMPLETED, low.error
    assert low.attempt == 2
    system = text_of(low, "system")
    assert "Preempted by a higher-priority job — requeued (attempt 2)." in system
    out = text_of(low, "stdout")
    first, marker, second = out.partition("──── attempt 2")
    assert marker, out
    assert "attempt 1 rank 0" in first and "attempt 1 rank 1" in first  # the earlier attempt's log stays
    assert "the lines above are from attempt 1, which was stopped (Preempted" in second
    assert "attempt 2 rank 0" in second and "attempt 2 rank 1" in second


@pytest.mark.slow
def test_the_login_node_unreachable_mid_run_goes_not_responding_then_recovers(
    worker, ssh_env, attached_cluster, submit, settings
):
    """The job goes on in Slurm while the portal cannot reach the login node;
    once it answers again the run resumes and completes with every line."""
    import os
    import signal

    from tests.runs.test_unreachable import session_children

    settings.RUN_UNREACHABLE_GRACE = 120
    script = "import time\nprint('started', flush=True)\ntime.sleep(12)\nprint('done', flush=True)\n"
    run = submit(attached_cluster(), {"train.py": script})
    wait_for(lambda: "started" in text_of(run, "stdout"), timeout=90, message="the script to start")
    server = ssh_env.server
    sessions = session_children(server.process.pid)
    try:
        server.stop()  # the login node goes away: no new connections, and the open one breaks
        for pid in sessions:
            os.kill(pid, signal.SIGKILL)
        wait_for(
            lambda: run.refresh_from_db() or run.status == RunStatus.NOT_RESPONDING,
            timeout=30,
            message="NotResponding",
        )
        assert "does not answer" in run.error
    finally:
        server.start()
    run = finished(run, timeout=90)
    assert run.status == RunStatus.COMPLETED, run.error
    assert text_of(run, "stdout") == "started\ndone\n"
    assert not run.error
