from django.core.management.base import BaseCommand

from compute.services import rotate_secret_keys


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret with the first key of PORTAL_ENCRYPTION_KEYS. "
        "Put the new key first, run this, then drop the old keys."
    )

    def handle(self, *args, **options):
        count = rotate_secret_keys()
        self.stdout.write(f"Re-encrypted {count} secret(s) with the current key.")
