"""Snapshots: a source folder, checked, filtered and stored by content hash.

Uploads arrive as a .zip, a .tar.gz or a browser folder (files with relative
paths). Each is written member by member into a fresh staging folder with
every path checked (no absolute paths, no ``..``, no links or devices), under
limits on files, bytes and compression ratio. Ignore rules (``.amlignore``,
else ``.gitignore``) are applied with pathspec, and the kept files are packed
into a deterministic tar so the same folder always hashes the same. Analysis
and packing are the SDK's (``portal_sdk.snapshot``): a folder packed by a
client and the same folder uploaded here hash the same.
"""

import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from django.conf import settings

from portal_sdk import snapshot as shared
from portal_sdk.snapshot import Analysis

from .archive_streams import ARCHIVE_ERRORS, ArchiveLimitError, describe_error, open_tar

CHUNK = 1024 * 1024
IGNORE_FILES = shared.IGNORE_FILES
MAX_DEPTH = 64  # folders inside folders; deeper paths are refused, not recursed into
MAX_NAME_CHARS = 1024
# Members of a zip may be stored or deflated; bzip2 and lzma members decompress
# without an output cap in zipfile, so a few bytes of them could fill memory.
ZIP_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}


class SnapshotError(Exception):
    """An upload that cannot become a snapshot; the message says why."""


@dataclass
class Limits:
    max_bytes: int
    max_files: int
    max_ratio: int

    @classmethod
    def from_settings(cls) -> "Limits":
        return cls(settings.SNAPSHOT_MAX_BYTES, settings.SNAPSHOT_MAX_FILES, settings.SNAPSHOT_MAX_RATIO)


def storage_dir() -> Path:
    path = Path(settings.VAR_DIR) / "snapshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def archive_path(sha256: str) -> Path:
    return storage_dir() / f"{sha256}.tar.gz"


# ---- safe staging ---------------------------------------------------------------


def clean_member_path(name: str) -> PurePosixPath:
    """A relative, normalized path inside the snapshot, or SnapshotError."""
    name = name.replace("\\", "/")
    if "\x00" in name:
        raise SnapshotError(f"“{name!r}” holds a NUL character.")
    if len(name) > MAX_NAME_CHARS:
        raise SnapshotError(f"A member's name is longer than {MAX_NAME_CHARS} characters.")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise SnapshotError(f"“{name!r}” is not a valid UTF-8 name.") from None
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise SnapshotError(f"“{name!r}” holds a control character.")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise SnapshotError(f"“{name}” is an absolute path: archives must hold relative paths only.")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise SnapshotError(f"“{name}” climbs out of the folder with “..”.")
    if not parts:
        raise SnapshotError("An archive member has an empty name.")
    if len(parts) > MAX_DEPTH:
        raise SnapshotError(f"“{name[:100]}…” is nested more than {MAX_DEPTH} folders deep.")
    return PurePosixPath(*parts)


class _Stager:
    """Writes checked files into ``root`` and keeps the running totals."""

    def __init__(self, root: Path, limits: Limits, compressed_size: int | None = None):
        self.root, self.limits = root, limits
        self.compressed_size = compressed_size
        self.files = 0
        self.folders = 0
        self.bytes = 0

    def add(self, name: str, source, *, mode: int = 0o644) -> None:
        rel = clean_member_path(name)
        self.files += 1
        if self.files > self.limits.max_files:
            raise SnapshotError(
                f"More than {self.limits.max_files} files: the snapshot limit. Exclude data folders "
                "with a .amlignore file."
            )
        dest = self.root.joinpath(*rel.parts)
        # Belt and braces: the resolved destination must stay inside the root.
        if not str(dest.resolve()).startswith(str(self.root.resolve()) + os.sep):
            raise SnapshotError(f"“{name}” would be written outside the snapshot folder.")
        if dest.exists():
            raise SnapshotError(f"“{rel}” appears twice.")
        self._make_folder(dest.parent, rel)
        with open(dest, "xb") as out:
            while block := source.read(CHUNK):
                self.bytes += len(block)
                self._check_size()
                out.write(block)
        dest.chmod(0o755 if mode & 0o111 else 0o644)

    def add_dir(self, name: str) -> None:
        rel = clean_member_path(name)
        self.folders += 1
        if self.folders > self.limits.max_files:
            raise SnapshotError(f"More than {self.limits.max_files} folders: the snapshot limit.")
        self._make_folder(self.root.joinpath(*rel.parts), rel)

    @staticmethod
    def _make_folder(path: Path, rel: PurePosixPath) -> None:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise SnapshotError(
                f"“{rel}” needs a folder where the archive has a file of the same name."
            ) from None

    def _check_size(self):
        if self.bytes > self.limits.max_bytes:
            raise SnapshotError(
                f"More than {self.limits.max_bytes // (1024 * 1024)} MB once extracted: the snapshot "
                "limit. Exclude data and outputs with a .amlignore file."
            )
        if self.compressed_size and self.bytes > 1024 * 1024:
            ratio = self.bytes / max(self.compressed_size, 1)
            if ratio > self.limits.max_ratio:
                raise SnapshotError(
                    f"The archive expands more than {self.limits.max_ratio}× its size: refused as a "
                    "possible zip bomb."
                )


def stage_zip(upload, root: Path, limits: Limits) -> None:
    size = _size_of(upload)
    try:
        archive = zipfile.ZipFile(upload)
    except ARCHIVE_ERRORS as exc:
        raise SnapshotError(f"Not a valid .zip file ({describe_error(exc)}).") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > 2 * limits.max_files:
            raise SnapshotError(
                f"The archive holds {len(infos)} members, more than the {limits.max_files} files "
                "(and as many folders) a snapshot may have."
            )
        stager = _Stager(root, limits, compressed_size=size)
        declared = sum(info.file_size for info in infos)
        if declared > limits.max_bytes:
            raise SnapshotError(
                f"The archive declares {declared // (1024 * 1024)} MB once extracted, over the "
                f"{limits.max_bytes // (1024 * 1024)} MB snapshot limit."
            )
        for info in infos:
            kind = stat.S_IFMT(info.external_attr >> 16)
            if kind == stat.S_IFLNK:
                raise SnapshotError(f"“{info.filename}” is a symbolic link: links are not accepted.")
            if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
                raise SnapshotError(f"“{info.filename}” is not a regular file or folder.")
            if info.is_dir():
                stager.add_dir(info.filename)
                continue
            if info.flag_bits & 0x1:
                raise SnapshotError(f"“{info.filename}” is encrypted: upload an archive without a password.")
            if info.compress_type not in ZIP_METHODS:
                raise SnapshotError(
                    f"“{info.filename}” uses compression method {info.compress_type}: only stored and "
                    "deflate members are accepted."
                )
            if (
                info.compress_size
                and info.file_size / info.compress_size > limits.max_ratio
                and (info.file_size > 1024 * 1024)
            ):
                raise SnapshotError(
                    f"“{info.filename}” expands more than {limits.max_ratio}× its size: refused as a "
                    "possible zip bomb."
                )
            try:
                with archive.open(info) as source:
                    stager.add(info.filename, source, mode=(info.external_attr >> 16) & 0o777)
            except SnapshotError:
                raise
            except ARCHIVE_ERRORS as exc:
                raise SnapshotError(
                    f"The archive is damaged at “{info.filename}” ({describe_error(exc)})."
                ) from None


def stage_tar(upload, root: Path, limits: Limits) -> None:
    """Read the tar member by member through a decompressed stream that stops
    at the snapshot limit, so no header can make it read or skip further."""
    size = _size_of(upload)
    # Headers and padding take at most 1.5 KiB per member, plus the end blocks.
    budget = limits.max_bytes + 2 * limits.max_files * 1536 + CHUNK
    try:
        archive = open_tar(upload, max_position=budget)
    except ArchiveLimitError as exc:
        raise SnapshotError(str(exc)) from None
    except ARCHIVE_ERRORS as exc:
        raise SnapshotError(f"Not a valid .tar.gz file ({describe_error(exc)}).") from None
    stager = _Stager(root, limits, compressed_size=size)
    try:
        with archive:
            for member in archive:
                if member.issym() or member.islnk():
                    raise SnapshotError(f"“{member.name}” is a link: links are not accepted.")
                if member.isdir():
                    stager.add_dir(member.name)
                    continue
                if not member.isreg():
                    raise SnapshotError(f"“{member.name}” is a device or special file: not accepted.")
                source = archive.extractfile(member)
                stager.add(member.name, source, mode=member.mode)
    except SnapshotError:
        raise
    except ArchiveLimitError as exc:
        raise SnapshotError(str(exc)) from None
    except ARCHIVE_ERRORS as exc:
        raise SnapshotError(f"The archive is damaged ({describe_error(exc)}).") from None


def stage_files(files: list[tuple[str, object]], root: Path, limits: Limits) -> None:
    """A browser folder upload: (relative path, file) pairs. The top folder the
    user picked is dropped, so the snapshot holds the folder's content."""
    if not files:
        raise SnapshotError("The folder is empty.")
    paths = [str(clean_member_path(name)) for name, _ in files]
    tops = {p.split("/", 1)[0] for p in paths}
    strip = len(tops) == 1 and all("/" in p for p in paths)
    stager = _Stager(root, limits)
    for path, (_, upload) in zip(paths, files, strict=True):
        stager.add(path.split("/", 1)[1] if strip else path, upload)


def stage_upload(upload, root: Path, limits: Limits) -> None:
    name = (getattr(upload, "name", "") or "").lower()
    if name.endswith(".zip"):
        stage_zip(upload, root, limits)
    elif name.endswith((".tar.gz", ".tgz", ".tar")):
        stage_tar(upload, root, limits)
    else:
        raise SnapshotError("Upload a folder, a .zip or a .tar.gz file.")


def _size_of(upload) -> int | None:
    size = getattr(upload, "size", None)
    if size is None:
        try:
            pos = upload.tell()
            upload.seek(0, os.SEEK_END)
            size = upload.tell()
            upload.seek(pos)
        except (OSError, AttributeError):
            return None
    return size


# ---- ignore rules, analysis, packing -------------------------------------------------


def analyse(root: Path) -> Analysis:
    """Kept and excluded files under ``root``; .amlignore wins over .gitignore."""
    try:
        return shared.analyse(root)
    except shared.SnapshotError as exc:
        raise SnapshotError(str(exc)) from None


pack = shared.pack  # deterministic tar.gz; returns the sha256 of the uncompressed tar


@dataclass
class Packed:
    sha256: str
    analysis: Analysis
    stored_new: bool


def build(*, upload=None, files=None, limits: Limits | None = None) -> Packed:
    """Stage, check, filter and store an upload; the archive is written only
    when no snapshot with the same content exists yet."""
    limits = limits or Limits.from_settings()
    with tempfile.TemporaryDirectory(prefix="snapshot-", dir=storage_dir()) as tmp:
        root = Path(tmp) / "src"
        root.mkdir()
        try:
            if files is not None:
                stage_files(files, root, limits)
            elif upload is not None:
                stage_upload(upload, root, limits)
            else:
                raise SnapshotError("Choose a folder or an archive to upload.")
        except SnapshotError:
            raise
        except ARCHIVE_ERRORS as exc:  # e.g. "a" as a file and "a/b": the OS refuses the second
            raise SnapshotError(f"The upload cannot be unpacked ({describe_error(exc)}).") from None
        analysis = analyse(root)
        if not analysis.files:
            raise SnapshotError("Nothing is left to run once the ignore rules are applied.")
        packed_path = Path(tmp) / "snapshot.tar.gz"
        with open(packed_path, "wb") as out:
            sha256 = pack(root, [rel for rel, _ in analysis.files], out)
        final = archive_path(sha256)
        stored_new = not final.exists()
        if stored_new:
            os.replace(packed_path, final)  # atomic: a reader never sees half an archive
        return Packed(sha256=sha256, analysis=analysis, stored_new=stored_new)


def extract_stored(sha256: str, dest: Path) -> None:
    """Unpack a stored snapshot (which the portal wrote itself) into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive_path(sha256), "r:gz") as tar:
        tar.extractall(dest, filter="data")


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
