"""The embedded default: a Celery worker and beat inside the server process.

With no REDIS_URL the broker is kombu's in-memory transport, which only
reaches consumers in the same process, so the worker runs here as threads.
Tasks still go through the broker and a real Celery worker, exactly as in
production; only the transport differs.
"""

import logging
import threading

from celery import worker as celery_worker
from celery.beat import EmbeddedService
from django.conf import settings

from .celery import app

log = logging.getLogger(__name__)
_started = threading.Lock()
_running: dict = {}


class _WorkController(celery_worker.WorkController):
    def __init__(self, *args, **kwargs):
        self.ready = threading.Event()
        super().__init__(*args, **kwargs)

    def on_consumer_ready(self, consumer):
        self.ready.set()


def start(*, beat: bool = True, concurrency: int = 4):
    """Start the in-process worker (and beat) once; returns the worker."""
    with _started:
        if "worker" in _running:
            return _running["worker"]
        app.embedded_default = True  # portal.celery refuses a worker or beat on memory:// otherwise
        # Two pools: target checks and lifecycle actions never wait behind
        # run preparation (the monitor service follows runs without a slot).
        worker = _spawn(["celery", "runs"], concurrency, "embedded")
        _running["targets"] = _spawn(["targets"], 2, "embedded-targets")
        _running["worker"] = worker
        if beat:
            service = EmbeddedService(
                app, thread=True, schedule_filename=str(settings.VAR_DIR / "celerybeat-schedule")
            )
            service.start()
            _running["beat"] = service
        log.info("Embedded Celery worker started (%s)", app.conf.broker_url)
        return worker


def _spawn(queues: list[str], concurrency: int, name: str) -> _WorkController:
    worker = _WorkController(
        app=app,
        pool="threads",
        concurrency=concurrency,
        queues=queues,
        hostname=f"{name}@{threading.get_native_id()}",
        loglevel="WARNING",
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
    )
    threading.Thread(target=worker.start, name=f"celery-{name}", daemon=True).start()
    if not worker.ready.wait(30):
        raise RuntimeError("The embedded Celery worker did not start within 30 s.")
    return worker
