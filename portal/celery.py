import os
import sys

from celery import Celery
from celery.signals import beat_init, celeryd_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Set by portal.embedded when `serve` starts its in-process worker and beat:
# the only place where the in-memory broker reaches the process that queues.
app.embedded_default = False

EMBEDDED_REFUSED = (
    "Refusing to start: REDIS_URL is not set, so this {what} would use the in-memory broker, "
    "which reaches nothing outside its own process (and, without DATABASE_URL, its own SQLite file). "
    "Set REDIS_URL (and DATABASE_URL) to the ones the server uses, or run `manage.py serve` alone: "
    "on the embedded default it runs the worker and beat itself."
)


def refuse_embedded_transport(what: str) -> None:
    """A separate worker or beat on the in-memory broker would sit idle: exit at once."""
    if app.conf.broker_url.startswith("memory://") and not app.embedded_default:
        # SystemExit gets through Celery's signal dispatch (it catches Exception only).
        print(EMBEDDED_REFUSED.format(what=what), file=sys.stderr)
        raise SystemExit(2)


@celeryd_init.connect
def _refuse_embedded_worker(**kwargs):
    refuse_embedded_transport("worker")


@beat_init.connect
def _refuse_embedded_beat(**kwargs):
    refuse_embedded_transport("beat")
