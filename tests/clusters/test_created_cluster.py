"""A created Slurm cluster on the real podman engine: provision, jobs through
the head, Slurm powering a cloud node up and down with the reconciler making
its container follow, a killed node marked down, delete leaving nothing."""

import time

import pytest

from compute.backends.base import BackendError
from compute.models import ClusterSample, ComputeNode, NodeInterval, NodeState
from tests import slurm

from .conftest import cluster_target

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def follow(cluster, until, *, timeout: float, what: str, interval: float = 1.0):
    """Observe and reconcile, as the beat does, until ``until(nodes)`` holds (the node rows)."""
    deadline = time.monotonic() + timeout
    actions = []
    nodes, errors = {}, []
    while True:
        try:
            actions += cluster.follow()
            nodes = {row.name: row for row in ComputeNode.objects.filter(target=cluster.target)}
        except BackendError as exc:  # the beat logs it and tries again next time
            errors.append(exc.message)
        else:
            if until(nodes):
                return nodes, actions
        if time.monotonic() > deadline:
            states = {name: node.slurm_state for name, node in nodes.items()}
            raise AssertionError(
                f"timed out after {timeout} s waiting for {what}: {states}, did {actions}, {errors}"
            )
        time.sleep(interval)


def containers(cluster) -> set[str]:
    return {
        c.removeprefix(cluster.prefix + "-")
        for c in slurm.cluster_things(cluster.cluster_id)
        if c.startswith(cluster.prefix + "-")
    }


def test_provision_run_scale_up_and_down_then_delete_leaves_nothing(created_cluster):
    cluster = created_cluster(min_nodes=1, max_nodes=2, idle_seconds=10, suspend_timeout=10)
    print(f"\ncluster created in {cluster.provisioned_in:.1f} s")
    steps = " | ".join(cluster.steps)
    for step in (
        "private network",
        "munge key volume",
        "shared volume",
        "head (slurmctld)",
        "Starting node1",
    ):
        assert step in steps
    assert {"head", "node1", "munge", "shared"} <= containers(cluster)
    assert "node2" not in containers(cluster)

    rc, out, err = cluster._sh("srun hostname", [], timeout=60)
    assert (rc, out.strip()) == (0, "node1"), err
    rc, out, err = cluster._sh('cd /shared && sbatch --parsable -N 2 --wrap "$1"', ["srun hostname; sleep 3"])
    assert rc == 0, err
    job = out.strip()

    submitted = time.monotonic()
    nodes, actions = follow(
        cluster, lambda n: n["node2"].state == NodeState.RUNNING, timeout=90, what="node2 running the job"
    )
    print(f"scale-up: node2 running {time.monotonic() - submitted:.1f} s after submit")
    assert "started node2's container" in actions
    row = ComputeNode.objects.get(target=cluster.target, name="node2")
    assert row.container_id and row.partitions == ["dedicated", "lowpriority"] and row.cpus == 1

    nodes, _ = follow(
        cluster,
        lambda n: not cluster.target.observed["queue"],
        timeout=60,
        what="the job to leave the queue",
    )
    rc, out, _ = cluster._sh('cat "/shared/slurm-$1.out"', [job])
    assert sorted(out.split()) == ["node1", "node2"]

    ended = time.monotonic()
    nodes, actions = follow(
        cluster,
        lambda n: n["node2"].state == NodeState.OFF and "node2" not in containers(cluster),
        timeout=90,
        what="node2 to power down and its container to go",
    )
    print(f"scale-down: node2 gone {time.monotonic() - ended:.1f} s after the job ended (idle 10 s)")
    assert "removed node2's container (powered down)" in actions
    assert nodes["node1"].state == NodeState.IDLE
    intervals = NodeInterval.objects.filter(target=cluster.target, node="node2")
    assert intervals.count() == 1 and intervals.get().ended_at is not None
    assert NodeInterval.objects.get(target=cluster.target, node="node1").ended_at is None
    counts = [sample.counts for sample in ClusterSample.objects.filter(target=cluster.target)]
    assert {"idle": 1, "off": 1} in counts and {"running": 2} in counts

    steps = []
    cluster.close()
    cluster.deprovision(steps.append)
    assert any(step.startswith("Draining") for step in steps)
    assert slurm.cluster_things(cluster.cluster_id) == []


def test_a_killed_node_container_is_marked_down_with_its_reason(created_cluster):
    cluster = created_cluster(min_nodes=1, max_nodes=1)
    slurm.podman.podman("kill", "--signal", "KILL", f"{cluster.prefix}-node1")
    nodes, actions = follow(
        cluster,
        lambda n: n["node1"].state == NodeState.UNUSABLE,
        timeout=30,
        what="node1 marked down",
    )
    assert "marked node1 down: container exited (code 137)" in actions
    row = ComputeNode.objects.get(target=cluster.target, name="node1")
    assert row.reason == "container exited (code 137)"
    # A minimum node comes back: its container is started again and slurmd re-registers.
    follow(cluster, lambda n: n["node1"].state == NodeState.IDLE, timeout=60, what="node1 back")


def test_queue_names_the_portal_run_and_why_jobs_wait(created_cluster, team):
    from runs.models import Run

    cluster = created_cluster(min_nodes=1, max_nodes=1)
    run = Run.objects.filter(target=cluster.target).first()
    assert run is None  # no fixture run: the job name alone is matched, unknown keys give None
    key = "0123456789abcdef0123456789abcdef"
    for _ in range(2):
        rc, _, err = cluster._sh('cd /shared && sbatch -J "$1" --wrap "sleep 30"', [f"portal-{key}"])
        assert rc == 0, err
    follow(
        cluster,
        lambda n: sorted(job["state"] for job in cluster.target.observed["queue"]) == ["PENDING", "RUNNING"],
        timeout=30,
        what="one job running, one waiting",
    )
    queue = {job["state"]: job for job in cluster.target.observed["queue"]}
    assert queue["RUNNING"]["nodelist"] == "node1"
    assert queue["PENDING"]["reason"] in ("Resources", "Priority")
    assert (queue["PENDING"]["position"], queue["PENDING"]["of"]) == (1, 1)
    assert queue["PENDING"]["name"] == f"portal-{key}" and queue["PENDING"]["run"] is None


def test_resize_rewrites_slurm_conf_and_slurm_follows(created_cluster):
    cluster = created_cluster(min_nodes=1, max_nodes=1)
    steps = []
    cluster.resize(steps.append, min_nodes=1, max_nodes=3, idle_seconds=30)
    assert "Restarting slurmctld for the new node list" in steps
    nodes, _ = follow(cluster, lambda n: set(n) == {"node1", "node2", "node3"}, timeout=30, what="3 nodes")
    assert nodes["node3"].state == NodeState.OFF
    rc, out, _ = cluster._sh("scontrol show config | grep -E '^SuspendTime '", [])
    assert "30 sec" in out
    assert cluster.target.config["max_nodes"] == 3


def test_engine_unreachable_while_creating_says_so(team, db):
    from compute.backends.slurm_cluster import CreatedCluster
    from compute.models import ComputeTarget, Origin, TargetState

    ComputeTarget.objects.create(
        workspace=team.workspace,
        name="gone",
        kind="docker",
        origin=Origin.ATTACHED,
        state=TargetState.SUCCEEDED,
        config={"endpoint": "unix:///nonexistent/podman.sock"},
    )
    cluster = CreatedCluster(cluster_target(team.workspace, engine="gone"))
    with pytest.raises(BackendError) as failure:
        cluster.provision(lambda step: None)
    assert "cannot be reached (no socket at that path)" in failure.value.message
    assert "unix:///nonexistent/podman.sock" in failure.value.message


def test_a_cluster_with_a_login_node_is_attached_as_existing_and_runs_through_sbatch(
    slurm_login, team, worker, submit
):
    """The issue's "attach existing" set-up: sshd in the head of a cluster the fixture
    started, attached over SSH with its host key pinned, like any existing cluster."""
    from compute.backends.slurm import AttachedSlurm
    from compute.models import ComputeTarget, TargetState
    from portal import crypto
    from runs.models import RunStatus
    from tests.runs.test_execution import finished, text_of

    target = ComputeTarget.objects.create(
        workspace=team.workspace,
        name="existing",
        kind="slurm",
        state=TargetState.SUCCEEDED,
        config={
            "mode": "attach",
            "address": slurm_login.address,
            "port": slurm_login.port,
            "username": slurm_login.username,
            "workdir": slurm_login.workdir,
            "partition": "",
        },
        encrypted_secrets={"private_key": crypto.encrypt(slurm_login.private_key)},
        host_key=slurm_login.host_key,
    )
    assert isinstance(target.backend, AttachedSlurm)
    caps = target.backend.check(lambda step: None)
    assert [(p["name"], p["default"]) for p in caps["partitions"]] == [
        ("dedicated", True),
        ("lowpriority", False),
    ]
    assert [n["name"] for n in caps["nodes"]] == ["node1"]
    run = finished(
        submit(target, {"train.py": "import socket\nprint('on', socket.gethostname())\n"}), timeout=120
    )
    assert run.status == RunStatus.COMPLETED, run.error
    assert text_of(run, "stdout") == "on node1\n"


def test_a_cloud_node_killed_under_a_job_is_marked_down_then_usable_again(created_cluster):
    cluster = created_cluster(min_nodes=0, max_nodes=1, idle_seconds=10, suspend_timeout=10)
    rc, out, err = cluster._sh('cd /shared && sbatch --parsable --no-requeue --wrap "$1"', ["sleep 300"])
    assert rc == 0, err
    follow(cluster, lambda n: n["node1"].state == NodeState.RUNNING, timeout=60, what="node1 running the job")
    slurm.podman.podman("kill", "--signal", "KILL", f"{cluster.prefix}-node1")
    nodes, actions = follow(
        cluster, lambda n: n["node1"].state == NodeState.UNUSABLE, timeout=30, what="node1 marked down"
    )
    assert nodes["node1"].reason == "container exited (code 137)"
    assert "marked node1 down: container exited (code 137)" in actions
    # Powered down (the job failed with the node), then usable again: a new job powers it up.
    follow(cluster, lambda n: n["node1"].slurm_state == "idle~", timeout=60, what="node1 usable again")
    assert cluster.target.observed["queue"] == []
    rc, out, err = cluster._sh('cd /shared && sbatch --parsable --wrap "$1"', ["hostname"])
    job = out.strip()
    follow(
        cluster,
        lambda n: not cluster.target.observed["queue"] and n["node1"].state != NodeState.PREPARING,
        timeout=90,
        what="the new job to run on a new node1",
    )
    rc, out, _ = cluster._sh('cat "/shared/slurm-$1.out"', [job])
    assert out.strip() == "node1"


def test_a_dedicated_job_preempts_a_low_priority_one_which_is_requeued(created_cluster):
    cluster = created_cluster(min_nodes=1, max_nodes=1)
    submit = 'cd /shared && sbatch --parsable -p "$1" --open-mode=append --wrap "$2"'
    rc, out, err = cluster._sh(submit, ["lowpriority", "echo attempt $SLURM_RESTART_COUNT; sleep 300"])
    assert rc == 0, err
    low = out.strip()
    follow(cluster, lambda n: n["node1"].state == NodeState.RUNNING, timeout=30, what="the low-priority job")
    rc, out, err = cluster._sh(submit, ["dedicated", "sleep 5"])
    high = out.strip()

    def preempted(nodes):
        jobs = {job["job"]: job for job in cluster.target.observed["queue"]}
        return jobs.get(high, {}).get("state") == "RUNNING" and jobs.get(low, {}).get("state") == "PENDING"

    follow(cluster, preempted, timeout=30, what="the dedicated job running, the low-priority one requeued")
    rc, out, _ = cluster._sh("scontrol show job \"$1\" | grep -o 'Restarts=[0-9]*'", [low])
    assert out.strip() == "Restarts=1"


def test_run_primitives_go_through_the_head_onto_the_shared_volume(created_cluster, tmp_path):
    import io
    import tarfile

    cluster = created_cluster(min_nodes=1, max_nodes=1)
    archive = tmp_path / "snap.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        member = tarfile.TarInfo("train.py")
        member.size = 5
        tar.addfile(member, io.BytesIO(b"print"))
    rc, _, err = cluster._sh('mkdir -p "$1/snapshots"', [cluster.area])
    assert rc == 0, err
    remote, _ = cluster._put_snapshot("ab" * 32, archive)
    assert remote.startswith(f"/shared/ws-{cluster.target.workspace_id}/snapshots/")
    # A node sees what the head wrote: the volume is shared.
    rc, out, err = cluster._sh('srun tar -tzf "$1"', [remote], timeout=60)
    assert (rc, out.strip()) == (0, "train.py"), err
    assert cluster._read(remote, 0, 2) == archive.read_bytes()[:2]
    cluster._fetch(remote, tmp_path / "back.tar.gz")
    assert (tmp_path / "back.tar.gz").read_bytes() == archive.read_bytes()
