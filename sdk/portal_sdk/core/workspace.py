"""The workspace: where the portal is, which workspace, and the token.

``Workspace.from_config()`` looks for a ``config.json`` the way the cloud SDK
does (``./config.json``, ``./.azureml/config.json``, then the same in each
parent folder), then falls back to the ``PORTAL_URL``, ``PORTAL_WORKSPACE``
and ``PORTAL_TOKEN`` environment variables. ``portal login`` writes the file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._http import Client
from ..exceptions import PortalError, UserErrorException

if TYPE_CHECKING:
    from .compute_target import ComputeTarget

HOME_CONFIG = Path("~/.portal/config.json")  # where `portal login` writes by default
CONFIG_NAMES = (
    "config.json",
    os.path.join(".azureml", "config.json"),
    os.path.join(".portal", "config.json"),
)
ENV_URL, ENV_WORKSPACE, ENV_TOKEN = "PORTAL_URL", "PORTAL_WORKSPACE", "PORTAL_TOKEN"


def find_config(path: str | os.PathLike | None = None) -> Path | None:
    """The first config file in ``path`` (default: the current folder) or a parent, else
    ``~/.portal/config.json``; None if none."""
    start = Path(path or os.getcwd()).resolve()
    if start.is_file():
        return start
    for folder in (start, *start.parents):
        for name in CONFIG_NAMES:
            candidate = folder / name
            if candidate.is_file():
                return candidate
    home = HOME_CONFIG.expanduser()
    return home if home.is_file() else None


def read_config(file: Path) -> dict[str, str]:
    try:
        data = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise UserErrorException(f"{file} is not a readable JSON config: {exc}.") from None
    if not isinstance(data, dict):
        raise UserErrorException(f"{file} must hold a JSON object with url, workspace and token.")
    # The cloud SDK's key for the workspace is workspace_name; either is accepted.
    return {
        "url": str(data.get("url") or ""),
        "workspace": str(data.get("workspace") or data.get("workspace_name") or ""),
        "token": str(data.get("token") or ""),
    }


class ComputeTargets(dict):
    """``ws.compute_targets``: name -> target, which may also be called (the
    2018 snippets do ``for ct in ws.compute_targets(): ...``)."""

    def __call__(self) -> Iterator[ComputeTarget]:
        return iter(list(self.values()))


class Workspace:
    """One portal workspace, reached with a personal access token."""

    def __init__(self, url: str, name: str, token: str, *, _client: Client | None = None):
        missing = [
            label for label, value in (("url", url), ("workspace", name), ("token", token)) if not value
        ]
        if missing:
            raise UserErrorException(
                f"A workspace needs {', '.join(missing)}: run `portal login`, write a config.json, "
                f"or set {ENV_URL}, {ENV_WORKSPACE} and {ENV_TOKEN}."
            )
        self.url = url.rstrip("/")
        self.name = name
        self._client = _client or Client(self.url, token)
        self._details: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"Workspace(url={self.url!r}, name={self.name!r})"

    # ---- finding one -------------------------------------------------------------------

    @classmethod
    def from_config(
        cls, path: str | os.PathLike | None = None, *, _file_name: str | None = None
    ) -> Workspace:
        """The workspace named by the nearest config.json (see the module's doc), else by the
        environment variables. Values in the environment win over an absent file only."""
        file = find_config(path)
        if file is not None:
            config = read_config(file)
            # A token may be left out of a committed file and given in the environment.
            config["token"] = config["token"] or os.environ.get(ENV_TOKEN, "")
            where = str(file)
        else:
            config = {
                "url": os.environ.get(ENV_URL, ""),
                "workspace": os.environ.get(ENV_WORKSPACE, ""),
                "token": os.environ.get(ENV_TOKEN, ""),
            }
            where = f"the {ENV_URL}/{ENV_WORKSPACE}/{ENV_TOKEN} environment variables"
            if not any(config.values()):
                raise UserErrorException(
                    "No config.json found here or in a parent folder, and no PORTAL_URL, "
                    "PORTAL_WORKSPACE, PORTAL_TOKEN set: run `portal login` first."
                )
        try:
            return cls(config["url"], config["workspace"], config["token"])
        except UserErrorException as exc:
            raise UserErrorException(f"{exc.message} (read from {where})") from None

    @classmethod
    def get(
        cls, name: str, *, url: str | None = None, token: str | None = None, **_ignored: Any
    ) -> Workspace:
        """The workspace ``name`` (its slug) on the portal at ``url``; checks that it answers.
        ``url`` and ``token`` default to PORTAL_URL and PORTAL_TOKEN."""
        ws = cls(url or os.environ.get(ENV_URL, ""), name, token or os.environ.get(ENV_TOKEN, ""))
        ws.get_details()
        return ws

    # ---- what it holds -----------------------------------------------------------------

    def api(self, path: str = "") -> str:
        """A path under this workspace in the API."""
        return f"workspaces/{self.name}/{path}"

    def get_details(self) -> dict[str, Any]:
        """``{name, slug, role, local_target_allowed}`` from the portal."""
        self._details = self._client.get(self.api())
        return self._details

    @property
    def compute_targets(self) -> ComputeTargets:
        """Every compute target of the workspace, by name (fresh from the portal each time)."""
        from .compute_target import ComputeTarget

        payloads = self._client.get(self.api("computes/"))
        return ComputeTargets((p["name"], ComputeTarget._from_payload(self, p)) for p in payloads)

    @property
    def experiments(self) -> dict[str, Any]:
        from .experiment import Experiment

        return {e["name"]: Experiment(self, e["name"]) for e in self._client.get(self.api("experiments/"))}

    def get_portal_url(self) -> str:
        return f"{self.url}/"

    def write_config(
        self, path: str | os.PathLike = ".", file_name: str = "config.json", *, token: str
    ) -> Path:
        """Write url, workspace and token to ``path/file_name`` (0600: it holds the token)."""
        return write_config(Path(path) / file_name, url=self.url, workspace=self.name, token=token)


def write_config(file: Path, *, url: str, workspace: str, token: str) -> Path:
    file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"url": url, "workspace": workspace, "token": token}, out, indent=2)
        out.write("\n")
    os.chmod(file, 0o600)
    return file


__all__ = ["ComputeTargets", "PortalError", "Workspace", "find_config", "write_config"]
