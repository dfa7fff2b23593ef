import contextlib
import logging
import os
import shutil
import subprocess
import tempfile
from functools import cached_property
from pathlib import Path

from django.conf import settings

from . import local_user, preflight
from .base import Backend, BackendError, RunState
from .runner import LOG_FILES, RunnerMixin, parse_exit_code, split_run_dir

log = logging.getLogger(__name__)


class LocalBackend(RunnerMixin, Backend):
    kind = "local"
    label = "Local computer"
    description = "The machine the portal's workers run on."
    icon = "pc-display"
    modes = ()  # granted to a workspace by a superuser, never added by hand
    can_run = True
    status_template = "compute/backends/_local_status.html"
    detachable = False

    @classmethod
    def config_errors(cls, target):
        workdir = target.config.get("workdir", "")
        unknown = sorted(set(target.config) - {"workdir"})
        errors = [f"{key}: not a setting of the local computer." for key in unknown]
        if not isinstance(workdir, str) or (workdir and not workdir.startswith("/")):
            errors.append("workdir: an absolute path on this machine.")
        return errors

    def detach_refusal(self):
        return (
            "The local computer is granted by a superuser and cannot be detached: "
            "a superuser revokes it (admin, or manage.py grant_local_target --revoke)."
        )

    @property
    def workdir(self) -> str:
        return self.target.config.get("workdir") or settings.LOCAL_WORKDIR

    @cached_property
    def account(self):
        """The run user, looked up once per backend: a monitor keeps one backend
        for many ticks, and every file it reads back checks the owner."""
        return local_user.run_account()

    # The page says so when runs here have the portal's own rights (not root).
    runs_with_portal_rights = property(lambda self: local_user.runs_with_portal_rights())

    def check(self, progress):
        progress("Preflight: reading this machine's capabilities")
        account = local_user.run_account()
        local_user.prepare_workdir(self.workdir, account)
        try:
            result = subprocess.run(
                preflight.command(self.workdir),
                capture_output=True,
                text=True,
                timeout=settings.PREFLIGHT_TIMEOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.workdir,
                **local_user.process_options(account),
            )
        except subprocess.TimeoutExpired:
            raise BackendError(
                f"The preflight took longer than {settings.PREFLIGHT_TIMEOUT:.0f} s."
            ) from None
        return preflight.parse(result.stdout, workdir=self.workdir)

    # ---- run primitives (see runner.py) ----------------------------------------
    def _sh(self, script, args, *, timeout=None):
        # As root: the run's user, a clean environment, no supplementary groups.
        account = self.account
        local_user.prepare_workdir(self.workdir, account)
        try:
            result = subprocess.run(
                ["/bin/sh", "-c", script, "sh", *args],
                capture_output=True,
                text=True,
                timeout=timeout or self.command_timeout,
                stdin=subprocess.DEVNULL,
                cwd=self.workdir,
                start_new_session=True,
                **local_user.process_options(account),
            )
        except subprocess.TimeoutExpired:
            limit = timeout or self.command_timeout
            raise BackendError(f"A command took longer than {limit:.0f} s.") from None
        return result.returncode, result.stdout, result.stderr

    def _put_snapshot(self, sha256, archive):
        account = self.account
        if account is None:
            # Same user: extract straight from the portal's own store.
            return str(archive), False
        # The store is in var/ (0700): give the run's user a copy of its own. mkstemp
        # never follows a link the run's user may have planted in its folder.
        fd, copy = tempfile.mkstemp(prefix=f".snapshot-{sha256[:16]}-", suffix=".tar.gz", dir=self.workdir)
        with os.fdopen(fd, "wb") as out, open(archive, "rb") as src:
            os.fchown(out.fileno(), account.pw_uid, account.pw_gid)
            shutil.copyfileobj(src, out)
        return copy, True

    def _read(self, path, offset, limit):
        try:
            with local_user.open_run_file(path, self.account) as f:
                f.seek(offset)
                return f.read(limit)
        except FileNotFoundError:
            return b""
        except local_user.NotARunFile as exc:
            # The run swapped its file for something else: its log stops there.
            log.warning("%s", exc.message)
            return b""

    def _fetch(self, path, dest):
        with local_user.open_run_file(path, self.account) as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out)

    # ---- the batched poll, without a subprocess ----------------------------------
    poll_interval = 0.02

    def poll(self, handles, *, known=None):
        """The same answers as runner.POLL, read directly: a subprocess per tick
        would cost more than the reads themselves on this machine."""
        known = known or [set() for _ in handles]
        return [self._poll_one(handle, seen) for handle, seen in zip(handles, known, strict=True)]

    def _poll_one(self, handle: dict, seen: set) -> RunState:
        rd = Path(handle["run_dir"])
        split_run_dir(handle["run_dir"])
        if not rd.is_dir():
            return RunState(missing=True)
        alive = session_leader_alive(str(handle.get("pid", "")), str(handle.get("start", "")))
        state = RunState(alive=alive, canceled=(rd / "canceled").exists())
        if not alive:
            state.exit_code = parse_exit_code(self._read_capped(rd / "exit_code", 32))
            failure = self._read_capped(rd / "failure", 1000)
            state.failure = (failure or "").split("\n", 1)[0].replace("\r", "")
        if "phase" not in seen:
            state.phase = "".join(c for c in (self._read_capped(rd / "phase", 16) or "") if "a" <= c <= "z")
        if "env" not in seen:
            state.env_result = "".join(
                c
                for c in (self._read_capped(rd / "env_result", 200) or "")
                if c.isascii() and (c.isalnum() or c == " ")
            ).lower()
        sizes = {}
        for name, filename in LOG_FILES.items():
            with contextlib.suppress(OSError):
                sizes[name] = os.stat(rd / filename).st_size
        state.sizes = sizes or None
        return state

    def _read_capped(self, path: Path, limit: int) -> str | None:
        # Through open_run_file: a run could swap its `failure` file for a link to the keys.
        try:
            with local_user.open_run_file(str(path), self.account) as f:
                return f.read(limit).decode(errors="replace")
        except (OSError, BackendError):
            return None


def session_leader_alive(pid: str, start: str) -> bool:
    """Whether ``pid`` is still the leader of the session it started, and not
    a zombie: a pid another process reuses later does not count."""
    if not pid.isdigit() or int(pid) <= 1:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read(4096).decode(errors="replace")
    except OSError:
        return False
    fields = text.rpartition(") ")[2].split()
    if len(fields) < 20:
        return False
    state, session, started = fields[0], fields[3], fields[19]
    return state != "Z" and session == pid and (not start or started == start)


def local_target(*, workspace):
    """The workspace's local computer target; None where it has none."""
    from ..models import ComputeTarget

    return ComputeTarget.objects.filter(workspace=workspace, kind=LocalBackend.kind).first()
