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
from tests.conftest import SSH_PASSWORD
from tests.e2e.conftest import live_portal, screenshot, sign_in  # noqa: F401 (fixtures)
from tests.runs.conftest import local_target, make_snapshot, submit  # noqa: F401 (fixtures)
from tests.sdk.conftest import live_workspace  # noqa: F401 (fixture)


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
    from tests.compute.clusters import seed_sizes

    seed_sizes()  # a transactional test before this one emptied every table, the seeded catalogue too
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


# Makes the head a login node too: sshd, and a key for the ``portal`` user.
LOGIN_SETUP = r"""
set -e
install -d -m 700 -o portal -g portal /home/portal/.ssh
printf '%s\n' "$1" > /home/portal/.ssh/authorized_keys
chown portal:portal /home/portal/.ssh/authorized_keys
chmod 600 /home/portal/.ssh/authorized_keys
ssh-keygen -A >/dev/null
mkdir -p /run/sshd
/usr/sbin/sshd
cat /etc/ssh/ssh_host_ed25519_key.pub
"""


@pytest.fixture
def slurm_login(created_cluster, tmp_path):
    """An *existing* Slurm cluster to attach over SSH: a created cluster (min 1, max 1)
    whose head also runs sshd. ``.address``, ``.port``, ``.username`` ("portal"),
    ``.private_key`` (planted), ``.host_key`` ("ssh-ed25519 AAAA…"), ``.workdir``
    (on the shared volume) and ``.cluster`` (the CreatedCluster)."""
    import subprocess
    from types import SimpleNamespace

    from tests.secret_scan import plant

    cluster = created_cluster(min_nodes=1, max_nodes=1)
    key = tmp_path / "id_login"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    rc, out, err = cluster._sh(LOGIN_SETUP, [(tmp_path / "id_login.pub").read_text().strip()], timeout=30)
    assert rc == 0, err
    host_key = " ".join(out.split()[:2])
    engine, head = cluster._held()
    head.reload()
    address = head.attrs["NetworkSettings"]["Networks"][cluster.network_name]["IPAddress"]
    return SimpleNamespace(
        address=address,
        port=22,
        username=slurm.LOGIN_USER,
        private_key=plant(key.read_text()),
        host_key=host_key,
        workdir="/shared/portal",
        cluster=cluster,
    )


# ---- an existing cluster on this machine, attached over the loopback sshd ----------------


@pytest.fixture(scope="session")
def slurm_host():
    """A real Slurm cluster on this machine (tests/slurm_host.py); its login node is the loopback sshd."""
    from tests import slurm_host

    node = slurm_host.ensure_running()
    yield node
    slurm_host.drain_jobs()


@pytest.fixture
def attached_cluster(team, ssh_env, slurm_host):
    """An attached cluster target (kind slurm, mode attach) on the test sshd, checked."""
    from compute.models import ComputeTarget, TargetState
    from portal import crypto

    def _make(name="hpc", *, partition="", state=TargetState.SUCCEEDED, check=True, port=None):
        target = ComputeTarget.objects.create(
            workspace=team.workspace,
            name=name,
            kind="slurm",
            state=state,
            config={
                "mode": "attach",
                "address": "127.0.0.1",
                "port": port or ssh_env.port,
                "username": ssh_env.user,
                "workdir": "portal-slurm",
                "partition": partition,
            },
            encrypted_secrets={"password": crypto.encrypt(SSH_PASSWORD)},
            host_key=ssh_env.host_key,
        )
        if check:
            backend = target.backend
            target.capabilities = backend.check(lambda step: None)
            target.save(update_fields=["capabilities"])
        return target

    return _make
