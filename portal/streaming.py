"""Streamed downloads that stay streamed under ASGI.

Django's ASGI handler serves a *synchronous* streaming iterator by reading
it whole into a list first (`sync_to_async(list)`, with a warning): a
gigabyte outputs zip or log would sit in the server's memory before the
first byte left. These helpers hand Django an asynchronous iterator that
pulls the synchronous one a block at a time on the request's own sync thread
(thread-sensitive, so the ORM cursor of a queryset iterator stays on its
connection).
"""

from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path

from asgiref.sync import sync_to_async
from django.http import StreamingHttpResponse
from django.utils.http import content_disposition_header

BLOCK_BYTES = 256 * 1024


def _take(iterator: Iterator, limit: int) -> list | None:
    """Up to `limit` bytes of parts from the iterator; None once it is spent."""
    parts, size = [], 0
    for part in iterator:
        if isinstance(part, str):
            part = part.encode()
        parts.append(part)
        size += len(part)
        if size >= limit:
            break
    return parts or None


async def _pulled(iterable: Iterable, block: int) -> AsyncIterator[bytes]:
    iterator = iter(iterable)
    take = sync_to_async(_take, thread_sensitive=True)
    try:
        while (parts := await take(iterator, block)) is not None:
            yield b"".join(parts)
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            await sync_to_async(close, thread_sensitive=True)()


def _file_blocks(path: Path, block: int) -> Iterator[bytes]:
    with path.open("rb") as f:
        while data := f.read(block):
            yield data


def streamed_response(
    iterable: Iterable, *, content_type: str, filename: str, block: int = BLOCK_BYTES
) -> StreamingHttpResponse:
    """An attachment streamed block by block from a synchronous iterable."""
    response = StreamingHttpResponse(_pulled(iterable, block), content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename)
    return response


def streamed_file(path: Path, *, content_type: str, block: int = BLOCK_BYTES) -> StreamingHttpResponse:
    """A file on disk as an attachment, read a block at a time."""
    response = streamed_response(
        _file_blocks(path, block), content_type=content_type, filename=path.name, block=block
    )
    response["Content-Length"] = str(path.stat().st_size)
    return response
