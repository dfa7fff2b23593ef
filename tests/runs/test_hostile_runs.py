"""What a hostile run can write on its target never reaches beyond it: pid
files, giant exit codes, poisoned metrics, endless logs, and caches it tries
to plant code in. Each runs for real, through the worker and the monitor."""

import os
import signal
import subprocess
import time

import pytest

from runs import services
from runs.models import EnvironmentCache, Metric, RunStatus
from tests.conftest import wait_for

from .test_execution import assert_gapless, finished, text_of
from .test_recovery import alive

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


PLANTS_PID_1 = """
import os, time
open(os.path.join(os.environ["PORTAL_RUN_DIR"], "pid"), "w").write("1\\n")
print("planted", flush=True)
time.sleep(600)
"""


def test_a_run_writing_1_into_its_pid_file_cannot_make_cancel_signal_everything(worker, ssh_target, submit):
    """The run (as the unprivileged SSH test user) plants pid 1. Its state
    comes from the pid recorded at launch, and cancel signals only its own
    session: a bystander process of the same user survives."""
    from compute.models import TargetState

    target = ssh_target(state=TargetState.SUCCEEDED)
    backend = target.backend
    # A process of the same OS user outside the run: `kill -TERM -1` as that user would end it.
    _, out, _ = backend._sh("setsid sleep 600 > /dev/null 2>&1 < /dev/null & echo $!", [])
    bystander = int(out.strip())
    try:
        run = submit(target, {"train.py": PLANTS_PID_1})
        wait_for(
            lambda: "planted" in text_of(run, "stdout"), timeout=30, message="the pid file to be planted"
        )
        time.sleep(0.5)
        run.refresh_from_db()
        assert run.status == RunStatus.RUNNING, "the planted pid must not change what the poll sees"
        job = int(run.handle["pid"])
        assert job > 1 and alive(job)
        services.run_cancel(run=run, user=None)
        run = finished(run)
        assert run.status == RunStatus.CANCELED
        assert not alive(job), "the run's own session must be killed"
        assert alive(bystander), "cancel signalled a process outside the run's session"
    finally:
        backend.close()
        if alive(bystander):
            os.kill(bystander, signal.SIGKILL)


def test_cancel_leaves_a_reused_pid_alone(local_target, tmp_path):
    """A handle whose pid now belongs to another session leader (start time differs) signals nothing."""
    other = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        backend = local_target.backend
        run_dir = tmp_path / "runs" / ("a" * 32)
        run_dir.mkdir(parents=True)
        backend.cancel({"run_dir": str(run_dir), "pid": str(other.pid), "start": "1"})
        assert other.poll() is None, "a pid reused by another process was signalled"
        [state] = backend.poll([{"run_dir": str(run_dir), "pid": str(other.pid), "start": "1"}])
        assert not state.alive, "a reused pid is not the run"
    finally:
        other.kill()
        other.wait()


GIANT_EXIT_CODE = """
import os, signal
rd = os.environ["PORTAL_RUN_DIR"]
with open(os.path.join(rd, "exit_code"), "w") as f:
    for _ in range(200):
        f.write("9" * (1 << 20))
print("written", flush=True)
os.kill(os.getppid(), signal.SIGKILL)  # the job dies before it writes the real exit code
"""


def test_a_200_mb_exit_code_is_read_capped(worker, local_target, submit):
    before = rss_kb()
    run = finished(submit(local_target, {"train.py": GIANT_EXIT_CODE}), timeout=120)
    assert run.status == RunStatus.FAILED
    assert run.exit_code is None
    assert "without an exit code" in run.error
    grown_mb = (rss_kb() - before) / 1024
    assert grown_mb < 50, f"the portal grew by {grown_mb:.0f} MB reading a run's files"


POISONED_METRICS = """
import json, math, os, time
path = os.environ["PORTAL_METRICS_FILE"]
with open(path, "a") as f:
    f.write('{"name": "loss", "step": 0, "value": NaN}\\n')
    f.write('{"name": "loss", "step": 1, "value": Infinity}\\n')
    f.write('{"name": "loss", "step": 2, "value": -Infinity}\\n')
    f.write('{"name": "loss", "step": 3, "value": 0.5, "time": 1e300}\\n')
    f.write('{"name": "loss", "step": 4, "value": 0.5, "time": -5}\\n')
    f.write('{"name": "loss", "step": 5, "value": 0.25}\\n')
    f.write('not json at all\\n')
print("done", flush=True)
"""


def test_nan_inf_and_out_of_range_times_are_refused_with_a_note(worker, local_target, submit):
    run = finished(submit(local_target, {"train.py": POISONED_METRICS}))
    assert run.status == RunStatus.COMPLETED, run.error
    assert list(Metric.objects.filter(run=run).values_list("step", "value")) == [(5, 0.25)]
    system = text_of(run, "system")
    assert system.count("Metric refused") == 6, system
    assert "nan is not a finite number" in system and "out of range" in system


def test_the_stored_log_is_capped_and_says_so(worker, local_target, submit, settings, login, team):
    settings.RUN_LOG_MAX_BYTES = 20_000
    script = "for i in range(5000):\n    print(f'line {i:05d} ' + 'x' * 40)\nprint('the end')\n"
    run = finished(submit(local_target, {"train.py": script}), timeout=60)
    assert run.status == RunStatus.COMPLETED, run.error
    assert run.log_truncated
    stored = text_of(run, "stdout") + text_of(run, "stderr")
    assert len(stored.encode()) <= 20_000
    assert "the end" not in stored
    assert "reached its" in text_of(run, "system")
    assert_gapless(run)
    page = login(team.contributor).get(f"/runs/{run.pk}/")
    assert "The stored log was truncated" in page.content.decode()


PLANTS_IN_SNAPSHOT = """
import glob, os
rd = os.environ["PORTAL_RUN_DIR"]
for path in glob.glob(os.path.join(rd, "..", "..", "snapshots", "*", "train.py")):
    os.chmod(path, 0o644)
    open(path, "w").write("print('PLANTED CODE RAN')\\n")
print("original code", flush=True)
"""


def test_a_run_cannot_plant_code_in_the_cached_snapshot(worker, local_target, submit):
    first = finished(submit(local_target, {"train.py": PLANTS_IN_SNAPSHOT}))
    assert first.status == RunStatus.COMPLETED, first.error
    second = finished(submit(local_target, {"train.py": PLANTS_IN_SNAPSHOT}))
    assert second.status == RunStatus.COMPLETED, second.error
    assert "original code" in text_of(second, "stdout")
    assert "PLANTED" not in text_of(second, "stdout")
    assert "uploaded" in second.environment_note, "the changed copy must be replaced"


def test_each_workspace_has_its_own_area_on_a_target(worker, local_target, submit):
    run = finished(submit(local_target, {"train.py": "print(1)"}))
    assert f"/ws-{run.workspace_id}/runs/{run.key.hex}" in run.handle["run_dir"]


USES_SIX = "import six\nprint('six', six.__version__, flush=True)\n"
PLANTS_IN_ENV = """
import os, six, site
pkg = os.path.dirname(six.__file__)
for root, dirs, files in os.walk(os.path.dirname(pkg)):
    os.chmod(root, 0o755)
target = os.path.join(pkg, "six.py")
os.chmod(target, 0o644)
with open(target, "a") as f:
    f.write("\\nprint('PLANTED CODE RAN')\\n")
print("planted", flush=True)
"""


def test_a_run_cannot_plant_code_in_a_cached_environment(worker, local_target, submit):
    env = services.environment_spec(kind="pip", requirements="six")
    first = finished(submit(local_target, {"train.py": PLANTS_IN_ENV}, environment=env), timeout=170)
    assert first.status == RunStatus.COMPLETED, first.error + first.stderr_tail
    assert EnvironmentCache.objects.filter(target=local_target, spec_hash=env["hash"]).exists()
    second = finished(submit(local_target, {"train.py": USES_SIX}, environment=env), timeout=170)
    assert second.status == RunStatus.COMPLETED, second.error + second.stderr_tail
    assert "PLANTED" not in text_of(second, "stdout")
    assert "changed since it was built" in text_of(second, "system")
    third = finished(submit(local_target, {"train.py": USES_SIX}, environment=env), timeout=60)
    assert "Environment cache hit" in third.environment_note, "an untouched environment is reused"
