"""Rows for dashboard tests: targets, runs and their allocations, made directly."""

import uuid
from datetime import datetime, timedelta

from compute.models import ComputeTarget, TargetState
from runs.models import Experiment, Run, RunAllocation, RunStatus, Snapshot

T0 = datetime.fromisoformat("2026-11-20T00:00:00+00:00")


def at(hours: float) -> datetime:
    """T0 plus some hours."""
    return T0 + timedelta(hours=hours)


def make_target(workspace, name="gpu-box", *, cpus=8, gpus=1, kind="ssh", state=TargetState.SUCCEEDED):
    return ComputeTarget.objects.create(
        workspace=workspace,
        name=name,
        kind=kind,
        state=state,
        capabilities={"cpus": cpus, "gpus": [{"name": "GPU"}] * gpus},
    )


def make_run(workspace, user, *, target=None, experiment="exp", status=RunStatus.COMPLETED, **fields):
    snapshot, _ = Snapshot.objects.get_or_create(
        workspace=workspace,
        sha256=uuid.uuid5(uuid.NAMESPACE_DNS, str(workspace.pk)).hex * 2,
        defaults={"file_count": 1, "size_bytes": 1},
    )
    exp, _ = Experiment.objects.get_or_create(workspace=workspace, name=experiment)
    return Run.objects.create(
        workspace=workspace,
        experiment=exp,
        snapshot=snapshot,
        script="train.py",
        target=target,
        status=status,
        created_by=user,
        **fields,
    )


def allocate(run, start, end, *, cpus=2.0, gpus=0, nodes=1, attempt=1, price=None, waited=None):
    return RunAllocation.objects.create(
        workspace_id=run.workspace_id,
        run=run,
        attempt=attempt,
        target_id=run.target_id,
        user_id=run.created_by_id,
        experiment_id=run.experiment_id,
        started_at=start,
        ended_at=end,
        cpus=cpus,
        gpus=gpus,
        node_count=nodes,
        hourly_price=price,
        partition=run.partition,
        waited_seconds=waited,
    )


def populate(team, *, now):
    """A week of a team's compute: three users, three targets (one a cluster
    with nodes), experiments, failures, queue waits, system samples and prices."""
    from decimal import Decimal

    from compute.models import ComputeNode, NodeInterval, NodeState
    from portal.models import Role
    from runs.models import SystemSample, TargetPrice
    from tests import factories

    dana = factories.make_user("dana")
    factories.add_member(team.workspace, dana, Role.CONTRIBUTOR)
    users = [team.owner, team.contributor, dana]
    a100 = make_target(team.workspace, "a100-box", cpus=32, gpus=4)
    cpu = make_target(team.workspace, "cpu-vm", cpus=16, gpus=0)
    cluster = make_target(team.workspace, "slurm-lab", kind="slurm", cpus=8, gpus=1)
    ComputeTarget.objects.filter(pk__in=[a100.pk, cpu.pk, cluster.pk]).update(
        created_at=now - timedelta(days=30)
    )
    TargetPrice.objects.create(target=a100, hourly_price=Decimal("3.20"))
    for i, state in enumerate([NodeState.RUNNING, NodeState.RUNNING, NodeState.IDLE, NodeState.OFF]):
        ComputeNode.objects.create(target=cluster, name=f"node-{i}", state=state, cpus=8, gpus=1)
        NodeInterval.objects.create(
            target=cluster,
            node=f"node-{i}",
            started_at=now - timedelta(days=6 - i),
            ended_at=None if i < 3 else now - timedelta(days=1),
            cpus=8,
            gpus=1,
        )
    experiments = ["resnet-sweep", "bert-finetune", "tabular-baseline"]
    targets = [(a100, 4, 32), (cpu, 0, 16), (cluster, 1, 8)]
    reasons = ["The script exited with code 1.", "CUDA out of memory", "The environment build failed"]
    for i in range(42):
        user = users[i % 3]
        target, gpus, cpus = targets[i % 3]
        nodes = 2 if target is cluster and i % 2 else 1
        start = now - timedelta(hours=160 - i * 3.7)
        hours = 0.5 + (i % 5) * 0.6
        end = min(now, start + timedelta(hours=hours))
        failed = i % 7 == 3
        run = make_run(
            team.workspace,
            user,
            target=target,
            experiment=experiments[i % 3],
            status=RunStatus.FAILED if failed else RunStatus.COMPLETED,
            queued_at=start - timedelta(seconds=20 + (i % 6) * 45),
            running_at=start,
            ended_at=end,
            error=reasons[i % 3] if failed else "",
            failure_kind="script" if failed else "",
            partition="gpu" if target is cluster and i % 2 else "",
            node_count=nodes,
        )
        held = allocate(
            run,
            start,
            end,
            cpus=cpus * nodes,
            gpus=gpus * nodes,
            nodes=nodes,
            price=Decimal("3.20") if target is a100 else None,
            waited=(start - run.queued_at).total_seconds(),
        )
        for k in range(4):
            SystemSample.objects.create(
                run=run,
                at=start + timedelta(minutes=5 * (k + 1)),
                seconds=300,
                cpu_cores=held.cpus * (0.2 + 0.15 * (i % 4)),
                rss_bytes=2**30,
                gpu_used=gpus * nodes * (0.03 if i % 3 == 0 and i % 2 else 0.7) if gpus else None,
                cpus_held=held.cpus,
                gpus_held=held.gpus,
            )
    return {"users": users, "targets": [a100, cpu, cluster]}
