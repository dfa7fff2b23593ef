"""The run websocket: backfill after seq N on (re)connect, pushes after commit, access."""

import json

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.db import transaction

from portal.routing import websocket_urlpatterns
from runs import services
from runs.live import push_log
from runs.models import Metric, RunLogChunk

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def run(team, local_target, make_snapshot, monkeypatch):
    """A submitted run that nobody executes: these tests push by hand, and a
    Celery worker left running by earlier tests must not push as well."""
    monkeypatch.setattr("runs.tasks.prepare_run.delay", lambda run_id: None)
    snapshot = make_snapshot({"train.py": "print(1)\n"})
    with transaction.atomic():
        run = services.run_submit(
            workspace=team.workspace,
            user=team.contributor,
            experiment_name="exp1",
            snapshot=snapshot,
            script="train.py",
            arguments=[],
            target=local_target,
            environment={"kind": "user", "interpreter": "python3"},
        )
    return run


def store(run, texts, start=0):
    chunks = [RunLogChunk(run=run, seq=start + i, stream="stdout", text=t) for i, t in enumerate(texts)]
    with transaction.atomic():
        RunLogChunk.objects.bulk_create(chunks)
        push_log(run.pk, chunks, [])
    return chunks


def communicator(user, run_id):
    app = URLRouter(websocket_urlpatterns)
    comm = WebsocketCommunicator(app, f"/ws/runs/{run_id}/")
    comm.scope["user"] = user
    return comm


async def next_log_frame(comm):
    while True:
        text = await comm.receive_from(timeout=5)
        if text.startswith("{"):
            return json.loads(text)


async def test_reconnect_backfills_exactly_the_missing_chunks(team, run):
    await database_sync_to_async(store)(run, [f"line {i}\n" for i in range(10)])
    await database_sync_to_async(Metric.objects.create)(
        run=run, name="loss", step=0, value=0.5, time="2026-01-01T00:00Z"
    )
    comm = communicator(team.reader, run.pk)
    connected, _ = await comm.connect()
    assert connected
    await comm.send_to(text_data=json.dumps({"after": -1}))
    first = await next_log_frame(comm)
    assert [c["seq"] for c in first["chunks"]] == list(range(10))
    assert first["metrics"] == [{"name": "loss", "step": 0, "value": 0.5}]
    await comm.disconnect()

    # While the page is away, more output is stored; on reconnect it asks after seq 6.
    await database_sync_to_async(store)(run, [f"line {i}\n" for i in range(10, 15)], start=10)
    comm = communicator(team.reader, run.pk)
    await comm.connect()
    await comm.send_to(text_data=json.dumps({"after": 6}))
    again = await next_log_frame(comm)
    assert [c["seq"] for c in again["chunks"]] == list(range(7, 15))
    assert [c["text"] for c in again["chunks"]] == [f"line {i}\n" for i in range(7, 15)]
    await comm.disconnect()


async def test_stored_chunks_are_pushed_after_commit(team, run):
    comm = communicator(team.reader, run.pk)
    await comm.connect()
    await database_sync_to_async(store)(run, ["hello\n", "world\n"])
    frame = await next_log_frame(comm)
    assert [(c["seq"], c["text"]) for c in frame["chunks"]] == [(0, "hello\n"), (1, "world\n")]
    await comm.disconnect()


async def test_nothing_is_pushed_when_the_transaction_rolls_back(team, run):
    comm = communicator(team.reader, run.pk)
    await comm.connect()

    def store_then_fail():
        try:
            with transaction.atomic():
                chunks = [RunLogChunk(run=run, seq=0, stream="stdout", text="never\n")]
                RunLogChunk.objects.bulk_create(chunks)
                push_log(run.pk, chunks, [])
                raise RuntimeError("rollback")
        except RuntimeError:
            pass

    await database_sync_to_async(store_then_fail)()
    assert await comm.receive_nothing(timeout=0.5)
    await comm.disconnect()


async def test_outsider_is_refused(team, run):
    comm = communicator(team.outsider, run.pk)
    connected, code = await comm.connect()
    assert not connected and code == 4403
