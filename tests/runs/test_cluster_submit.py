"""A run's node count, processes per node and partition: on cluster targets, from
the submit page, the service and the API; refused elsewhere with a clear message."""

import pytest
from django.urls import reverse

from compute.models import Origin
from runs import services
from runs.models import Run
from tests.compute.clusters import make_cluster, make_engine


@pytest.fixture
def cluster(team):
    make_engine(team.workspace)
    return make_cluster(team.workspace)


@pytest.fixture
def snapshot(make_snapshot):
    return make_snapshot({"train.py": "print(1)\n"})


def submit(team, target, snapshot, **placement):
    return services.run_submit(
        workspace=team.workspace,
        user=team.contributor,
        experiment_name="exp1",
        target=target,
        snapshot=snapshot,
        script="train.py",
        arguments=[],
        environment={"kind": "user", "interpreter": "python3"},
        **placement,
    )


def test_a_cluster_run_keeps_its_placement(team, cluster, snapshot):
    run = submit(team, cluster, snapshot, node_count=2, processes_per_node=4, partition="lowpriority")
    run.refresh_from_db()
    assert (run.node_count, run.processes_per_node, run.partition) == (2, 4, "lowpriority")
    again = services.run_rerun(run=run, user=team.contributor)
    assert (again.node_count, again.processes_per_node, again.partition) == (2, 4, "lowpriority")


def test_defaults_are_one_node_one_process_the_default_partition(team, cluster, snapshot):
    run = submit(team, cluster, snapshot)
    assert (run.node_count, run.processes_per_node, run.partition) == (1, 1, "")


@pytest.mark.parametrize(
    "placement,message",
    [
        ({"partition": "gpu"}, "hpc has no partition “gpu”: choose one of dedicated, lowpriority."),
        ({"node_count": 5}, "The run asks for 5 nodes; partition dedicated has 4."),
        ({"node_count": 0}, "The node count is a whole number from 1 to 64."),
        ({"processes_per_node": 0}, "Processes per node is a whole number"),
    ],
)
def test_a_cluster_refuses_what_it_cannot_place(team, cluster, snapshot, placement, message):
    with pytest.raises(services.RunError, match=message):
        submit(team, cluster, snapshot, **placement)
    assert not Run.objects.exists()


@pytest.mark.parametrize(
    "placement,message",
    [
        (
            {"node_count": 2},
            "a run uses one node and one process there. Runs on several nodes or processes need a cluster target.",
        ),
        ({"processes_per_node": 2}, "need a cluster target"),
        ({"partition": "dedicated"}, "it has no partitions"),
    ],
)
def test_other_targets_refuse_several_nodes(team, local_target, snapshot, placement, message):
    with pytest.raises(services.RunError, match=message):
        submit(team, local_target, snapshot, **placement)


def test_rerun_elsewhere_drops_the_partition_and_checks_the_count(team, cluster, local_target, snapshot):
    attached = make_cluster(team.workspace, "site", origin=Origin.ATTACHED)
    run = submit(team, cluster, snapshot, node_count=2, partition="lowpriority")
    moved = services.run_rerun(run=run, user=team.contributor, target=attached)
    assert (moved.node_count, moved.partition) == (2, "")
    with pytest.raises(services.RunError, match="need a cluster target"):
        services.run_rerun(run=run, user=team.contributor, target=local_target)


def test_the_submit_page_offers_placement_for_clusters(team, login, cluster, local_target, snapshot):
    client = login(team.contributor)
    page = client.get(reverse("run-submit")).content.decode()
    assert 'id="cluster-fields"' in page and 'name="node_count"' in page
    assert '<optgroup label="hpc">' in page and '<option value="lowpriority">' in page
    assert (
        f'"{cluster.pk}": ["dedicated", "lowpriority"]' in page
        and str(local_target.pk) not in page.split('id="cluster-partitions"')[1][:200]
    )
    response = client.post(
        reverse("run-submit"),
        {
            "target": cluster.pk,
            "experiment": "e",
            "script": "train.py",
            "environment": "user",
            "interpreter": "python3",
            "snapshot": snapshot.pk,
            "node_count": "3",
            "processes_per_node": "2",
            "partition": "dedicated",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    run = Run.objects.get()
    assert (run.node_count, run.processes_per_node, run.partition) == (3, 2, "dedicated")


def test_the_submit_page_refuses_another_clusters_partition(team, login, cluster, snapshot):
    other = make_cluster(team.workspace, "other", origin=Origin.ATTACHED)
    other.capabilities = {"partitions": [{"name": "gpu"}]}
    other.save()
    response = login(team.contributor).post(
        reverse("run-submit"),
        {
            "target": cluster.pk,
            "experiment": "e",
            "script": "train.py",
            "environment": "user",
            "snapshot": snapshot.pk,
            "node_count": "1",
            "processes_per_node": "1",
            "partition": "gpu",
        },
    )
    assert response.status_code == 400 and "hpc has no partition “gpu”" in response.content.decode()


def test_the_api_takes_and_returns_the_placement(team, api, cluster, snapshot, local_target):
    client = api(team.contributor, team.workspace)
    url = f"/api/v1/workspaces/{team.workspace.slug}/runs/"
    body = {
        "experiment": "api",
        "target": "hpc",
        "snapshot": snapshot.sha256,
        "script": "train.py",
        "node_count": 2,
        "processes_per_node": 2,
        "partition": "dedicated",
    }
    response = client.post(url, body, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert (data["node_count"], data["processes_per_node"], data["partition"], data["attempt"]) == (
        2,
        2,
        "dedicated",
        1,
    )
    refused = client.post(url, {**body, "target": "local", "partition": ""}, format="json")
    assert refused.status_code == 400 and "need a cluster target" in refused.json()["detail"]


def test_a_sweep_keeps_one_node_per_trial(team, login, cluster, snapshot):
    response = login(team.contributor).post(
        reverse("run-submit"),
        {
            "target": cluster.pk,
            "experiment": "e",
            "script": "train.py",
            "environment": "user",
            "snapshot": snapshot.pk,
            "node_count": "2",
            "processes_per_node": "1",
            "sweep": "on",
            "sampling": "random",
            "primary_metric": "accuracy",
            "goal": "maximize",
            "max_total_runs": "2",
            "max_concurrent_runs": "1",
            "policy": "none",
            "param_0_name": "--alpha",
            "param_0_type": "choice",
            "param_0_args": "1, 2",
        },
    )
    assert response.status_code == 400 and "one node, as one process" in response.content.decode()
