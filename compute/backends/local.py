import logging
import os
import shutil
import subprocess
import tempfile

from django.conf import settings

from . import local_user, preflight
from .base import Backend, BackendError
from .runner import RunnerMixin

log = logging.getLogger(__name__)


class LocalBackend(RunnerMixin, Backend):
    kind = "local"
    label = "Local computer"
    description = "The machine the portal's workers run on."
    icon = "pc-display"
    modes = ()  # present in every workspace, never added by hand

    @property
    def workdir(self) -> str:
        return self.target.config.get("workdir") or settings.LOCAL_WORKDIR

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
        account = local_user.run_account()
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
        account = local_user.run_account()
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
            with local_user.open_run_file(path, local_user.run_account()) as f:
                f.seek(offset)
                return f.read(limit)
        except FileNotFoundError:
            return b""
        except local_user.NotARunFile as exc:
            # The run swapped its file for something else: its log stops there.
            log.warning("%s", exc.message)
            return b""

    def _fetch(self, path, dest):
        with local_user.open_run_file(path, local_user.run_account()) as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out)
