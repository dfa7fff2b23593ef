import subprocess
from pathlib import Path

from django.conf import settings

from . import preflight
from .base import Backend, BackendError


class LocalBackend(Backend):
    kind = "local"
    label = "Local computer"
    description = "The machine the portal's workers run on."
    icon = "pc-display"
    modes = ()  # present in every workspace, never added by hand

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
