"""First admin account and workspace; safe to run again."""

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from compute.local_grant import local_target_grant
from compute.services import ensure_local_target
from portal.models import Workspace
from portal.services import workspace_create


class Command(BaseCommand):
    help = "Create the first admin and workspace (PORTAL_ADMIN_USER / PORTAL_ADMIN_PASSWORD)."

    def handle(self, *args, **options):
        User = get_user_model()
        username = os.environ.get("PORTAL_ADMIN_USER", "admin")
        password = os.environ.get("PORTAL_ADMIN_PASSWORD", "")
        user = User.objects.filter(username=username).first()
        if user is None:
            generated = not password
            password = password or secrets.token_urlsafe(12)
            user = User.objects.create_superuser(username=username, password=password, email="")
            if generated:
                self.stdout.write(
                    self.style.WARNING(
                        f"Created admin '{username}' with password: {password}\n"
                        "It is shown this once: write it down, or set PORTAL_ADMIN_PASSWORD next time."
                    )
                )
            else:
                self.stdout.write(f"Created admin '{username}' (password from PORTAL_ADMIN_PASSWORD).")
        elif password and not user.check_password(password):
            user.set_password(password)
            user.save(update_fields=["password"])
            self.stdout.write(f"Admin '{username}': password updated from PORTAL_ADMIN_PASSWORD.")
        if not Workspace.objects.exists():
            workspace = workspace_create(name="Default", owner=user)
            # The first workspace is the admin's own: it gets the local computer.
            local_target_grant(workspace=workspace)
            self.stdout.write(
                f"Created workspace '{workspace}' with {username} as owner and the local computer."
            )
        for workspace in Workspace.objects.filter(local_target_allowed=True):
            ensure_local_target(workspace=workspace)
