"""Channel-layer sends from synchronous code, off the caller's thread.

``async_to_sync(layer.group_send)`` from a request or a worker thread runs a
new event loop per call, and channels_redis opens a connection pool per loop:
each push paid a Redis connect and an event loop before the request could
answer. Here one daemon thread per process keeps one loop (and so one pool)
and sends what it is handed in order; the caller only enqueues. Pushes stay a
courtesy: a page re-reads by seq or on reload, so one lost at exit costs
nothing.
"""

import asyncio
import logging
import os
import threading

from channels.layers import get_channel_layer

log = logging.getLogger(__name__)


class _Sender:
    def __init__(self):
        self._lock = threading.Lock()
        self._pid = None
        self._loop = None
        self._queue = None

    def _started(self):
        if self._pid != os.getpid():  # first use, or a forked child (the thread did not come along)
            with self._lock:
                if self._pid != os.getpid():
                    loop = asyncio.new_event_loop()
                    queue = asyncio.Queue()
                    threading.Thread(
                        target=self._serve, args=(loop, queue), name="channel-pushes", daemon=True
                    ).start()
                    self._loop, self._queue, self._pid = loop, queue, os.getpid()
        return self._loop, self._queue

    @staticmethod
    def _serve(loop, queue):
        asyncio.set_event_loop(loop)
        loop.run_until_complete(_drain(queue))

    def send(self, messages: list[tuple[str, dict]]) -> None:
        loop, queue = self._started()
        loop.call_soon_threadsafe(queue.put_nowait, messages)


async def _drain(queue: asyncio.Queue):
    while True:
        messages = await queue.get()
        layer = get_channel_layer()
        for group, message in messages:  # in order: a page relies on seq order per run
            try:
                await layer.group_send(group, message)
            except Exception:  # noqa: BLE001 - the page backfills by seq
                log.exception("Live push to %s failed", group)


_sender = _Sender()


def send_later(messages: list[tuple[str, dict]]) -> None:
    """Hand ``[(group, message), ...]`` to the sender thread, in order; returns at once."""
    if messages:
        _sender.send(messages)
