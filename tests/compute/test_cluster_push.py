"""push_cluster reaches the cluster's page and the compute list over their websockets."""

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.db import transaction

from compute.live import push_cluster
from compute.models import ComputeNode, NodeState
from portal.routing import websocket_urlpatterns

from .clusters import add_nodes, add_samples, make_cluster, make_engine, queue_entry

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def communicator(user, path):
    comm = WebsocketCommunicator(URLRouter(websocket_urlpatterns), path)
    comm.scope["user"] = user
    return comm


async def frame_with(comm, text, timeout=5):
    while True:
        frame = await comm.receive_from(timeout=timeout)
        if text in frame:
            return frame


def setup_cluster(team):
    make_engine(team.workspace)
    cluster = make_cluster(team.workspace)
    add_nodes(cluster, {"idle": 1})
    return cluster


def node_starts(cluster):
    """What the cluster code does when Slurm powers a node up: rows, a sample, the queue, then the push."""
    with transaction.atomic():
        add_nodes(cluster, {"preparing": 1})
        add_samples(cluster, [{"idle": 1, "preparing": 1}])
        cluster.observed = {
            "at": "2026-11-27T07:00:00+00:00",
            "queue": [queue_entry(41, reason="Resources", position=1, of=1)],
        }
        cluster.save(update_fields=["observed"])
        push_cluster(cluster)


async def test_push_cluster_updates_the_page_and_the_list(team):
    cluster = await database_sync_to_async(setup_cluster)(team)
    page = communicator(team.reader, f"/ws/targets/{cluster.pk}/")
    listing = communicator(team.reader, f"/ws/workspaces/{team.workspace.pk}/targets/")
    assert (await page.connect())[0] and (await listing.connect())[0]
    first = await frame_with(page, f'id="target-{cluster.pk}-live"')  # the page as it is on connect
    assert "Preparing" not in first.split(f'id="target-{cluster.pk}-nodes"')[1].split("</table>")[0]
    await frame_with(listing, "1 idle (max 4)")

    await database_sync_to_async(node_starts)(cluster)
    pushed = await frame_with(page, f'id="target-{cluster.pk}-nodes"')
    assert "Preparing" in pushed and f'id="target-{cluster.pk}-job-41"' in pushed
    assert f'id="target-{cluster.pk}-node-chart-data"' in pushed and '"preparing"' in pushed
    assert f'id="target-{cluster.pk}-live"' not in pushed  # only the cluster's parts, not the whole status
    row = await frame_with(listing, "1 idle · 1 preparing (max 4)")
    assert f'id="target-{cluster.pk}-row"' in row
    await page.disconnect()
    await listing.disconnect()


async def test_nothing_is_pushed_to_an_outsider(team):
    cluster = await database_sync_to_async(setup_cluster)(team)
    comm = communicator(team.outsider, f"/ws/targets/{cluster.pk}/")
    connected, _ = await comm.connect()
    assert not connected
    assert await database_sync_to_async(ComputeNode.objects.filter(state=NodeState.IDLE).count)() == 1
