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


def allocate(run, start, end, *, cpus=2.0, gpus=0, nodes=1, attempt=1, price=None):
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
    )
