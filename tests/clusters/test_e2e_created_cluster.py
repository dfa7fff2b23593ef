"""The whole created-cluster story in a real browser, on real Slurm in podman:
create a cluster (min 0, max 2) with the "+ Add" form, submit a 2-node run,
and watch on the cluster's page (a websocket client: nothing is reloaded) its
nodes go preparing -> running -> idle -> powered down while the portal starts
and removes their containers; then delete it and find nothing left on the engine."""

import threading
from pathlib import Path

import pytest
from django.db import close_old_connections, connection
from playwright.sync_api import expect

from compute import lifecycle, tasks
from compute.models import ComputeNode, ComputeTarget, NodeState, TargetState
from runs import services
from runs.models import Metric, RunStatus
from tests import slurm
from tests.compute.clusters import seed_sizes
from tests.conftest import wait_for
from tests.runs.test_execution import finished, text_of

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow, pytest.mark.slurm]

RENDEZVOUS = (Path(__file__).parent / "rendezvous.py").read_text()


@pytest.fixture
def beat():
    """What celery beat does in production, every second: follow_clusters (the tests run no beat)."""
    stop = threading.Event()

    def loop():
        while not stop.wait(1.0):
            close_old_connections()
            tasks.follow_clusters()
        connection.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(10)


def node_states(target) -> dict[str, str]:
    return dict(ComputeNode.objects.filter(target=target).values_list("name", "state"))


@pytest.mark.timeout(420)
def test_create_a_cluster_run_on_two_nodes_watch_them_come_and_go_then_delete(
    page,
    live_portal,
    team,
    sign_in,
    screenshot,
    engine_target,
    make_snapshot,
    beat,
):
    seed_sizes()  # an earlier browser test emptied every table, the seeded catalogue too
    engine_target("engine1")
    sign_in(team.contributor)
    page.goto(f"{live_portal}/compute/add/?kind=slurm&mode=create")
    page.fill("#id_name", "hpc")
    page.select_option("#id_engine", "engine1")
    page.select_option("#id_size", "small")
    page.fill("#id_min_nodes", "0")
    page.fill("#id_max_nodes", "2")
    page.fill("#id_idle_seconds", "30")
    page.get_by_role("button", name="Create").click()
    page.wait_for_url(f"{live_portal}/compute/hpc/")
    target = ComputeTarget.objects.get(workspace=team.workspace, name="hpc")
    wait_for(
        lambda: target.refresh_from_db() or target.state in (TargetState.SUCCEEDED, TargetState.FAILED),
        timeout=120,
        message="the cluster to be created",
    )
    assert target.state == TargetState.SUCCEEDED, target.last_error
    expect(page.locator(f"#target-{target.pk}-nodes")).to_be_visible(timeout=10_000)
    screenshot("cluster-e2e-created")
    cluster_id = target.config["cluster_id"]
    # min 0: only the head runs; both nodes are cloud nodes, powered down
    wait_for(lambda: set(node_states(target).values()) == {NodeState.OFF}, timeout=30, message="2 nodes off")
    assert not [thing for thing in slurm.cluster_things(cluster_id) if "node" in thing]

    run = services.run_submit(
        workspace=team.workspace,
        user=team.contributor,
        experiment_name="rendezvous",
        snapshot=make_snapshot({"train.py": RENDEZVOUS}),
        script="train.py",
        arguments=[],
        target=target,
        environment={"kind": "user", "interpreter": "python3"},
        node_count=2,
    )
    nodes = page.locator(f"#target-{target.pk}-nodes")
    expect(nodes.locator("[data-state=preparing]")).to_have_count(2, timeout=60_000)
    screenshot("cluster-e2e-preparing")
    run.refresh_from_db()
    assert run.status == RunStatus.PREPARING and "in `dedicated`" in run.substep, run.substep
    expect(nodes.locator("[data-state=running]")).to_have_count(2, timeout=90_000)
    screenshot("cluster-e2e-running")

    run = finished(run, timeout=120)
    assert run.status == RunStatus.COMPLETED, run.error
    lines = text_of(run, "stdout").splitlines()
    assert "0: rank 0 of 2 on node 0 local 0" in lines and "1: rank 1 of 2 on node 1 local 0" in lines
    assert "0: rank 0 agrees: sum 1" in lines and "1: rank 1 agrees: sum 1" in lines
    assert list(Metric.objects.filter(run=run).values_list("name", "value")) == [("sum", 1.0)]
    assert {"rank.txt", "rank-1/rank.txt"} <= set(run.outputs.values_list("path", flat=True))

    expect(nodes.locator("[data-state=idle]")).to_have_count(2, timeout=60_000)
    screenshot("cluster-e2e-idle")
    # After the idle seconds Slurm powers them down and the portal removes their containers
    expect(nodes.locator("[data-state=off]")).to_have_count(2, timeout=150_000)
    wait_for(
        lambda: not [thing for thing in slurm.cluster_things(cluster_id) if "node" in thing],
        timeout=30,
        message="the node containers to be removed",
    )
    screenshot("cluster-e2e-gone")
    assert page.locator(f"#target-{target.pk}-node-chart").is_visible()

    lifecycle.target_request_delete(target=target, user=team.owner)
    wait_for(lambda: not ComputeTarget.objects.filter(pk=target.pk).exists(), timeout=120, message="deleted")
    assert slurm.cluster_things(cluster_id) == []
