"""Cluster targets made in the database as the cluster code leaves them: a
checked engine, a created or attached cluster, its nodes, samples and queue."""

from datetime import timedelta

from django.utils import timezone

from compute.models import ClusterSample, ComputeNode, ComputeTarget, NodeState, Origin, TargetState

ENGINE_CAPS = {
    "cpus": 8,
    "memory_mb": 16384,
    "gpu_runtime": False,
    "images": ["localhost/portal-slurm:22.05"],
}


def seed_sizes():
    """The installation-wide sizes the migration seeds: a transactional test (the
    browser's, the websocket's) empties every table, seeds included, for the tests after it."""
    from importlib import import_module

    from compute.models import NodeSize

    for name, cores, memory, gpus in import_module("compute.migrations.0004_clusters").SEED_SIZES:
        NodeSize.objects.get_or_create(
            workspace=None, name=name, defaults={"cpu_cores": cores, "memory_gb": memory, "gpus": gpus}
        )


def make_engine(workspace, name="engine1", **caps):
    """A checked Docker engine (and the seeded node sizes a cluster is made in)."""
    seed_sizes()
    return ComputeTarget.objects.create(
        workspace=workspace,
        name=name,
        kind="docker",
        state=TargetState.SUCCEEDED,
        config={"endpoint": "unix:///run/podman/podman.sock"},
        capabilities={**ENGINE_CAPS, **caps},
    )


def make_cluster(workspace, name="hpc", *, origin=Origin.CREATED, state=TargetState.SUCCEEDED, **config):
    if origin == Origin.CREATED:
        base = {
            "mode": "create",
            "engine": "engine1",
            "size": "small",
            "min_nodes": 0,
            "max_nodes": 4,
            "idle_seconds": 300,
            "priority": "dedicated",
            "image": "localhost/portal-slurm:22.05",
        }
    else:
        base = {
            "mode": "attach",
            "address": "login.example",
            "port": 22,
            "username": "ml",
            "workdir": "portal",
        }
    return ComputeTarget.objects.create(
        workspace=workspace,
        name=name,
        kind="slurm",
        origin=origin,
        state=state,
        config={**base, **config},
        capabilities={  # as the check stores them (compute/backends/slurm.py parse_discovery)
            "slurm_version": "22.05.8",
            "sacct": True,
            "partitions": [
                {
                    "name": "dedicated",
                    "default": True,
                    "available": True,
                    "time_limit": "infinite",
                    "nodes": 4,
                },
                {
                    "name": "lowpriority",
                    "default": False,
                    "available": True,
                    "time_limit": "infinite",
                    "nodes": 4,
                },
            ],
            "nodes": [],
        },
    )


def add_nodes(target, states: dict[str, int], **fields):
    """{"running": 2, "idle": 1}: that many nodes in each state, named node1, node2, ..."""
    nodes, i = [], len(target.nodes.all())
    for state, count in states.items():
        for _ in range(count):
            i += 1
            nodes.append(
                ComputeNode.objects.create(
                    target=target,
                    name=f"node{i}",
                    state=state,
                    slurm_state={"idle": "idle", "running": "allocated", "preparing": "idle#"}.get(
                        state, state
                    ),
                    cpus=1,
                    memory_mb=2048,
                    partitions=["dedicated", "lowpriority"],
                    container_id="" if state == NodeState.OFF else f"c{i}",
                    since=timezone.now() - timedelta(seconds=30 * i),
                    **fields,
                )
            )
    return nodes


def add_samples(target, counts_over_time: list[dict], *, step_seconds=60):
    start = timezone.now() - timedelta(seconds=step_seconds * len(counts_over_time))
    return [
        ClusterSample.objects.create(
            target=target, at=start + timedelta(seconds=step_seconds * i), counts=counts
        )
        for i, counts in enumerate(counts_over_time)
    ]


def make_run(workspace, target, **fields):
    """A run on ``target`` stored as is: no task queued, no handle, so no monitor follows it."""
    from runs.models import Experiment, Run, RunStatus, Snapshot

    experiment, _ = Experiment.objects.get_or_create(workspace=workspace, name="mnist")
    snapshot, _ = Snapshot.objects.get_or_create(
        workspace=workspace, sha256="a" * 64, defaults={"file_count": 1, "size_bytes": 10}
    )
    fields = {"status": RunStatus.QUEUED, **fields}
    return Run.objects.create(
        workspace=workspace,
        experiment=experiment,
        snapshot=snapshot,
        target=target,
        script="train.py",
        **fields,
    )


def queue_entry(
    job,
    *,
    state="PENDING",
    run=None,
    name="",
    user="portal",
    partition="dedicated",
    reason="",
    nodes=1,
    nodelist="",
    position=None,
    of=None,
):
    """One job of ``target.observed["queue"]`` as compute/clusters.py observe() stores it."""
    return {
        "job": str(job),
        "name": name or (f"portal-{run}" if run else "job"),
        "run": run,
        "user": user,
        "partition": partition,
        "state": state,
        "reason": reason,
        "nodes": nodes,
        "nodelist": nodelist,
        "priority": 0,
        "position": position,
        "of": of,
    }
