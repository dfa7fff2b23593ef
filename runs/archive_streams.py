"""Reading archives nobody vouches for: the errors they raise, and a tar reader
that cannot be made to decompress, read or skip past a byte budget.

tarfile trusts its headers: a pax or GNU long-name header declaring gigabytes
is read whole into memory, and a member declaring a huge size is skipped by
decompressing all of it. Here the decompressed stream counts every byte read
or skipped, refuses single reads larger than a header can honestly be, and
stops at the budget.
"""

import bz2
import gzip
import lzma
import struct
import tarfile
import zipfile
import zlib

MAX_SINGLE_READ = 4 * 1024 * 1024
SKIP_CHUNK = 1024 * 1024

# What the standard library raises on damaged or hostile archives (ValueError
# covers "negative seek value" and UnicodeDecodeError in member names).
ARCHIVE_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    tarfile.TarError,
    OSError,
    EOFError,
    ValueError,
    struct.error,
    NotImplementedError,
    zlib.error,
    lzma.LZMAError,
    OverflowError,
    IndexError,
    KeyError,
    RecursionError,
)


class ArchiveLimitError(Exception):
    """The archive wants more than its budget; the message says what."""


def describe_error(exc: BaseException) -> str:
    """A short reason for the user; OS errors give their reason without the
    server-side path they carry."""
    path_free = exc.strerror if isinstance(exc, OSError) and exc.strerror else None
    return (path_free or str(exc) or type(exc).__name__)[:200]


class BoundedStream:
    """A forward-only, read-only view of ``raw`` that stops at ``max_position``."""

    def __init__(self, raw, *, max_position: int):
        self.raw, self.max_position, self.position = raw, max_position, 0

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0 or size > MAX_SINGLE_READ:
            raise ArchiveLimitError("The archive holds a header or member record too large to be genuine.")
        self._check(self.position + size)
        data = self.raw.read(size)
        self.position += len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        target = {0: offset, 1: self.position + offset}.get(whence)
        if target is None or target < self.position:
            raise OSError(0, "the archive asks to be read backwards")
        self._check(target)
        while self.position < target:
            data = self.raw.read(min(SKIP_CHUNK, target - self.position))
            if not data:
                break  # tarfile notices the short read itself
            self.position += len(data)
        return self.position

    def tell(self) -> int:
        return self.position

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def _check(self, position: int) -> None:
        if position > self.max_position:
            raise ArchiveLimitError(
                f"The archive expands past {self.max_position // (1024 * 1024)} MB: over the limit."
            )


def decompressed(upload):
    """``upload`` (rewound) read through the decompressor its magic bytes name."""
    upload.seek(0)
    magic = upload.read(6)
    upload.seek(0)
    if magic.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=upload, mode="rb")
    if magic.startswith(b"BZh"):
        return bz2.BZ2File(upload)
    if magic.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(upload)
    return upload


def open_tar(upload, *, max_position: int) -> tarfile.TarFile:
    """A TarFile over ``upload`` (tar, tar.gz, tar.bz2 or tar.xz) that reads at
    most ``max_position`` decompressed bytes; iterate it once, in order."""
    stream = BoundedStream(decompressed(upload), max_position=max_position)
    return tarfile.open(fileobj=stream, mode="r:")
