"""Serve the portal (ASGI: pages and websockets) with uvicorn.

On the embedded default (no REDIS_URL) the Celery worker and beat run inside
this process. With Redis, run `celery -A portal worker` and `celery -A portal
beat` separately, as many workers as you like.
"""

import uvicorn
from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve the portal on HOST:PORT (default 127.0.0.1:8000)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, host, port, **options):
        if settings.EMBEDDED:
            from compute.tasks import check_all_targets
            from portal import embedded

            embedded.start(beat=True)
            # The in-memory broker forgets what was queued before this process
            # started (by `manage.py bootstrap`, say): check those targets now.
            check_all_targets.delay(include_attaching=True)
            self.stdout.write("Embedded Celery worker and beat started (in-memory broker).")
        self.stdout.write(f"Serving on http://{host}:{port}/")
        uvicorn.run("portal.asgi:application", host=host, port=port, log_level="info", lifespan="off")
