import shutil
import subprocess
from pathlib import Path

from django.conf import settings

from . import preflight
from .base import Backend, BackendError
from .runner import RunnerMixin


class LocalBackend(RunnerMixin, Backend):
    kind = "local"
    label = "Local computer"
    description = "The machine the portal's workers run on."
    icon = "pc-display"
    modes = ()  # present in every workspace, never added by hand
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
        return "The local computer belongs to every workspace and cannot be detached."

    @property
    def workdir(self) -> str:
        return self.target.config.get("workdir") or settings.LOCAL_WORKDIR

    def check(self, progress):
        progress("Preflight: reading this machine's capabilities")
        Path(self.workdir).mkdir(parents=True, exist_ok=True)
        try:
            result = subprocess.run(
                preflight.command(self.workdir),
                capture_output=True,
                text=True,
                timeout=settings.PREFLIGHT_TIMEOUT,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise BackendError(
                f"The preflight took longer than {settings.PREFLIGHT_TIMEOUT:.0f} s."
            ) from None
        return preflight.parse(result.stdout, workdir=self.workdir)

    # ---- run primitives (see runner.py) ----------------------------------------
    def _sh(self, script, args, *, timeout=None):
        Path(self.workdir).mkdir(parents=True, exist_ok=True)
        try:
            result = subprocess.run(
                ["/bin/sh", "-c", script, "sh", *args],
                capture_output=True,
                text=True,
                timeout=timeout or self.command_timeout,
                stdin=subprocess.DEVNULL,
                cwd=self.workdir,
                start_new_session=True,
            )
        except subprocess.TimeoutExpired:
            limit = timeout or self.command_timeout
            raise BackendError(f"A command took longer than {limit:.0f} s.") from None
        return result.returncode, result.stdout, result.stderr

    def _put_snapshot(self, sha256, archive):
        # The portal's own store is on this machine: extract straight from it.
        return str(archive), False

    def _read(self, path, offset, limit):
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                return f.read(limit)
        except FileNotFoundError:
            return b""

    def _fetch(self, path, dest):
        shutil.copyfile(path, dest)


def local_target(*, workspace):
    """The workspace's local computer target; None where it has none."""
    from ..models import ComputeTarget

    return ComputeTarget.objects.filter(workspace=workspace, kind=LocalBackend.kind).first()
