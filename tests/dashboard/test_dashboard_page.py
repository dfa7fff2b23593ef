"""The usage dashboard page, its CSV export and its live "now" block: each
shows one workspace's figures and never another's."""

import csv
import io
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from dashboard.routing import websocket_urlpatterns
from runs.models import RunStatus

from .builders import allocate, make_run, make_target


@pytest.fixture
def usage(team):
    """Two hours of one GPU in the team's workspace, eight GPUs for five hours in the other."""
    now = timezone.now()
    ours = make_target(team.workspace, "gpu-box", gpus=1)
    allocate(
        make_run(team.workspace, team.owner, target=ours, experiment="vision"),
        now - timedelta(hours=3),
        now - timedelta(hours=1),
        gpus=1,
        cpus=4,
    )
    failed = make_run(
        team.workspace,
        team.contributor,
        target=ours,
        status=RunStatus.FAILED,
        ended_at=now - timedelta(minutes=5),
        error="The script exited with code 3.",
        failure_kind="script",
    )
    allocate(failed, now - timedelta(minutes=30), now - timedelta(minutes=5), cpus=4)
    theirs = make_target(team.other_workspace, "secret-cluster", gpus=8)
    allocate(
        make_run(team.other_workspace, team.outsider, target=theirs, experiment="hidden-exp"),
        now - timedelta(hours=6),
        now - timedelta(hours=1),
        gpus=8,
    )
    return team


def test_the_page_shows_this_workspaces_usage_only(usage, login):
    page = login(usage.reader).get("/dashboard/?range=24h")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="dashboard-gpu-hours">2.00<' in html
    assert "vision" in html and "gpu-box" in html and "The script exited with code 3." in html
    assert "secret-cluster" not in html and "hidden-exp" not in html and "oscar" not in html


def test_every_table_exports_as_csv_for_its_workspace(usage, login):
    client = login(usage.reader)
    by_target = client.get("/dashboard/export/usage-by-target.csv?range=7d")
    assert by_target["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(by_target.content.decode())))
    assert rows[0] == ["Target", "Runs", "CPU-core-hours", "GPU-hours", "Node-hours"]
    assert rows[1][0] == "gpu-box" and float(rows[1][3]) == pytest.approx(2.0)
    assert len(rows) == 2
    from dashboard.report import TABLES

    for key in TABLES:
        text = client.get(f"/dashboard/export/{key}.csv").content.decode()
        assert "secret-cluster" not in text and "hidden-exp" not in text and "oscar" not in text
    assert client.get("/dashboard/export/nothing.csv").status_code == 404


def test_a_bad_custom_range_says_why(usage, login):
    page = login(usage.reader).get("/dashboard/?range=custom&from=2026-02-10&to=2026-01-01", follow=True)
    assert "The range ends before it starts." in page.content.decode()


def test_anonymous_users_go_to_login(client):
    assert client.get("/dashboard/").status_code == 302
    assert client.get("/dashboard/export/usage-by-user.csv").status_code == 302


def communicator(user, workspace_id):
    comm = WebsocketCommunicator(
        URLRouter(websocket_urlpatterns), f"/ws/workspaces/{workspace_id}/dashboard/"
    )
    comm.scope["user"] = user
    return comm


@pytest.mark.django_db(transaction=True)
async def test_running_now_is_pushed_to_members_and_never_to_another_workspace(team):
    target = await database_sync_to_async(make_target)(team.workspace, "box")
    ours = communicator(team.reader, team.workspace.pk)
    assert (await ours.connect())[0]
    first = await ours.receive_from(timeout=5)  # the block as it is now
    assert 'id="dashboard-running">0<' in first
    outsider = communicator(team.outsider, team.workspace.pk)
    connected, code = await outsider.connect()
    assert not connected and code == 4403
    theirs = communicator(team.outsider, team.other_workspace.pk)
    assert (await theirs.connect())[0]
    await theirs.receive_from(timeout=5)

    def start_a_run():
        from runs.live import push_run

        run = make_run(team.workspace, team.owner, target=target, status=RunStatus.RUNNING)
        push_run(run)

    await database_sync_to_async(start_a_run)()
    pushed = await ours.receive_from(timeout=5)
    assert 'id="dashboard-running">1<' in pushed
    assert await theirs.receive_nothing(timeout=0.5)
    await ours.disconnect()
    await theirs.disconnect()


def test_owners_price_targets_and_later_runs_are_costed(team, login):
    from decimal import Decimal

    from runs import usage as recording
    from runs.models import TargetPrice

    box = make_target(team.workspace, "box", gpus=1)
    theirs = make_target(team.other_workspace, "theirs")
    assert login(team.contributor).post("/dashboard/prices/", {f"price-{box.pk}": "2"}).status_code == 403
    owner = login(team.owner)
    page = owner.post("/dashboard/prices/", {f"price-{box.pk}": "abc"}, follow=True).content.decode()
    assert "is not a price" in page and not TargetPrice.objects.exists()
    owner.post("/dashboard/prices/", {f"price-{box.pk}": "2.50", f"price-{theirs.pk}": "9"})
    assert list(TargetPrice.objects.values_list("target__name", "hourly_price")) == [("box", Decimal("2.50"))]
    run = make_run(team.workspace, team.owner, target=box)
    held = recording.open_allocation(run, timezone.now() - timedelta(hours=2))
    recording.close_allocations(run, timezone.now() - timedelta(hours=1))
    assert held.hourly_price == Decimal("2.50")
    assert 'id="dashboard-cost">2.50<' in owner.get("/dashboard/").content.decode()
    owner.post("/dashboard/prices/", {f"price-{box.pk}": ""})
    assert not TargetPrice.objects.exists()


def test_a_csv_cell_a_spreadsheet_would_run_is_quoted(team, login):
    from tests import factories

    evil = factories.make_user("@SUM(1+1)")
    factories.add_member(team.workspace, evil, "contributor")
    now = timezone.now()
    allocate(
        make_run(team.workspace, evil, target=make_target(team.workspace, "box")),
        now - timedelta(hours=2),
        now - timedelta(hours=1),
    )
    text = login(team.reader).get("/dashboard/export/usage-by-user.csv").content.decode()
    assert "'@SUM(1+1)" in text
