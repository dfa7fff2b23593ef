"""Make a personal access token from the shell; prints the token only, for scripts:

TOKEN=$(manage.py create_api_token --user ci --workspace vision-team --read-only --days 30)
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from portal import tokens
from portal.models import Workspace


class Command(BaseCommand):
    help = "Make an API token for a user in one workspace and print it (only it: it is not stored)."

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="The username the token acts as.")
        parser.add_argument("--workspace", required=True, help="The workspace's slug (or name).")
        parser.add_argument(
            "--read-only", action="store_true", help="Reads only: no adding, changing, submitting."
        )
        parser.add_argument(
            "--days", type=int, default=90, help="Days until it expires (1 to 366; default 90)."
        )
        parser.add_argument("--name", default="", help="What uses it (default: “created with manage.py”).")

    def handle(self, *args, user, workspace, read_only, days, name, **options):
        account = get_user_model().objects.filter(username=user).first()
        if account is None:
            raise CommandError(f"No user “{user}”.")
        space = (
            Workspace.objects.filter(slug=workspace).first()
            or Workspace.objects.filter(name=workspace).first()
        )
        if space is None:
            raise CommandError(f"No workspace “{workspace}” (give its slug).")
        try:
            issued = tokens.token_create(
                user=account,
                workspace=space,
                name=name or "created with manage.py",
                read_only=read_only,
                days=days,
            )
        except tokens.TokenError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(issued.plaintext)
