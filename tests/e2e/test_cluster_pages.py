"""In a real browser: the cluster's "+ Add" form in both modes, the cluster page
from constructed nodes, samples and queue (updated live by push_cluster), a
queued run's page, and a multi-node run's log filtered to one rank."""

import re

import pytest
from django.db import transaction
from playwright.sync_api import expect

from compute.live import push_cluster, push_target
from compute.models import ComputeNode, NodeState
from runs.live import push_log
from runs.models import RunLogChunk, RunStatus
from tests.compute.clusters import add_nodes, add_samples, make_cluster, make_engine, make_run, queue_entry

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]


def test_add_a_cluster_in_either_mode(page, live_portal, team, sign_in, screenshot):
    make_engine(team.workspace)
    sign_in(team.contributor)
    page.goto(f"{live_portal}/compute/add/")
    page.locator("label[for=kind-slurm-create]").click()
    expect(page).to_have_url(re.compile(r"kind=slurm&mode=create"))
    expect(page.locator("#id_size")).to_be_visible()
    expect(page.locator("#id_address")).to_have_count(0)
    expect(page.locator("#kind-form")).to_contain_text("Cluster — create new")
    page.fill("#id_name", "hpc")
    page.fill("#id_min_nodes", "3")
    page.fill("#id_max_nodes", "2")
    page.get_by_role("button", name="Create").click()
    expect(page.locator("#kind-form")).to_contain_text("At most the maximum (2).")
    screenshot("cluster-add-create")

    page.locator("label[for=kind-slurm-attach]").click()
    expect(page).to_have_url(re.compile(r"kind=slurm&mode=attach"))
    expect(page.locator("#id_address")).to_be_visible()
    expect(page.locator("#id_partition")).to_be_visible()
    expect(page.locator("#id_size")).to_have_count(0)
    expect(page.locator("#kind-form")).to_contain_text("Cluster — use existing")
    screenshot("cluster-add-attach")


def constructed_cluster(team):
    make_engine(team.workspace)
    cluster = make_cluster(team.workspace)
    run = make_run(team.workspace, cluster, status=RunStatus.RUNNING, node_count=2)
    waiting = make_run(
        team.workspace,
        cluster,
        status=RunStatus.PREPARING,
        substep="Queued in dedicated, position 1 of 2 — Slurm is starting a node (2 → 3)",
    )
    for node in add_nodes(cluster, {"running": 2}):
        node.run = run
        node.save()
    add_nodes(cluster, {"idle": 1, "preparing": 1})
    add_nodes(cluster, {"unusable": 1}, reason="Container exited (137) under a running job")
    add_nodes(cluster, {"off": 1})
    add_samples(
        cluster,
        [
            {"idle": 1},
            {"idle": 1, "preparing": 1},
            {"running": 2},
            {"running": 2, "idle": 1},
            {"running": 2, "idle": 1, "unusable": 1},
            {"running": 2, "idle": 1, "preparing": 1, "unusable": 1},
        ],
        step_seconds=90,
    )
    cluster.observed = {
        "at": "2026-11-27T07:00:00+00:00",
        "queue": [
            queue_entry(101, state="RUNNING", run=run.pk, nodes=2, nodelist="node[1-2]"),
            queue_entry(102, run=waiting.pk, reason="Resources", position=1, of=2),
            queue_entry(103, name="nightly", user="alice", reason="Priority", position=2, of=2),
        ],
    }
    cluster.save()
    return cluster, run, waiting


def test_cluster_page_nodes_chart_queue_live(page, live_portal, team, sign_in, screenshot):
    cluster, run, waiting = constructed_cluster(team)
    sign_in(team.contributor)
    page.goto(f"{live_portal}/compute/")
    expect(page.locator(f"#target-{cluster.pk}-summary")).to_have_text(
        "2 busy · 1 idle · 1 preparing · 1 unusable (max 4)"
    )
    screenshot("cluster-list-row")
    page.goto(f"{live_portal}/compute/{cluster.name}/")
    nodes = page.locator(f"#target-{cluster.pk}-nodes")
    expect(nodes).to_contain_text("Container exited (137) under a running job")
    expect(page.locator(f"#target-{cluster.pk}-queue")).to_contain_text("Resources")
    expect(page.locator(f"#target-{cluster.pk}-queue")).to_contain_text("1 of 2")
    chart = page.locator(f"#target-{cluster.pk}-node-chart")
    expect(chart).to_be_visible()
    page.wait_for_function(
        f"() => Chart.getChart(document.getElementById('target-{cluster.pk}-node-chart')) !== undefined"
    )
    screenshot("cluster-page")
    page.locator(".card", has=chart).first.screenshot(path=str(_artifact("cluster-node-chart")))

    # The cluster code updates rows and pushes: the page follows without a reload.
    def node_comes_up():
        with transaction.atomic():
            ComputeNode.objects.filter(target=cluster, state=NodeState.PREPARING).update(
                state=NodeState.RUNNING
            )
            add_samples(cluster, [{"running": 3, "idle": 1, "unusable": 1}], step_seconds=1)
            cluster.observed = {**cluster.observed, "queue": cluster.observed["queue"][:1]}
            cluster.save(update_fields=["observed"])
            push_cluster(cluster)

    node_comes_up()
    expect(page.locator(f"#target-{cluster.pk}-node-summary")).to_have_text(
        "3 busy · 1 idle · 1 unusable (max 4)"
    )
    expect(page.locator(f"#target-{cluster.pk}-queue")).not_to_contain_text("Resources")
    expect(page.locator(f"#target-{cluster.pk}-node-table")).to_contain_text("3")
    page.wait_for_function(  # the chart redrew from the pushed data: 3 running at the end
        f"""() => {{
          const chart = Chart.getChart(document.getElementById('target-{cluster.pk}-node-chart'));
          const running = chart.data.datasets.find((d) => d.label === 'Running');
          return running && running.data[running.data.length - 1].y === 3;
        }}"""
    )

    # A state change re-renders the whole status part: the new canvas gets a chart of its own.
    page.evaluate(f"document.getElementById('target-{cluster.pk}-node-chart').dataset.old = '1'")
    with transaction.atomic():
        cluster.activity = "Rewriting slurm.conf"
        cluster.save(update_fields=["activity"])
        push_target(cluster)
    expect(page.locator(f"#target-{cluster.pk}-activity")).to_contain_text("Rewriting slurm.conf")
    page.wait_for_function(
        f"""() => {{
          const canvas = document.getElementById('target-{cluster.pk}-node-chart');
          return !canvas.dataset.old && Chart.getChart(canvas) !== undefined;
        }}"""
    )

    page.goto(f"{live_portal}/runs/{waiting.pk}/")
    expect(page.locator(f"#run-{waiting.pk}-status")).to_contain_text("Queued in dedicated, position 1 of 2")
    screenshot("cluster-queued-run")


def test_multi_node_log_shows_ranks_and_filters_one(page, live_portal, team, sign_in, screenshot):
    make_engine(team.workspace)
    cluster = make_cluster(team.workspace)
    run = make_run(team.workspace, cluster, status=RunStatus.RUNNING, node_count=2, processes_per_node=1)
    texts = ["0: rank 0 starts\n1: rank 1 starts\n0: loss=0.9", "1\n1: loss=0.8\n", "0: agreed sum=3\n"]
    with transaction.atomic():
        chunks = [RunLogChunk(run=run, seq=i, stream="stdout", text=t) for i, t in enumerate(texts)]
        RunLogChunk.objects.bulk_create(chunks)
        push_log(run.pk, chunks, [])
    sign_in(team.contributor)
    page.goto(f"{live_portal}/runs/{run.pk}/")
    log = page.locator(f"#run-{run.pk}-log")
    expect(log).to_contain_text("agreed sum=3")
    assert log.inner_text().replace("\n", "|").startswith("0: rank 0 starts|1: rank 1 starts|0: loss=0.91|")
    expect(log.locator(".log-rank")).to_have_count(5)
    page.select_option(f"#run-{run.pk}-rank-filter", "1")
    expect(log.locator('.log-line[data-rank="0"]').first).to_be_hidden()
    expect(log.locator('.log-line[data-rank="1"]').first).to_be_visible()
    assert "loss=0.91" not in log.inner_text() and "loss=0.8" in log.inner_text()
    screenshot("run-log-rank-filter")
    page.select_option(f"#run-{run.pk}-rank-filter", "")
    expect(log).to_contain_text("loss=0.91")


def _artifact(name):
    from tests.e2e.conftest import SCREENSHOTS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"


def test_submit_page_asks_nodes_and_partition_for_a_cluster_only(
    page, live_portal, team, sign_in, screenshot
):
    from compute.models import ComputeTarget, Origin, TargetState

    local_target = ComputeTarget.objects.get(workspace=team.workspace, kind="local")
    ComputeTarget.objects.filter(pk=local_target.pk).update(state=TargetState.SUCCEEDED)
    make_engine(team.workspace)
    cluster = make_cluster(team.workspace)
    other = make_cluster(team.workspace, "site", origin=Origin.ATTACHED)
    other.capabilities = {"partitions": [{"name": "gpu", "default": True}]}
    other.save()
    sign_in(team.contributor)
    page.goto(f"{live_portal}/runs/new/")
    page.select_option("#id_target", str(local_target.pk))
    expect(page.locator("#cluster-fields")).to_be_hidden()
    page.select_option("#id_target", str(cluster.pk))
    expect(page.locator("#cluster-fields")).to_be_visible()
    expect(page.locator('#id_partition optgroup[label="hpc"]')).not_to_have_attribute("hidden", "")
    expect(page.locator('#id_partition optgroup[label="site"]')).to_have_attribute("hidden", "")
    page.fill("#id_node_count", "2")
    page.select_option("#id_partition", "lowpriority")
    page.locator("#cluster-fields").scroll_into_view_if_needed()
    screenshot("run-submit-cluster")
    page.select_option("#id_target", str(other.pk))
    expect(page.locator("#id_partition")).to_have_value("")  # hpc's partition is not site's


def test_owner_adds_a_node_size_and_the_create_form_offers_it(page, live_portal, team, sign_in, screenshot):
    make_engine(team.workspace)
    sign_in(team.owner)
    page.goto(f"{live_portal}/workspace/settings/")
    page.click("#workspace-node-sizes")
    expect(page.locator("#node-sizes")).to_contain_text("gpu-small")
    page.fill("#id_name", "fat")
    page.fill("#id_cpu_cores", "2")
    page.fill("#id_memory_gb", "8")
    page.fill("#id_hourly_price", "0.25")
    page.get_by_role("button", name="Add").click()
    expect(page.locator("#node-sizes")).to_contain_text("fat")
    screenshot("node-sizes")
    page.goto(f"{live_portal}/compute/add/?kind=slurm&mode=create")
    expect(page.locator("#id_size")).to_contain_text("fat — 2 cores, 8 GB")
