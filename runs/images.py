"""Docker-enabled runs: the image step of Preparing.

The environment image is built (or found) on the engine before the run's
container starts. The build log is stored as system lines with the run's next
seqs, in batches, and pushed only after commit, like the monitor's chunks; a
cancel request seen between batches stops the build.
"""

import time
from collections import deque

from django.db import transaction
from django.utils import timezone

from compute.backends.base import BackendError

from . import failures
from .lease import LeaseLost, lease_deadline
from .live import push_log
from .models import Run, RunLogChunk, RunStatus
from .monitor import _pieces


class BuildCanceled(Exception):
    """A cancel request arrived while the image was being built."""


class ImageBuildFailed(BackendError):
    """The image build failed; ``tail`` holds the installer's final error lines."""

    def __init__(self, message: str, *, tail: str):
        super().__init__(message, permanent=True)
        self.tail = tail


def prepare_image(run: Run, backend, owner: str, note: str) -> tuple[Run, str]:
    """Build or reuse the run's image; returns the reloaded run and its environment note."""
    writer = SystemLines(run, owner)
    started = time.monotonic()
    try:
        result = backend.prepare_image(writer.line)
    except BackendError as exc:
        # The build log's last batch holds pip's ERROR lines: stored before the run fails.
        writer.flush()
        summary, tail = failures.build_summary(exc.message, "\n".join(writer.recent))
        raise ImageBuildFailed(summary, tail=tail) from exc
    writer.flush()
    if result == "hit":
        image_note = f"Image cache hit ({backend.tag})"
    elif result == "built":
        image_note = f"Image built in {time.monotonic() - started:.0f} s ({backend.tag})"
    else:
        image_note = f"Base image {backend.tag}"
    run = Run.objects.select_related("target", "snapshot").get(pk=run.pk)
    return run, f"{note} · {image_note}"


class SystemLines:
    """Lines the worker itself produces, stored as system chunks."""

    def __init__(self, run: Run, owner: str, every: float = 0.25):
        self.run_id, self.owner, self.every = run.pk, owner, every
        self.pending: list[str] = []
        self.recent: deque[str] = deque(maxlen=400)  # for the failure summary
        self.last = time.monotonic()

    def line(self, text: str) -> None:
        self.pending.append(text)
        self.recent.append(text)
        if time.monotonic() - self.last >= self.every or len(self.pending) >= 500:
            self.flush()

    def flush(self) -> None:
        self.last = time.monotonic()
        with transaction.atomic():
            locked = Run.objects.select_for_update().get(pk=self.run_id)
            if locked.lease_owner != self.owner:
                raise LeaseLost
            if locked.status == RunStatus.CANCEL_REQUESTED:
                raise BuildCanceled  # leaving the build's stream ends it
            if not self.pending:
                return
            text, self.pending = "".join(f"{line}\n" for line in self.pending), []
            chunks = [
                RunLogChunk(run=locked, seq=locked.next_seq + i, stream="system", text=piece)
                for i, piece in enumerate(_pieces(text))
            ]
            RunLogChunk.objects.bulk_create(chunks)
            locked.next_seq += len(chunks)
            locked.lease_expires_at = lease_deadline()
            locked.heartbeat_at = timezone.now()
            locked.save(update_fields=["next_seq", "lease_expires_at", "heartbeat_at"])
            push_log(locked.pk, chunks, [])
