"""A zip of a run's outputs, produced while it is sent: zipfile writes into a
sink that the generator drains after every block, so memory holds one block,
never the archive."""

import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

BLOCK = 256 * 1024


class _Sink:
    """A write-only, unseekable file: zipfile then writes data descriptors."""

    def __init__(self):
        self.parts: list[bytes] = []

    def write(self, data) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        return data


def stream_zip(entries: Iterable[tuple[Path, str]]) -> Iterator[bytes]:
    """The bytes of a deflated zip of (file on disk, name in the zip) pairs."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, name in entries:
            info = zipfile.ZipInfo.from_file(path, name)
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(path, "rb") as source, archive.open(info, "w") as target:
                while block := source.read(BLOCK):
                    target.write(block)
                    if data := sink.drain():
                        yield data
            if data := sink.drain():
                yield data
    if data := sink.drain():
        yield data
