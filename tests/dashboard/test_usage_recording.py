"""Allocations are recorded by the code that moves a run: Running opens its
attempt's, a requeue (back to Preparing, a new attempt) releases it, the end closes it."""

from runs.lease import finish_run, update_run
from runs.models import RunAllocation, RunStatus

from .builders import at, make_run, make_target


def test_update_run_and_finish_run_follow_a_requeued_run(team):
    box = make_target(team.workspace, "cluster", cpus=4, gpus=1)
    run = make_run(
        team.workspace, team.owner, target=box, status=RunStatus.PREPARING, queued_at=at(0), lease_owner="me"
    )
    run = update_run(run, "me", status=RunStatus.RUNNING, running_at=at(1))
    assert list(RunAllocation.objects.values_list("attempt", "started_at", "ended_at")) == [(1, at(1), None)]
    run = update_run(run, "me", status=RunStatus.PREPARING, attempt=2)  # preempted and requeued
    first = RunAllocation.objects.get(attempt=1)
    assert first.ended_at is not None
    run = update_run(run, "me", status=RunStatus.RUNNING)
    second = RunAllocation.objects.get(attempt=2)
    assert (
        second.ended_at is None
        and second.waited_seconds == (second.started_at - first.ended_at).total_seconds()
    )
    finish_run(run, "me", RunStatus.COMPLETED, exit_code=0)
    assert not RunAllocation.objects.filter(ended_at__isnull=True).exists()
    assert RunAllocation.objects.filter(run=run).count() == 2
