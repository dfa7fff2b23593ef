"""Requests served by Django's real ASGI handler, as uvicorn would call it,
recording every message it sends; and reading a streamed response's body
from a synchronous test."""

import asyncio

from asgiref.sync import async_to_sync
from django.core import signals
from django.core.handlers.asgi import ASGIHandler
from django.db import close_old_connections


def streamed_body(response) -> bytes:
    """The whole body of a (sync or async) streaming response."""

    async def read():
        return b"".join([part async for part in response.streaming_content])

    if response.is_async:
        return async_to_sync(read)()
    return b"".join(response.streaming_content)


def asgi_get(path: str, *, cookies: dict[str, str], on_body=None) -> list[dict]:
    """GET `path` through ASGIHandler; on_body(message) is called as each body
    message is sent. Returns every message sent (start, then the bodies)."""
    messages: list[dict] = []
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"cookie", cookie.encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }

    async def run():
        requested = False
        never = asyncio.Event()

        async def receive():
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await never.wait()  # the client never disconnects

        async def send(message):
            messages.append(message)
            if message["type"] == "http.response.body" and on_body is not None:
                on_body(message)

        await ASGIHandler()(scope, receive, send)

    # As Django's test client does: the test's transaction is the connection.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        async_to_sync(run)()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
    return messages
