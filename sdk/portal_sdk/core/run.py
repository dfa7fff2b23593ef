"""Run: one submitted script. Follow its log, read its metrics, fetch its outputs."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import quote

from ..exceptions import ActivityFailedException, ExperimentExecutionException, PortalError

if TYPE_CHECKING:
    from .experiment import Experiment
    from .workspace import Workspace

FINISHED = frozenset({"Completed", "Failed", "Canceled", "EarlyStopped"})
LOG_WAIT_SECONDS = 25  # the portal waits at most 30 s on a long-poll
CHUNK = 1024 * 1024


class Run:
    """A run of an experiment: ``experiment.submit(config)`` returns one, ``Run(exp, run_id)`` finds one."""

    def __init__(self, experiment: Experiment, run_id: str | int, **_cloud_only: Any):
        self.experiment = experiment
        self._payload: dict[str, Any] = {"id": run_id}
        self.uploaded_bytes: int | None = None  # snapshot bytes sent by submit(); 0 when unchanged
        self.snapshot_files: int | None = None
        self.refresh()

    @classmethod
    def _from_payload(cls, experiment: Experiment, payload: dict[str, Any]) -> Run:
        run = object.__new__(cls)
        run.experiment = experiment
        run._payload = payload
        run.uploaded_bytes = None
        run.snapshot_files = None
        return run

    @classmethod
    def get(cls, workspace: Workspace, run_id: str | int) -> Run:
        """A run by its id, in whichever experiment it is."""
        from .experiment import Experiment

        payload = _get(workspace, workspace.api(f"runs/{run_id}/"))
        return cls._from_payload(Experiment(workspace, payload.get("experiment", "")), payload)

    # ---- what it is -----------------------------------------------------------------

    @property
    def workspace(self) -> Workspace:
        return self.experiment.workspace

    @property
    def id(self) -> str:
        return str(self._payload["id"])

    @property
    def status(self) -> str:
        """The portal's status (Queued, Preparing, Running, Finalizing, Completed, Failed, Canceled...)."""
        return self._payload.get("status", "")

    @property
    def finished(self) -> bool:
        return bool(self._payload.get("finished")) or self.status in FINISHED

    @property
    def details(self) -> dict[str, Any]:
        return dict(self._payload)

    def get_details(self) -> dict[str, Any]:
        return self.refresh().details

    def get_status(self) -> str:
        """The status as the run page words it (e.g. "Running", "Completed")."""
        self.refresh()
        return self._payload.get("status_label") or self.status

    def get_portal_url(self) -> str:
        url = self._payload.get("url") or ""
        return url if url.startswith("http") else f"{self.workspace.url}{url}"

    def __repr__(self) -> str:
        return f"Run(id={self.id!r}, experiment={self.experiment.name!r}, status={self.status!r})"

    def _api(self, path: str = "") -> str:
        return self.workspace.api(f"runs/{self.id}/{path}")

    def refresh(self) -> Run:
        self._payload = _get(self.workspace, self._api())
        return self

    # ---- following it ----------------------------------------------------------------

    def iter_log(self, after: int = -1, *, follow: bool = True) -> Iterator[dict[str, Any]]:
        """Log chunks ``{seq, stream, text}`` after seq ``after`` (-1: from the start), each once and in order; with
        ``follow`` it long-polls until the run has finished and every chunk was read."""
        client = self.workspace._client
        while True:
            params = {"after": after}
            if follow:
                params["timeout"] = LOG_WAIT_SECONDS
            try:
                page = client.get(self._api("logs/"), params=params, timeout=LOG_WAIT_SECONDS + 30)
            except PortalError as exc:
                raise ExperimentExecutionException(exc.message, status=exc.status) from exc
            for chunk in page.get("chunks", []):
                if chunk["seq"] > after:  # a chunk is never shown twice
                    after = chunk["seq"]
                    yield chunk
            last_seq = page.get("last_seq")
            after = max(after, int(last_seq) if last_seq is not None else after)
            if page.get("more"):
                continue
            if page.get("finished") or not follow:
                if page.get("status"):
                    self._payload["status"] = page["status"]
                return

    def wait_for_completion(
        self,
        show_output: bool = False,
        wait_post_processing: bool = False,
        raise_on_error: bool = True,
        *,
        out: TextIO | None = None,
    ) -> dict[str, Any]:
        """Wait until the run ends; with ``show_output`` its log is printed live
        (each line once, in order). Raises ActivityFailedException when the run
        failed or was canceled and ``raise_on_error`` (the default). Returns the
        run's details."""
        out = out or sys.stdout
        if show_output:
            print(f"RunId: {self.id}\nWeb View: {self.get_portal_url()}\n", file=out, flush=True)
            for chunk in self.iter_log(follow=True):
                out.write(chunk["text"])
                out.flush()
            self.refresh()
        else:
            while not self.refresh().finished:
                time.sleep(2)
        if show_output:
            print(
                f"\nExecution Summary\n=================\nRunId: {self.id}\nStatus: {self.status}", file=out
            )
        if raise_on_error and self.status != "Completed":
            reason = self._payload.get("error") or f"the run ended {self.status}"
            raise ActivityFailedException(
                f"Run {self.id} {self.status.lower()}: {reason} ({self.get_portal_url()})", run=self
            )
        return self.details

    def cancel(self) -> None:
        """Ask the portal to cancel; it kills the run's whole process tree."""
        try:
            self._payload = self.workspace._client.post(self._api("cancel/"))
        except PortalError as exc:
            raise ExperimentExecutionException(exc.message, status=exc.status) from exc

    # ---- results ---------------------------------------------------------------------------

    def get_metrics(self, name: str | None = None) -> dict[str, Any]:
        """Metric name -> value, or the list of values when it was logged more than once."""
        params = {"name": name} if name else None
        data = _get(self.workspace, self._api("metrics/"), params=params)
        metrics = {}
        for metric, points in (data.get("metrics") or {}).items():
            values = [
                p["value"] for p in sorted(points, key=lambda p: (p.get("step") is None, p.get("step")))
            ]
            metrics[metric] = values[0] if len(values) == 1 else values
        return metrics

    def get_file_names(self) -> list[str]:
        """The paths of the run's outputs, e.g. ``outputs/model.pkl``."""
        return [f"outputs/{path}" for path in self._output_paths()]

    def _output_paths(self) -> list[str]:
        """Paths inside outputs/, as the portal lists them."""
        return [f["path"] for f in _get(self.workspace, self._api("outputs/"))]

    def download_file(self, name: str, output_file_path: str | os.PathLike | None = None) -> Path:
        """One output (``outputs/model.pkl`` or ``model.pkl``) to ``output_file_path`` (a file or folder)."""
        rel = _output_path(name)
        dest = Path(output_file_path or PurePosixPath(rel).name)
        if dest.is_dir():
            dest = dest / PurePosixPath(rel).name
        self._stream(self._api("outputs/" + quote(rel)), dest)
        return dest

    def download_files(
        self, prefix: str | None = None, output_directory: str | os.PathLike | None = None, **_cloud_only: Any
    ) -> list[Path]:
        """Every output whose path starts with ``prefix`` into ``output_directory``, keeping the folders."""
        root = Path(output_directory or ".")
        wanted = _output_path(prefix) if prefix else ""
        written = []
        for rel in self._output_paths():
            rel = _output_path(rel, listed=True)  # refuses a path that climbs out
            if wanted and not rel.startswith(wanted):
                continue
            dest = root / "outputs" / rel
            self._stream(self._api("outputs/" + quote(rel)), dest)
            written.append(dest)
        return written

    def _stream(self, path: str, dest: Path) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            response = self.workspace._client.request("GET", path, stream=True, timeout=300)
        except PortalError as exc:
            raise ExperimentExecutionException(exc.message, status=exc.status) from exc
        partial = dest.with_name(dest.name + ".part")
        with response, open(partial, "wb") as out:
            for block in response.iter_content(CHUNK):
                out.write(block)
        partial.replace(dest)


def _output_path(name: str, *, listed: bool = False) -> str:
    """A path inside outputs/ (a name may start with ``outputs/``; a ``listed`` one, from the
    portal, is inside already), refusing one that climbs out of the folder it is written to."""
    rel = PurePosixPath(str(name).replace("\\", "/"))
    parts = [p for p in rel.parts if p not in ("", ".", "/")]
    if parts and parts[0] == "outputs" and not listed:
        parts = parts[1:]
    if ".." in parts:
        raise ExperimentExecutionException(f"{name!r} is not a path inside outputs/.")
    return "/".join(parts)


def _get(workspace: Workspace, path: str, params: dict | None = None) -> Any:
    try:
        return workspace._client.get(path, params=params)
    except PortalError as exc:
        raise ExperimentExecutionException(exc.message, status=exc.status) from exc
