"""Experiment: a named group of runs; ``submit()`` snapshots a folder and starts a run."""

from __future__ import annotations

import io
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import snapshot
from ..exceptions import ExperimentExecutionException, PortalError, SnapshotException
from .run import Run
from .script_run_config import ScriptRunConfig

if TYPE_CHECKING:
    from .workspace import Workspace

log = logging.getLogger("portal_sdk")


class Experiment:
    def __init__(self, workspace: Workspace, name: str, **_cloud_only: Any):
        self.workspace = workspace
        self.name = name

    def __repr__(self) -> str:
        return f"Experiment(name={self.name!r}, workspace={self.workspace.name!r})"

    def submit(self, config: ScriptRunConfig, tags: dict | None = None, **_cloud_only: Any) -> Run:
        """Upload the folder's snapshot (only when the portal lacks it) and queue
        the run; a HyperDriveConfig starts a sweep and returns its HyperDriveRun."""
        from ..train.hyperdrive import HyperDriveConfig, HyperDriveRun

        sweep = config if isinstance(config, HyperDriveConfig) else None
        if sweep is not None:
            config = sweep.run_config
        if not isinstance(config, ScriptRunConfig):
            raise ExperimentExecutionException("submit() takes a ScriptRunConfig or a HyperDriveConfig.")
        client = self.workspace._client
        sha256, packed, analysis = pack_folder(config.source_directory)
        uploaded = upload_snapshot(self.workspace, sha256, packed)
        run_config = config.run_config
        body = {
            "experiment": self.name,
            "target": run_config.target_name,
            "snapshot": sha256,
            "script": config.script,
            "arguments": config.arguments,
            "environment": run_config.environment.request(),
            "node_count": int(run_config.node_count or 1),
        }
        try:
            if sweep is not None:
                del body["node_count"]
                payload = client.post(self.workspace.api("sweeps/"), json={**body, **sweep.request()})["run"]
            else:
                payload = client.post(self.workspace.api("runs/"), json=body)
        except PortalError as exc:
            raise ExperimentExecutionException(exc.message, status=exc.status, fields=exc.fields) from exc
        run = (HyperDriveRun if sweep is not None else Run)._from_payload(self, payload)
        run.uploaded_bytes = uploaded
        run.snapshot_files = analysis.file_count
        return run

    def get_runs(self, limit: int | None = None) -> list[Run]:
        params: dict[str, Any] = {"experiment": self.name}
        if limit:
            params["limit"] = limit
        runs = []
        for payload in self.workspace._client.paged(self.workspace.api("runs/"), params):
            runs.append(Run._from_payload(self, payload))
            if limit and len(runs) >= limit:
                break
        return runs

    def get_portal_url(self) -> str:
        return f"{self.workspace.url}/"


def pack_folder(source_directory: str | os.PathLike) -> tuple[str, bytes, snapshot.Analysis]:
    """The folder's deterministic tar.gz (shared with the portal) and its sha256."""
    root = Path(source_directory)
    if not root.is_dir():
        raise SnapshotException(f"{root} is not a folder.")
    try:
        analysis = snapshot.analyse(root)
    except snapshot.SnapshotError as exc:
        raise SnapshotException(str(exc)) from None
    _drop_token_files(root, analysis)
    if not analysis.files:
        raise SnapshotException(f"Nothing is left in {root} once the ignore rules are applied.")
    buffer = io.BytesIO()
    sha256 = snapshot.pack(root, [rel for rel, _ in analysis.files], buffer)
    log.debug("snapshot %s: %d files, %d bytes packed", sha256, analysis.file_count, buffer.tell())
    return sha256, buffer.getvalue(), analysis


def _drop_token_files(root: Path, analysis: snapshot.Analysis) -> None:
    """A config.json holding a portal token never leaves this machine in a snapshot."""
    from .workspace import CONFIG_NAMES

    names = {Path(n).as_posix() for n in CONFIG_NAMES}
    for rel, size in list(analysis.files):
        if rel in names and size < 64 * 1024:
            try:
                holds_token = "token" in json.loads((root / rel).read_text())
            except (OSError, ValueError, TypeError):
                holds_token = False
            if holds_token:
                log.warning("%s holds a portal token: left out of the snapshot", rel)
                analysis.files.remove((rel, size))
                analysis.excluded.append(rel)


def upload_snapshot(workspace: Workspace, sha256: str, packed: bytes) -> int:
    """PUT the snapshot unless the workspace has it (HEAD first); the bytes sent."""
    client = workspace._client
    path = workspace.api(f"snapshots/{sha256}/")
    try:
        if client.request("HEAD", path, ok404=True).status_code == 200:
            log.debug("snapshot %s: already in %s, 0 bytes uploaded", sha256, workspace.name)
            return 0
        client.request("PUT", path, data=packed, headers={"Content-Type": "application/gzip"}, timeout=600)
    except PortalError as exc:
        raise SnapshotException(f"Snapshot upload refused: {exc.message}", status=exc.status) from exc
    log.debug("snapshot %s: %d bytes uploaded", sha256, len(packed))
    return len(packed)
