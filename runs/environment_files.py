"""The environment a snapshot brings along: its requirements.txt, conda
environment.yml or pyproject.toml dependencies, offered on the submit page and
in the REST API's snapshot JSON.

Only small files at the top of the folder (or of its one top folder) are read,
from the stored archive, so a large snapshot costs no more than a listing.
"""

import tarfile
import tomllib
from pathlib import PurePosixPath

import yaml

from .models import Snapshot
from .snapshots import archive_path

MAX_FILE_BYTES = 64 * 1024
# In the order they are preferred when a folder holds several.
ENVIRONMENT_FILES = {
    "requirements.txt": "pip",
    "environment.yml": "conda",
    "environment.yaml": "conda",
    "pyproject.toml": "pip",
}


def detect_environment(snapshot: Snapshot) -> dict | None:
    """``{"path", "kind": "pip" | "conda", "text", "error"}`` for the folder's
    environment file, or None without one. ``text`` is what the submit form's
    requirements box takes; a file that cannot be used has an ``error`` instead."""
    found = _candidate(snapshot)
    if found is None:
        return None
    path, size = found
    kind = ENVIRONMENT_FILES[PurePosixPath(path).name]
    found = {"path": path, "kind": kind, "text": "", "error": ""}
    if size > MAX_FILE_BYTES:
        return {
            **found,
            "error": f"{path} is over {MAX_FILE_BYTES // 1024} KB: paste the environment instead.",
        }
    try:
        text = _read_member(snapshot, path).decode("utf-8")
    except UnicodeDecodeError:
        return {**found, "error": f"{path} is not UTF-8 text."}
    except (OSError, tarfile.TarError, KeyError):
        return {**found, "error": f"{path} could not be read from the stored snapshot."}
    try:
        text = _environment_text(PurePosixPath(path).name, text)
    except ValueError as exc:
        return {**found, "error": f"{path}: {exc}"}
    if not text:
        return None  # e.g. a pyproject.toml without dependencies: nothing to offer
    return {**found, "text": text}


def _candidate(snapshot: Snapshot) -> tuple[str, int] | None:
    """The preferred environment file in the folder's top, from the snapshot's listing."""
    paths = {path: size for path, size in snapshot.files}
    tops = {path.split("/", 1)[0] for path in paths}
    prefixes = [""] + ([f"{next(iter(tops))}/"] if len(tops) == 1 else [])
    for prefix in prefixes:
        for name in ENVIRONMENT_FILES:
            if prefix + name in paths:
                return prefix + name, paths[prefix + name]
    return None


def _read_member(snapshot: Snapshot, path: str) -> bytes:
    # A stream: the archive is read up to the member, never unpacked to disk.
    with tarfile.open(archive_path(snapshot.sha256), "r|gz") as tar:
        for member in tar:
            if member.name.removeprefix("./") == path and member.isfile():
                return tar.extractfile(member).read(MAX_FILE_BYTES + 1)
    raise KeyError(path)


def _environment_text(name: str, text: str) -> str:
    """The requirements box's text for one file; ValueError for a malformed one."""
    if name == "requirements.txt":
        return text.strip()
    if name.startswith("environment."):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"not valid YAML ({_first_line(exc)}).") from None
        if not isinstance(data, dict) or not isinstance(data.get("dependencies"), list):
            raise ValueError("a conda environment file needs a dependencies: list.")
        return text.strip()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"not valid TOML ({_first_line(exc)}).") from None
    project = data.get("project")
    dependencies = (project.get("dependencies") if isinstance(project, dict) else None) or []
    if not isinstance(dependencies, list) or not all(isinstance(d, str) for d in dependencies):
        raise ValueError("[project] dependencies must be a list of requirement strings.")
    return "\n".join(d.strip() for d in dependencies if d.strip())


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
