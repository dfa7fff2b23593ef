"""Quotas: a submit over a limit is refused with the limit and the current
use; under it, accepted; a running run is never stopped; two racing submits
for the last GPU: one wins."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connections
from django.utils import timezone

from portal.models import WorkspaceQuota
from runs import quotas, services
from runs.models import Run, RunStatus
from tests.runs.conftest import folder_upload

from .builders import allocate, make_run, make_target


@pytest.fixture(autouse=True)
def no_worker(monkeypatch):
    monkeypatch.setattr("runs.tasks.prepare_run.delay", lambda run_id: None)


@pytest.fixture
def submit(team):
    snapshot = services.snapshot_create(
        workspace=team.workspace, files=folder_upload({"train.py": "print(1)\n"})
    )

    def _submit(target):
        return services.run_submit(
            workspace=team.workspace,
            user=team.contributor,
            experiment_name="quota",
            target=target,
            snapshot=snapshot,
            script="train.py",
            arguments=[],
            environment={"kind": "user"},
        )

    return _submit


def limit(team, **limits):
    return WorkspaceQuota.objects.update_or_create(workspace=team.workspace, defaults=limits)[0]


def test_without_quotas_everything_is_accepted(team, submit):
    box = make_target(team.workspace, "gpu-box", gpus=4)
    assert [submit(box).status for _ in range(3)] == [RunStatus.QUEUED] * 3


def test_concurrent_gpus_over_the_limit_are_refused_with_limit_and_use(team, submit):
    limit(team, max_concurrent_gpus=3)
    box = make_target(team.workspace, "gpu-box", gpus=2)
    submit(box)  # 2 of 3
    with pytest.raises(services.RunError) as refused:
        submit(box)
    assert str(refused.value) == (
        "The workspace's limit of 3 concurrent GPUs would be exceeded: "
        "unfinished runs hold or wait for 2 GPUs, and this run asks for 2."
    )
    assert Run.objects.filter(workspace=team.workspace).count() == 1
    cpu_box = make_target(team.workspace, "cpu-box", gpus=0)
    assert submit(cpu_box).status == RunStatus.QUEUED  # asks for no GPU


def test_a_held_allocation_counts_and_an_ended_run_frees_its_gpus(team, submit):
    limit(team, max_concurrent_gpus=2)
    box = make_target(team.workspace, "gpu-box", gpus=1)
    running = make_run(team.workspace, team.owner, target=box, status=RunStatus.RUNNING)
    allocate(running, timezone.now() - timedelta(minutes=5), None, gpus=2)
    with pytest.raises(services.RunError, match="hold or wait for 2 GPUs"):
        submit(box)
    running.status = RunStatus.COMPLETED
    running.save()
    running.allocations.update(ended_at=timezone.now())
    assert submit(box).status == RunStatus.QUEUED


def test_concurrent_nodes_over_the_limit_are_refused(team, submit):
    limit(team, max_concurrent_nodes=1)
    box = make_target(team.workspace, "cpu-box", gpus=0)
    submit(box)
    with pytest.raises(
        services.RunError, match="limit of 1 concurrent nodes would be exceeded: .* hold or wait for 1 nodes"
    ):
        submit(box)


def test_monthly_gpu_hours_used_up_refuses_gpu_runs_only(team, submit):
    limit(team, monthly_gpu_hours=Decimal("10"))
    box = make_target(team.workspace, "gpu-box", gpus=1)
    start = quotas.month_start()
    done = make_run(team.workspace, team.owner, target=box)
    allocate(
        done, start + timedelta(minutes=1), start + timedelta(minutes=1, hours=5), gpus=2
    )  # 10 GPU-hours
    with pytest.raises(services.RunError) as refused:
        submit(box)
    assert "limit of 10 GPU-hours this month is used up: 10.0 GPU-hours so far" in str(refused.value)
    assert submit(make_target(team.workspace, "cpu-box", gpus=0)).status == RunStatus.QUEUED


def test_a_running_run_is_never_stopped_by_a_lower_quota(team, submit):
    box = make_target(team.workspace, "gpu-box", gpus=2)
    run = submit(box)
    Run.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING)
    limit(team, max_concurrent_gpus=0)
    with pytest.raises(services.RunError):
        submit(box)
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING


def test_warnings_at_eighty_percent_on_the_dashboard_and_the_submit_page(team, submit, login):
    limit(team, monthly_gpu_hours=Decimal("10"))
    box = make_target(team.workspace, "gpu-box", gpus=1)
    start = quotas.month_start()
    allocate(make_run(team.workspace, team.owner, target=box), start, start + timedelta(hours=7.9), gpus=1)
    assert quotas.warnings(team.workspace) == []
    allocate(make_run(team.workspace, team.owner, target=box), start, start + timedelta(hours=0.2), gpus=1)
    assert quotas.warnings(team.workspace) == ["8.1 of 10 GPU-hours this month used (81%)."]
    client = login(team.contributor)
    assert "Quota: 8.1 of 10 GPU-hours this month used (81%)." in client.get("/dashboard/").content.decode()
    assert "Quota: 8.1 of 10 GPU-hours this month used (81%)." in client.get("/runs/new/").content.decode()


def test_only_owners_set_quotas(team, login):
    data = {"max_concurrent_gpus": "4", "max_concurrent_nodes": "", "monthly_gpu_hours": "100"}
    assert login(team.contributor).post("/dashboard/quota/", data).status_code == 403
    assert not WorkspaceQuota.objects.exists()
    assert login(team.owner).post("/dashboard/quota/", data).status_code == 302
    quota = WorkspaceQuota.objects.get(workspace=team.workspace)
    assert (quota.max_concurrent_gpus, quota.max_concurrent_nodes, quota.monthly_gpu_hours) == (4, None, 100)


@pytest.mark.django_db(transaction=True)
def test_two_racing_submits_for_the_last_gpu_one_wins(team, submit):
    limit(team, max_concurrent_gpus=1)
    box = make_target(team.workspace, "gpu-box", gpus=1)
    for _ in range(3):  # without the lock, both usually get through at least once in three
        Run.objects.filter(workspace=team.workspace).delete()
        assert sorted(race_once(submit, box), key=str) == sorted(
            [
                RunStatus.QUEUED,
                "The workspace's limit of 1 concurrent GPUs would be exceeded: "
                "unfinished runs hold or wait for 1 GPUs, and this run asks for 1.",
            ],
            key=str,
        )
        assert Run.objects.filter(workspace=team.workspace).count() == 1


def race_once(submit, box) -> list:
    barrier = threading.Barrier(2)
    results = []

    def race():
        try:
            barrier.wait()
            results.append(submit(box).status)
        except services.RunError as exc:
            results.append(str(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=race) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results
