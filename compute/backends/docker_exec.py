"""The four run primitives of runner.py, inside a container: ``docker exec``,
``put_archive`` and ``get_archive``. Mixed into the created VM (one long-lived
container) and the container instance (one container per run).

The engine connection is opened on first use and held until ``close()``: a
run's monitor polls many times a second.
"""

import secrets
from pathlib import Path

from .base import BackendError

# Reads a byte range of a file; prints nothing for a file that does not exist yet.
READ_RANGE = r"""
[ -f "$1" ] || exit 0
tail -c +"$2" -- "$1" | head -c "$3"
"""


class ContainerExecMixin:
    """Subclasses implement ``_open_engine()`` and ``_exec_container(engine)``."""

    command_timeout = 60.0
    _engine = None
    _box = None  # the container the primitives run in

    def _open_engine(self):
        raise NotImplementedError

    def _exec_container(self, engine):
        raise NotImplementedError

    def _held(self):
        if self._engine is None:
            self._engine = self._open_engine()
        if self._box is None:
            self._box = self._exec_container(self._engine)
        return self._engine, self._box

    def close(self) -> None:
        self._box = None
        if self._engine is not None:
            engine, self._engine = self._engine, None
            engine.close()

    def _run(self, argv: list[str], *, timeout: float | None, binary: bool = False):
        engine, container = self._held()
        try:
            return engine.exec(container, argv, timeout=timeout or self.command_timeout, binary=binary)
        except BackendError:
            self.close()  # the next call reconnects
            raise

    # ---- primitives --------------------------------------------------------------
    def _sh(self, script: str, args: list[str], *, timeout: float | None = None):
        return self._run(["/bin/sh", "-c", script, "sh", *args], timeout=timeout)

    def _put_snapshot(self, sha256: str, archive: Path):
        engine, container = self._held()
        name = f"{sha256}.tar.gz.{secrets.token_hex(4)}"
        folder = f"{self.area}/snapshots"
        engine.put_path(container, folder, name, archive)
        return f"{folder}/{name}", True

    def _read(self, path: str, offset: int, limit: int) -> bytes:
        rc, out, err = self._run(
            ["/bin/sh", "-c", READ_RANGE, "sh", path, str(offset + 1), str(limit)], timeout=None, binary=True
        )
        if rc != 0:
            raise BackendError(
                f"Reading {path} in the container failed: {err.decode(errors='replace')[:200]}"
            )
        return out

    def _fetch(self, path: str, dest: Path) -> None:
        engine, container = self._held()
        with open(dest, "wb") as sink:
            engine.copy_out(container, path, sink)
