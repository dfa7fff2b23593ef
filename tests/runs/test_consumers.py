"""The run websocket: backfill after seq N on (re)connect, pushes after commit, in
seq order across a reconnect storm, access re-checked, backfill requests rate-limited."""

import asyncio
import json
import random
import threading
import time

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.db import connection, transaction
from django.test import Client
from websockets.asyncio.client import connect as ws_connect

from portal.models import Membership
from portal.routing import websocket_urlpatterns
from runs.live import push_log
from runs.models import Metric, RunLogChunk
from tests.servers import LivePortal

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def run(idle_run):
    return idle_run


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
        if text.startswith("{") and (frame := json.loads(text))["type"] == "log":
            return frame


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
    await comm.send_to(text_data=json.dumps({"after": -1}))
    assert (await next_log_frame(comm))["chunks"] == []
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


async def test_pushes_wait_for_the_backfill_and_skip_what_it_sent(team, run):
    """A push that arrives before the page said what it has is held, then
    relayed without the chunks the backfill already carried."""
    await database_sync_to_async(store)(run, ["a\n", "b\n"])
    comm = communicator(team.reader, run.pk)
    await comm.connect()
    await database_sync_to_async(store)(run, ["c\n", "d\n"], start=2)
    assert await comm.receive_nothing(timeout=0.3)  # held: no backfill asked for yet
    await comm.send_to(text_data=json.dumps({"after": 0}))
    backfill = await next_log_frame(comm)
    assert [c["seq"] for c in backfill["chunks"]] == [1, 2, 3]
    await database_sync_to_async(store)(run, ["e\n"], start=4)
    assert [c["seq"] for c in (await next_log_frame(comm))["chunks"]] == [4]
    assert await comm.receive_nothing(timeout=0.3)  # the held push added nothing new
    await comm.disconnect()


# ---- access is re-checked while the socket is open ----------------------------------


async def test_a_removed_member_is_cut_off(team, run, settings):
    settings.WS_RECHECK_SECONDS = 0
    reader, contributor = communicator(team.reader, run.pk), communicator(team.contributor, run.pk)
    for comm in (reader, contributor):
        assert (await comm.connect())[0]
        await comm.send_to(text_data=json.dumps({"after": -1}))
        await next_log_frame(comm)
    await database_sync_to_async(Membership.objects.filter(user=team.reader).delete)()
    await database_sync_to_async(store)(run, ["after removal\n"])
    assert [c["text"] for c in (await next_log_frame(contributor))["chunks"]] == ["after removal\n"]
    closed = await reader.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4403}
    await contributor.disconnect()


async def test_a_member_on_a_real_server_passes_the_recheck(team, run, settings, monkeypatch):
    """Through the real ASGI stack the socket's user is a lazy object: the
    re-check must still find the member (it once raised and closed every
    socket after its first re-check)."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.WS_RECHECK_SECONDS = 0
    portal = LivePortal()
    try:
        client = Client()
        client.force_login(team.reader)
        async with ws_connect(
            f"ws://127.0.0.1:{portal.port}/ws/runs/{run.pk}/",
            origin=portal.url,
            additional_headers={"Cookie": f"sessionid={client.cookies['sessionid'].value}"},
        ) as ws:
            await ws.send(json.dumps({"after": -1}))
            await database_sync_to_async(store)(run, ["first\n"])
            await database_sync_to_async(store)(run, ["second\n"], start=1)
            texts = []
            while len(texts) < 2:
                frame = await asyncio.wait_for(ws.recv(), timeout=10)
                if frame.startswith("{"):
                    texts += [c["text"] for c in json.loads(frame)["chunks"]]
            assert texts == ["first\n", "second\n"]
    finally:
        portal.stop()


async def test_a_removed_member_keeps_the_socket_until_the_recheck_is_due(team, run, settings):
    """The recheck is cached (a query per push would cost every page): within
    WS_RECHECK_SECONDS, which is under a minute, the socket stays open."""
    assert settings.WS_RECHECK_SECONDS <= 60
    settings.WS_RECHECK_SECONDS = 1
    comm = communicator(team.reader, run.pk)
    await comm.connect()
    await comm.send_to(text_data=json.dumps({"after": -1}))
    await next_log_frame(comm)
    await database_sync_to_async(Membership.objects.filter(user=team.reader).delete)()
    await database_sync_to_async(store)(run, ["soon\n"])
    assert [c["seq"] for c in (await next_log_frame(comm))["chunks"]] == [0]
    await asyncio.sleep(1.1)
    await database_sync_to_async(store)(run, ["too late\n"], start=1)
    assert await comm.receive_output(timeout=5) == {"type": "websocket.close", "code": 4403}


async def test_a_deactivated_user_is_cut_off(team, run, settings):
    settings.WS_RECHECK_SECONDS = 0
    comm = communicator(team.reader, run.pk)
    await comm.connect()
    team.reader.is_active = False
    await database_sync_to_async(team.reader.save)()
    await comm.send_to(text_data=json.dumps({"after": -1}))
    assert await comm.receive_output(timeout=5) == {"type": "websocket.close", "code": 4403}


# ---- backfill requests are rate-limited per socket ---------------------------------


async def test_backfill_requests_are_rate_limited(team, run, settings):
    settings.WS_BACKFILL_BURST, settings.WS_BACKFILL_PER_SECOND = 5, 1.0
    await database_sync_to_async(store)(run, [f"{i}\n" for i in range(10)])
    comm = communicator(team.reader, run.pk)
    await comm.connect()
    for after in [-1] * 5 + [7, 3, 5, 8]:
        await comm.send_to(text_data=json.dumps({"after": after}))
    answered = time.monotonic()
    for _ in range(5):  # the burst is answered at once
        assert len((await next_log_frame(comm))["chunks"]) == 10
    assert time.monotonic() - answered < 0.8
    # The four over the limit are answered once, a token later, from the lowest seq asked.
    late = await next_log_frame(comm)
    assert 0.5 < time.monotonic() - answered < 2.5
    assert [c["seq"] for c in late["chunks"]] == [4, 5, 6, 7, 8, 9]
    assert await comm.receive_nothing(timeout=1.5)
    await comm.disconnect()


# ---- a reconnect storm on a real server: every line, once, in order ---------------------


class PageLog:
    """What a run page shows, applying run.js's rule to the frames it gets.

    ``ordered``: today's run.js: chunks wait in a buffer ahead of a gap, and
    the page asks for {"after": last} again. Not ordered: the rule run.js had
    before (show what is newer than the last shown), which ends gapless only
    if the server itself never sends a chunk ahead of its backfill."""

    def __init__(self, ordered: bool):
        self.ordered = ordered
        self.last, self.pending, self.shown = -1, {}, []
        self.asked_after = None

    def apply(self, frame: dict) -> int | None:
        """Shows a frame's chunks; returns the seq to ask after when a gap remains."""
        truncated = frame.get("truncated_before")
        if truncated is not None and truncated > self.last + 1:
            raise AssertionError(f"backfill truncated before {truncated}: the page fell behind")
        if not self.ordered:
            for chunk in frame["chunks"]:
                if chunk["seq"] > self.last:
                    self.shown.append(chunk["seq"])
                    self.last = chunk["seq"]
            return None
        for chunk in frame["chunks"]:
            if chunk["seq"] > self.last:
                self.pending[chunk["seq"]] = chunk
        while self.last + 1 in self.pending:
            self.last += 1
            self.shown.append(self.pending.pop(self.last)["seq"])
        if self.pending and self.asked_after != self.last:
            self.asked_after = self.last
            return self.last
        return None


def write_like_the_monitor(run, total: int, done: threading.Event):
    """Stores chunks with gapless seq in small batches and pushes them after
    commit, as runs.monitor.pump() does, about a thousand a second."""
    rng = random.Random(7)
    seq = 0
    try:
        while seq < total:
            size = min(rng.randint(1, 6), total - seq)
            store(run, [f"line {seq + i}\n" for i in range(size)], start=seq)
            seq += size
            time.sleep(rng.uniform(0, 0.006))
    finally:
        connection.close()
        done.set()


async def follow_with_reconnects(url, headers, page: PageLog, done: threading.Event, rng, total: int) -> int:
    """Drops and reopens the socket until the writer is done, then follows to the end."""
    reconnects = 0

    async def session(ws, until):
        # A page's open handler may run a little after the socket opened.
        await asyncio.sleep(rng.uniform(0, 0.03))
        page.asked_after = page.last
        await ws.send(json.dumps({"after": page.last}))
        while time.monotonic() < until and page.last < total - 1:
            try:
                text = await asyncio.wait_for(ws.recv(), timeout=max(0.001, until - time.monotonic()))
            except TimeoutError:
                return
            if text.startswith("{"):
                ask = page.apply(json.loads(text))
                if ask is not None:
                    await ws.send(json.dumps({"after": ask}))

    while not done.is_set():
        async with ws_connect(url, **headers) as ws:
            await session(ws, time.monotonic() + rng.uniform(0.02, 0.15))
        reconnects += 1
    async with ws_connect(url, **headers) as ws:
        await session(ws, time.monotonic() + 60)  # to the last line; a loaded machine may need long
    return reconnects


@pytest.mark.slow
async def test_a_reconnect_storm_loses_nothing(team, run, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    total = 3000
    portal = LivePortal()
    try:
        client = Client()
        client.force_login(team.reader)
        headers = {
            "origin": portal.url,
            "additional_headers": {"Cookie": f"sessionid={client.cookies['sessionid'].value}"},
        }
        url = f"ws://127.0.0.1:{portal.port}/ws/runs/{run.pk}/"
        done = threading.Event()
        writer = asyncio.create_task(asyncio.to_thread(write_like_the_monitor, run, total, done))
        pages = {"ordered": PageLog(ordered=True), "unordered": PageLog(ordered=False)}
        reconnects = await asyncio.gather(
            *(
                follow_with_reconnects(url, headers, p, done, random.Random(i), total)
                for i, p in enumerate(pages.values())
            )
        )
        await writer
    finally:
        portal.stop()
    assert min(reconnects) >= 10
    stored = await database_sync_to_async(
        lambda: list(RunLogChunk.objects.filter(run=run).values_list("seq", flat=True).order_by("seq"))
    )()
    assert stored == list(range(total))
    ordered, unordered = pages["ordered"], pages["unordered"]
    missing = sorted(set(range(total)) - set(ordered.shown))
    assert ordered.shown == list(range(total)), f"{len(missing)} lines missing, first {missing[:10]}"
    # The old rule (no reordering, no re-asking) is not what run.js does; how
    # close the server alone gets to it is printed, not asserted: a rare lost
    # push under load is repaired only by the page's re-ask.
    print(f"old-rule page: {len(set(range(total)) - set(unordered.shown))} of {total} lines missing")
