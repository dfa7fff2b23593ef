"""manage.py grant_local_target WORKSPACE [--revoke]"""

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from compute.local_grant import local_target_grant, local_target_revoke
from compute.services import TargetActionError
from portal.models import Workspace


class Command(BaseCommand):
    help = (
        "Grant a workspace the local computer (runs on the portal's own machine), "
        "or take it back with --revoke."
    )

    def add_arguments(self, parser):
        parser.add_argument("workspace", help="the workspace's slug or name")
        parser.add_argument("--revoke", action="store_true", help="remove the grant and the local target")

    def handle(self, *args, workspace, revoke, **options):
        found = Workspace.objects.filter(Q(slug=workspace) | Q(name=workspace)).first()
        if found is None:
            known = ", ".join(Workspace.objects.values_list("slug", flat=True)) or "none yet"
            raise CommandError(f"There is no workspace “{workspace}” (workspaces: {known}).")
        try:
            if revoke:
                local_target_revoke(workspace=found)
            else:
                local_target_grant(workspace=found)
        except TargetActionError as exc:
            raise CommandError(str(exc)) from None
        if revoke:
            self.stdout.write(f"{found}: the local computer is revoked.")
        else:
            self.stdout.write(f"{found}: the local computer is granted; its check is queued.")
