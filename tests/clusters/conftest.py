"""Created Slurm clusters on the test podman engine.

This folder has its own ``podman_engine``: podman's containers are shared by
everyone on the machine, so its teardown removes only what clusters left
(things labelled ``io.portal.cluster``), never other suites' containers.
"""

import shutil
import tempfile
import time
from pathlib import Path

import pytest

from tests import podman, slurm


@pytest.fixture(scope="session")
def podman_engine():
    """podman's Docker-compatible API on a socket of its own, with the Slurm node image."""
    started = time.monotonic()
    podman.ensure_config()
    built = slurm.ensure_slurm_image()
    if built:
        print(f"\n{slurm.SLURM_IMAGE} made in {built:.1f} s")
    folder = Path(tempfile.mkdtemp(prefix="portal-podman-"))
    folder.chmod(0o755)
    service = podman.PodmanService(folder)
    service.ready_in = time.monotonic() - started
    yield service
    slurm.remove_cluster_leftovers()
    service.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def engine_target(team, podman_engine):
    """An attached (checked) engine target in the team's workspace."""
    from compute.models import ComputeTarget, Origin, TargetState

    def _make(name="engine1", *, endpoint=None):
        return ComputeTarget.objects.create(
            workspace=team.workspace,
            name=name,
            kind="docker",
            origin=Origin.ATTACHED,
            state=TargetState.SUCCEEDED,
            config={"endpoint": endpoint or podman_engine.url},
        )

    return _make


def cluster_target(workspace, *, name="cluster1", engine="engine1", **config):
    """A created ``slurm`` target's row, as the "+ Add" form would save it."""
    from compute.models import ComputeTarget, Origin, TargetState

    return ComputeTarget.objects.create(
        workspace=workspace,
        name=name,
        kind="slurm",
        origin=Origin.CREATED,
        state=TargetState.CREATING,
        config={
            "mode": "create",
            "engine": engine,
            "size": "small",
            "min_nodes": 1,
            "max_nodes": 2,
            "idle_seconds": 10,
            "priority": "dedicated",
            "image": slurm.SLURM_IMAGE,
            **config,
        },
    )


@pytest.fixture
def created_cluster(team, engine_target):
    """created_cluster(**config) -> a provisioned CreatedCluster (min 1, max 2, 10 idle
    seconds unless told); deprovisioned afterwards. ``.steps`` are its progress lines."""
    from compute.backends.slurm_cluster import CreatedCluster

    engine_target()
    made = []

    def _make(**config):
        cluster = CreatedCluster(cluster_target(team.workspace, **config))
        cluster.steps = []
        made.append(cluster)
        started = time.monotonic()
        cluster.provision(cluster.steps.append)
        cluster.provisioned_in = time.monotonic() - started
        return cluster

    yield _make
    for cluster in made:
        cluster.close()
        cluster.deprovision(lambda step: None)
