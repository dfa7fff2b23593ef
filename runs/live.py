"""Group names and pushes for runs.

Status changes are pushed as HTML partials (htmx swaps them by id). Log
chunks and metric points are pushed as one JSON frame per stored batch,
after commit; the page keeps the highest seq it has and asks for "after seq
N" on every (re)connect, so a lost push costs nothing.
"""

import json
import logging
import threading
from contextlib import contextmanager

from django.db import transaction

from portal.live import broadcast
from portal.pushes import send_later

log = logging.getLogger(__name__)


def run_group(run_id: int) -> str:
    return f"run-{run_id}"


def push_run(run) -> None:
    """After commit, push the run's status block to its page, and its
    target's running/queued counts to the compute list."""
    broadcast(run_group(run.pk), "runs/run_detail.html#status", {"run": run})
    from dashboard.live import push_now

    push_now(run.workspace_id)
    if run.target_id:
        from compute.live import target_list_group

        broadcast(
            target_list_group(run.target.workspace_id),
            "runs/_target_active_runs.html",
            {"target": run.target},
        )
    if run.is_terminal:  # its images show once the outputs are collected
        from .run_data import push_data

        push_data(run)


def chunk_payload(chunk) -> dict:
    return {"seq": chunk.seq, "stream": chunk.stream, "text": chunk.text}


def metric_payload(metric) -> dict:
    return {"name": metric.name, "step": metric.step, "value": metric.value}


def log_frame(chunks, metrics=(), *, reset_metrics: bool = False, truncated_before: int | None = None) -> str:
    """The JSON frame the page reads; chunks and metrics as models or as payload dicts."""
    frame = {
        "type": "log",
        "chunks": [c if isinstance(c, dict) else chunk_payload(c) for c in chunks],
        "metrics": [m if isinstance(m, dict) else metric_payload(m) for m in metrics],
    }
    if reset_metrics:
        frame["reset_metrics"] = True
    if truncated_before is not None:
        frame["truncated_before"] = truncated_before
    return json.dumps(frame)


def push_log(run_id: int, chunks, metrics) -> None:
    """After commit, push stored chunks and metric points to the run's page.

    The message carries the payloads, not a rendered frame: each socket
    drops what its page already has and holds back what would arrive ahead
    of its backfill (runs.consumers.RunConsumer)."""
    if not chunks and not metrics:
        return
    message = {
        "type": "push.log",
        "chunks": [chunk_payload(c) for c in chunks],
        "metrics": [metric_payload(m) for m in metrics],
    }

    group = run_group(run_id)

    def send():
        batch = getattr(_batch, "pending", None)
        if batch is not None:
            batch.append((group, message))
            return
        _send_all([(group, message)])

    transaction.on_commit(send)


_batch = threading.local()


@contextmanager
def batched_pushes():
    """Log pushes committed inside go out together at the end, in order: a
    monitor tick over hundreds of runs hands the sender one batch, not one per run."""
    if getattr(_batch, "pending", None) is not None:  # already batching
        yield
        return
    _batch.pending = []
    try:
        yield
    finally:
        pending, _batch.pending = _batch.pending, None
        if pending:
            _send_all(pending)


def _send_all(messages) -> None:
    send_later(messages)  # one sender thread per process, in order; the page backfills by seq


def push_system(run, stored: dict) -> None:
    """After commit, push new system samples to the run's Monitoring tab (all
    of them, with ``reset``, after they were merged), and its summary."""
    message = {"type": "push.system", "samples": stored["samples"], "reset": stored["reset"]}
    group = run_group(run.pk)
    transaction.on_commit(lambda: _send_all([(group, message)]))
    from .system_samples import summary

    broadcast(group, "runs/run_detail.html#monitoring-summary", {"run": run, "monitoring": summary(run)})


def system_frame(samples, *, reset: bool) -> str:
    return json.dumps({"type": "system", "samples": samples, "reset": reset})


def push_queue(target_id: int, limit: int = 50) -> None:
    """A run left the target's queue: the runs still queued behind it move
    up, and their pages say so."""
    from .models import Run, RunStatus

    for queued in (
        Run.objects.filter(target_id=target_id, status=RunStatus.QUEUED)
        .select_related("target")
        .order_by("queued_at")[:limit]
    ):
        broadcast(run_group(queued.pk), "runs/run_detail.html#status", {"run": queued})
