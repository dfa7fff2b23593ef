"""A cluster's page from constructed nodes, samples and queue; the compute
list's node summary without a query per row; the resize form and service."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from compute import services
from compute.models import NodeState, Origin, TargetEvent

from .clusters import add_nodes, add_samples, make_cluster, make_engine, make_run, queue_entry


@pytest.fixture
def cluster(team):
    make_engine(team.workspace)
    return make_cluster(team.workspace)


def queued_run(team, cluster, **fields):
    return make_run(team.workspace, cluster, **fields)


def test_list_row_counts_nodes_by_state(team, login, cluster):
    add_nodes(cluster, {"running": 2, "idle": 1, "preparing": 1, "off": 2})
    page = login(team.reader).get("/compute/").content.decode()
    assert "2 busy · 1 idle · 1 preparing (max 4)" in page


def test_an_attached_cluster_has_no_maximum_and_all_off_reads_so(team, cluster):
    from compute.selectors import node_summary

    attached = make_cluster(team.workspace, "site", origin=Origin.ATTACHED)
    add_nodes(attached, {"idle": 3, "unusable": 1})
    assert node_summary(attached) == "3 idle · 1 unusable"
    add_nodes(cluster, {"off": 4})
    assert node_summary(cluster) == "no nodes up (max 4)"


def test_the_list_counts_nodes_in_one_query_for_all_clusters(team, login, cluster):
    client = login(team.reader)
    add_nodes(cluster, {"running": 1})
    client.get("/compute/")  # warm up (sessions, content types)
    with CaptureQueriesContext(connection) as one:
        client.get("/compute/")
    for i in range(4):
        add_nodes(make_cluster(team.workspace, f"hpc{i}"), {"idle": 2})
    with CaptureQueriesContext(connection) as five:
        page = client.get("/compute/").content.decode()
    assert page.count("2 idle (max 4)") == 4

    def node_queries(context):
        return [q["sql"] for q in context.captured_queries if "compute_computenode" in q["sql"]]

    assert len(node_queries(one)) == len(node_queries(five)) == 1, node_queries(five)


def test_cluster_page_shows_nodes_chart_and_queue(team, login, cluster):
    run = queued_run(team, cluster)
    busy = add_nodes(cluster, {"running": 1})[0]
    busy.run = run
    busy.save()
    add_nodes(cluster, {"idle": 1, "preparing": 1, "leaving": 1, "preempted": 1, "off": 1})
    add_nodes(cluster, {"unusable": 1}, reason="Not responding: container exited (137)")
    add_samples(cluster, [{"idle": 1}, {"idle": 1, "preparing": 1}, {"running": 1, "idle": 1}])
    cluster.observed = {
        "at": "2026-11-27T07:00:00+00:00",
        "queue": [
            queue_entry(17, state="RUNNING", run=run.pk, nodelist="node1"),
            queue_entry(18, name="other", user="alice", reason="Resources", position=1, of=2),
            queue_entry(19, run=999999, name="gone", user="bob", reason="Priority", position=2, of=2),
        ],
    }
    cluster.save()
    page = login(team.reader).get(f"/compute/{cluster.name}/").content.decode()
    for state in ("Running", "Idle", "Preparing", "Leaving", "Preempted", "Unusable", "Powered down"):
        assert f">{state}</span>" in page or f"</span>{state}</span>" in page, state
    assert "Not responding: container exited (137)" in page
    assert f'href="/runs/{run.pk}/"' in page
    assert f'id="target-{cluster.pk}-job-18"' in page and "<code>Resources</code>" in page
    assert "1 of 2" in page and "2 of 2" in page
    assert "not a portal run" in page  # a job id that names no run of this workspace
    assert f'id="target-{cluster.pk}-node-chart"' in page and '"series"' in page
    assert "The numbers as a table" in page
    assert "chart.umd.min.js" in page and "node_chart.js" in page
    assert f'id="target-{cluster.pk}-resize"' in page  # created here: it can be resized


def test_an_attached_cluster_has_no_resize_form(team, login):
    attached = make_cluster(team.workspace, "site", origin=Origin.ATTACHED)
    page = login(team.owner).get(f"/compute/{attached.name}/").content.decode()
    assert f'id="target-{attached.pk}-resize"' not in page
    assert "login.example" in page


def test_resize_queues_the_task_with_the_new_limits(
    team, login, cluster, monkeypatch, django_capture_on_commit_callbacks
):
    from compute import tasks

    queued = []
    monkeypatch.setattr(tasks.resize_cluster, "delay", lambda *args: queued.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        response = login(team.contributor).post(
            f"/compute/{cluster.name}/resize/",
            {"min_nodes": "1", "max_nodes": "6", "idle_seconds": "120"},
            HTTP_HX_REQUEST="true",
        )
    assert response.status_code == 204
    assert queued == [(cluster.pk, {"min_nodes": 1, "max_nodes": 6, "idle_seconds": 120})]
    cluster.refresh_from_db()
    assert cluster.config["max_nodes"] == 4  # saved once the cluster has them
    assert cluster.activity == "Queued for a resize"
    assert TargetEvent.objects.filter(
        target=cluster, reason__startswith="Resize requested: 1 to 6 nodes"
    ).exists()


def test_resize_form_says_what_is_wrong(team, login, cluster):
    response = login(team.contributor).post(
        f"/compute/{cluster.name}/resize/",
        {"min_nodes": "5", "max_nodes": "2", "idle_seconds": "10"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "At most the maximum (2)." in html and "greater than or equal to 30" in html
    cluster.refresh_from_db()
    assert cluster.config["max_nodes"] == 4


def test_a_reader_cannot_resize(team, login, cluster):
    response = login(team.reader).post(
        f"/compute/{cluster.name}/resize/", {"min_nodes": "1", "max_nodes": "6", "idle_seconds": "120"}
    )
    assert response.status_code == 403


def test_the_resize_task_applies_the_limits_or_keeps_the_old_ones(team, cluster, monkeypatch):
    from compute.backends.base import BackendError
    from compute.backends.slurm import CreatedSlurm

    applied = []

    def resize(self, progress, **limits):
        progress("Writing the new slurm.conf in the head")
        applied.append(limits)

    monkeypatch.setattr(CreatedSlurm, "resize", resize)
    services.cluster_resize_now(
        target_id=cluster.pk, limits={"min_nodes": 1, "max_nodes": 3, "idle_seconds": 60}
    )
    cluster.refresh_from_db()
    assert applied == [{"min_nodes": 1, "max_nodes": 3, "idle_seconds": 60}]
    assert cluster.activity == "" and cluster.config["max_nodes"] == 3
    assert cluster.events.first().reason == "Resized: 1 to 3 nodes, released after 60 s idle."

    def fails(self, progress, **limits):
        raise BackendError("scontrol reconfigure failed.")

    monkeypatch.setattr(CreatedSlurm, "resize", fails)
    services.cluster_resize_now(
        target_id=cluster.pk, limits={"min_nodes": 2, "max_nodes": 5, "idle_seconds": 60}
    )
    cluster.refresh_from_db()
    assert cluster.config["max_nodes"] == 3 and cluster.activity == ""
    assert cluster.events.first().reason == (
        "Resize failed: scontrol reconfigure failed. The cluster keeps 1 to 3 nodes, released after 60 s idle."
    )


@pytest.mark.parametrize(
    "limits,message",
    [
        ({"min_nodes": 3, "max_nodes": 2, "idle_seconds": 60}, "At most the maximum"),
        ({"min_nodes": 0, "max_nodes": 65, "idle_seconds": 60}, "At most 64"),
        ({"min_nodes": 0, "max_nodes": 4, "idle_seconds": 300}, "already has these limits"),
    ],
)
def test_resize_service_refuses(team, cluster, limits, message):
    with pytest.raises(services.TargetActionError, match=message):
        services.cluster_resize(target=cluster, user=team.owner, **limits)


def test_delete_page_says_what_goes(team, login, cluster):
    add_nodes(cluster, {"idle": 2, "off": 1})
    page = login(team.contributor).get(f"/compute/{cluster.name}/delete/").content.decode()
    assert "removes its head and node containers, its network and its volumes" in page


def test_node_states_are_the_models(cluster):
    assert {s.value for s in NodeState} >= {
        "idle",
        "running",
        "preparing",
        "leaving",
        "unusable",
        "preempted",
        "off",
    }


def test_nodes_in_natural_order_and_run_ids_as_text(team, cluster):
    from compute.models import ComputeNode
    from compute.selectors import cluster_view

    for name in ("node10", "node2", "node1"):
        ComputeNode.objects.create(target=cluster, name=name, state=NodeState.IDLE)
    run = queued_run(team, cluster)
    cluster.observed = {
        "queue": [
            {"job_id": 5, "run_id": str(run.pk), "state": "PENDING", "partition": "dedicated", "position": 1}
        ]
    }
    view = cluster_view(cluster)
    assert [n.name for n in view["nodes"]] == ["node1", "node2", "node10"]
    assert view["queue"][0]["run"] == run and view["queue"][0]["of"] == 1


def test_a_long_queue_shows_its_first_200_jobs(team, login, cluster):
    cluster.observed = {"queue": [queue_entry(i, position=i, of=250) for i in range(1, 251)]}
    cluster.save()
    page = login(team.reader).get(f"/compute/{cluster.name}/").content.decode()
    assert f'id="target-{cluster.pk}-job-200"' in page and f'id="target-{cluster.pk}-job-201"' not in page
    assert "The first 200 of 250 jobs." in page


@pytest.mark.parametrize("origin", [Origin.CREATED, Origin.ATTACHED])
@pytest.mark.parametrize("state", ["Creating", "Attaching", "Failed", "Deleting"])
def test_the_page_renders_before_anything_was_observed(team, login, origin, state):
    make_engine(team.workspace)
    target = make_cluster(team.workspace, "fresh", origin=origin, state=state)
    target.capabilities = {}
    target.save()
    response = login(team.reader).get(f"/compute/{target.name}/")
    assert response.status_code == 200
    assert "No jobs queued or running." in response.content.decode()
