"""manage.py setup_local_runner: the unprivileged user local runs execute as (idempotent)."""

import pwd
import subprocess

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from compute.backends import local_user
from compute.backends.base import BackendError


class Command(BaseCommand):
    help = (
        "When the portal runs as root: create the unprivileged user local runs execute as "
        "(PORTAL_LOCAL_RUN_USER) and its working directory (PORTAL_LOCAL_WORKDIR). Safe to run again."
    )

    def handle(self, *args, **options):
        if local_user.runs_with_portal_rights():
            self.stdout.write(
                "The portal does not run as root: local runs have its own rights, and there is "
                "no user to create. Run it as root, or revoke the local computer (grant_local_target --revoke)."
            )
            return
        name = settings.LOCAL_RUN_USER
        if not _exists(name):
            result = subprocess.run(
                ["useradd", "--system", "--create-home", "--shell", "/usr/sbin/nologin", name],
                capture_output=True,
                text=True,
            )
            # Another process may have made it meanwhile (test sessions side by side).
            if result.returncode != 0 and not _exists(name):
                raise CommandError(f"useradd {name} failed: {result.stderr.strip()}")
            self.stdout.write(f"Created the user {name} that local runs execute as.")
        try:
            local_user.prepare_workdir(settings.LOCAL_WORKDIR, local_user.run_account())
        except BackendError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Local runs execute as {name} in {settings.LOCAL_WORKDIR}.")


def _exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
