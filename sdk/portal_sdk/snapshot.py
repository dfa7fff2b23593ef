"""Snapshots of a source folder: which files a run gets, packed the same way
every time so the same folder always hashes the same.

This is the one implementation: the SDK packs a folder with it before an
upload, and the portal (``runs/snapshots.py``) analyses and repacks what it
receives with it, so both sides agree on the sha256 of a folder.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from . import ignore_rules

IGNORE_FILES = ignore_rules.IGNORE_FILES


class SnapshotError(Exception):
    """A folder that cannot become a snapshot; the message says why."""


@dataclass
class Analysis:
    """What a folder holds after the ignore rules."""

    files: list[tuple[str, int]] = field(default_factory=list)  # kept, largest first
    excluded: list[str] = field(default_factory=list)
    ignore_file: str = ""

    @property
    def file_count(self) -> int:
        return len(self.files)

    @property
    def size_bytes(self) -> int:
        return sum(size for _, size in self.files)


def analyse(root: Path) -> Analysis:
    """Kept and excluded files under ``root``; .amlignore wins over .gitignore.

    Raises SnapshotError when the rules file is refused."""
    root = Path(root)
    result = Analysis()
    try:
        spec, result.ignore_file = ignore_rules.load(root)
    except ignore_rules.IgnoreRulesError as exc:
        raise SnapshotError(str(exc)) from None
    kept = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = Path(dirpath).relative_to(root)
        for name in sorted(filenames):
            rel = (rel_dir / name).as_posix()
            if spec is not None and spec.match_file(rel):
                result.excluded.append(rel)
            else:
                kept.append((rel, (Path(dirpath) / name).stat().st_size))
    result.files = sorted(kept, key=lambda item: (-item[1], item[0]))
    return result


def pack(root: Path, files: list[str], dest: BinaryIO) -> str:
    """A deterministic tar.gz of ``files`` (sorted, zero mtimes and owners, PAX)
    written to ``dest``; returns the sha256 of the uncompressed tar."""
    root = Path(root)
    digest = hashlib.sha256()

    class _Hashing:
        def __init__(self, raw):
            self.raw = raw

        def write(self, data):
            digest.update(data)
            return self.raw.write(data)

    with gzip.GzipFile(fileobj=dest, mode="wb", mtime=0, compresslevel=6) as gz:
        hashing = _Hashing(gz)
        with tarfile.open(fileobj=hashing, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for rel in sorted(files):
                path = root / rel
                info = tarfile.TarInfo(rel)
                info.size = path.stat().st_size
                info.mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
                info.mtime = 0
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                with open(path, "rb") as source:
                    tar.addfile(info, source)
    return digest.hexdigest()
