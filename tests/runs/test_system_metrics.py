"""A real run on the local target burns CPU for a few seconds: its system
samples show it, its allocation is recorded, and the dashboard's CPU-hours
move by exactly that allocation."""

from datetime import timedelta

import pytest
from django.utils import timezone

from dashboard import ranges, usage
from runs import system_samples
from runs.models import RunAllocation, RunStatus, SystemSample
from tests.conftest import wait_for

pytestmark = pytest.mark.integration

BURN = """
import time
end = time.time() + 5
n = 0
while time.time() < end:
    n += 1
print("spun", n)
"""


def test_a_cpu_burning_run_shows_samples_and_moves_cpu_hours(worker, team, local_target, submit):
    rng = ranges.preset("24h", now=timezone.now() + timedelta(minutes=5))
    before = usage.usage_totals([team.workspace.pk], rng, now=rng.end)
    run = submit(local_target, {"train.py": BURN})

    def done():
        run.refresh_from_db()
        return run.is_terminal

    wait_for(done, timeout=60, message="the run to end")
    assert run.status == RunStatus.COMPLETED, run.error

    samples = list(SystemSample.objects.filter(run=run).order_by("at"))
    assert len(samples) >= 2
    busiest = max(s.cpu_cores for s in samples)
    assert 0.7 < busiest < 1.3  # one Python process spinning: about one core
    assert all(s.rss_bytes > 1_000_000 for s in samples)  # a Python process holds megabytes

    allocation = RunAllocation.objects.get(run=run)
    local_target.refresh_from_db()  # its check ran meanwhile
    cores = float(local_target.capabilities["cpus"])
    assert allocation.cpus == cores and allocation.node_count == 1 and allocation.ended_at
    held = (allocation.ended_at - allocation.started_at).total_seconds()
    assert 4 < held < 30
    assert all(s.cpus_held == cores for s in samples)

    after = usage.usage_totals([team.workspace.pk], rng, now=rng.end)
    assert after["cpu_hours"] - before["cpu_hours"] == pytest.approx(cores * held / 3600, rel=1e-6)
    assert after["node_hours"] - before["node_hours"] == pytest.approx(held / 3600, rel=1e-6)

    summary = system_samples.summary(run)
    assert summary["cpu_share"] == pytest.approx(summary["cpu_avg"] / cores)
