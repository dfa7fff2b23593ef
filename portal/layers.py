"""The in-memory channel layer, made safe for the embedded Celery worker.

InMemoryChannelLayer keeps asyncio queues that belong to the server's event
loop. The embedded worker pushes from its own threads (async_to_sync runs each
call in a loop of its own), and asyncio queues are not thread-safe: a put from
another thread may not wake the consumer waiting on it until something else
stirs the server loop. Sends from another loop are therefore handed to the
loop the consumers receive on. (The plain layer happened to pass our embedded
test too, on a busy loop; this makes delivery not depend on luck.)
"""

import asyncio

from channels.layers import InMemoryChannelLayer


class EmbeddedChannelLayer(InMemoryChannelLayer):
    _server_loop: asyncio.AbstractEventLoop | None = None

    async def receive(self, channel):
        self._server_loop = asyncio.get_running_loop()
        return await super().receive(channel)

    async def send(self, channel, message):
        return await self._on_server_loop(super().send(channel, message))

    async def group_send(self, group, message):
        return await self._on_server_loop(super().group_send(group, message))

    async def _on_server_loop(self, coro):
        loop = self._server_loop
        if loop is None or loop.is_closed() or loop is asyncio.get_running_loop():
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))
