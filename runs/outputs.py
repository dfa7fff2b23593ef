"""A run's outputs archive (a tar.gz of its ``outputs/`` folder, as the target
sent it), unpacked member by member under limits.

Nothing in it is trusted: only regular files and folders under ``outputs/``
are written, never absolute paths, ``..``, links or devices. Past the byte or
member limit what fit is kept and the rest is skipped, with a one-line reason
for the run's system log; a damaged archive raises OutputsError.
"""

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from django.conf import settings

from .archive_streams import ARCHIVE_ERRORS, ArchiveLimitError, describe_error, open_tar

PREFIX = "outputs"
CHUNK = 1024 * 1024
MAX_DEPTH = 64
MAX_NAME_CHARS = 900  # Output.path holds 1,000


class OutputsError(Exception):
    """The outputs archive cannot be read; the message says why."""


@dataclass
class Unpacked:
    files: list[tuple[str, int]] = field(default_factory=list)  # (path under outputs/, size)
    skipped_reason: str = ""


def _relative(name: str) -> PurePosixPath | None:
    """The member's path under outputs/, or None for one that is not a safe path there."""
    if len(name) > MAX_NAME_CHARS or name.startswith("/") or "\\" in name:
        return None
    if any(ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF for c in name):  # NUL, control, undecodable bytes
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts or len(parts) > MAX_DEPTH or not parts or parts[0] != PREFIX:
        return None
    return PurePosixPath(*parts[1:]) if len(parts) > 1 else PurePosixPath()


def unpack_outputs(archive: Path, dest: Path) -> Unpacked:
    """Unpack ``archive`` into ``dest`` (files land in ``dest/outputs/...``)."""
    max_bytes = settings.PORTAL_OUTPUTS_MAX_MB * 1024 * 1024
    max_files = settings.PORTAL_OUTPUTS_MAX_FILES
    root = dest / PREFIX
    root.mkdir(parents=True, exist_ok=True)
    result, unsafe, total = Unpacked(), 0, 0
    with open(archive, "rb") as raw:
        try:
            tar = open_tar(raw, max_position=max_bytes + (max_files + 1) * 3 * 512 + CHUNK)
        except (ArchiveLimitError, *ARCHIVE_ERRORS) as exc:
            raise OutputsError(f"The outputs archive cannot be read ({describe_error(exc)}).") from None
        members = 0
        try:
            with tar:
                for member in tar:
                    rel = _relative(member.name)
                    if rel is None or not (member.isreg() or member.isdir()):
                        unsafe += 1
                        continue
                    if member.isdir():
                        _make_folder(root, rel)
                        continue
                    members += 1
                    if members > max_files:
                        result.skipped_reason = f"Outputs over the {max_files} file limit: {len(result.files)} files kept, the rest skipped."
                        break
                    if total + member.size > max_bytes:
                        result.skipped_reason = (
                            f"Outputs over the {max_bytes // (1024 * 1024)} MB limit: {len(result.files)} files "
                            "kept, the rest skipped."
                        )
                        break
                    if not _write(tar, member, root, rel):
                        unsafe += 1
                        continue
                    total += member.size
                    result.files.append((rel.as_posix(), member.size))
        except (ArchiveLimitError, *ARCHIVE_ERRORS) as exc:
            raise OutputsError(f"The outputs archive is damaged ({describe_error(exc)}).") from None
    if unsafe:
        note = f"{unsafe} member(s) skipped: links, devices or paths outside outputs/."
        result.skipped_reason = f"{result.skipped_reason} {note}".strip()
    return result


def _make_folder(root: Path, rel: PurePosixPath) -> bool:
    try:
        root.joinpath(*rel.parts).mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        return False
    return True


def _write(tar, member, root: Path, rel: PurePosixPath) -> bool:
    """Write one regular file; False when its place is taken by a folder."""
    if not rel.parts:
        return False
    target = root.joinpath(*rel.parts)
    if not _make_folder(root, rel.parent) or target.is_dir():
        return False
    source = tar.extractfile(member)
    with open(target, "wb") as out:  # a later member of the same name replaces it, as tar does
        while block := source.read(CHUNK):
            out.write(block)
    target.chmod(0o644)
    return True
