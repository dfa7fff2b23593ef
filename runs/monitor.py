"""The monitor: reads a run's files from the last stored offsets, stores
chunks with gapless seq and metric points in one transaction, pushes only
after commit, renews the lease, and finalizes the run when the job ends."""

import json
import logging
import os
import tarfile
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from celery.signals import worker_shutting_down
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from compute.backends.base import BackendError
from compute.backends.runner import READ_LIMIT

from . import snapshots
from .lease import LeaseLost, finish_run, update_run
from .live import push_log, push_run
from .models import Metric, Output, Run, RunLogChunk, RunStatus

log = logging.getLogger(__name__)

CHUNK_CHARS = 64 * 1024
STDERR_TAIL_LINES = 20
BUSY_SLEEP = 0.01
IDLE_SLEEP = 0.05
UNREACHABLE_SLEEP = 2.0


# Set when this worker is shutting down: monitors hand their runs back (the
# lease expires at once) instead of holding the shutdown until the runs end.
stopping = threading.Event()


@worker_shutting_down.connect
def _hand_back_runs(**kwargs):
    stopping.set()


def outputs_dir(run: Run) -> Path:
    return Path(settings.VAR_DIR) / "outputs" / run.key.hex


# ---- the monitor ------------------------------------------------------------------------------


class Monitor:
    def __init__(self, run: Run, backend, owner: str):
        self.run, self.backend, self.owner = run, backend, owner
        self.handle = run.handle
        self.cancel_sent = False

    def loop(self) -> None:
        state = None
        while True:
            if stopping.is_set():
                Run.objects.filter(pk=self.run.pk, lease_owner=self.owner).update(
                    lease_expires_at=timezone.now()
                )
                log.info("Run %s handed back: this worker is shutting down", self.run.pk)
                return
            status = Run.objects.values_list("status", flat=True).get(pk=self.run.pk)
            try:
                if status == RunStatus.CANCEL_REQUESTED and not self.cancel_sent:
                    self.backend.cancel(self.handle)
                    self.cancel_sent = True
                state = self.backend.poll(self.handle)
                if state.missing:
                    self._fail_vanished("The run folder is gone from the target.")
                    return
                moved = self.pump(state, final=state.ended)
            except BackendError as exc:
                if self._unreachable(exc):
                    return
                time.sleep(UNREACHABLE_SLEEP)
                continue
            if state.ended and not moved:
                break
            if not moved:
                time.sleep(IDLE_SLEEP)
            elif moved < 4096:
                time.sleep(BUSY_SLEEP)
        self.finalize(state)

    # Reads new bytes, stores them as chunks and metric rows with the new
    # offsets in one transaction, and pushes only after commit. Returns the
    # number of bytes consumed.
    def pump(self, state, *, final: bool) -> int:
        run = self.run
        offsets = {**run.log_offsets, "metrics": run.metrics_offset}
        # Sizes from the poll are only a hint while the job runs; once it ended, read everything.
        data = self.backend.read_logs(self.handle, offsets, None if final else state.sizes)
        consumed, texts = {}, {}
        for name, raw in data.items():
            take = _complete(raw, final=final)
            consumed[name] = take
            texts[name] = raw[:take].decode("utf-8", errors="replace")
        moved = sum(consumed.values())
        renew = run.lease_expires_at is None or run.lease_expires_at - timezone.now() < timedelta(
            seconds=settings.RUN_LEASE_SECONDS / 2
        )
        if not moved and not renew and not self._phase_fields(state, run):
            return 0
        with transaction.atomic():
            locked = (
                Run.objects.select_for_update(of=("self",))
                .select_related("target", "snapshot")
                .get(pk=run.pk)
            )
            if locked.lease_owner != self.owner:
                raise LeaseLost
            fields = self._phase_fields(state, locked)
            seq = locked.next_seq
            chunks = []
            for stream in ("system", "stdout", "stderr"):
                for piece in _pieces(texts.get(stream, "")):
                    chunks.append(RunLogChunk(run=locked, seq=seq, stream=stream, text=piece))
                    seq += 1
            RunLogChunk.objects.bulk_create(chunks)
            metrics = Metric.objects.bulk_create(_metrics(locked, texts.get("metrics", "")))
            locked.log_offsets = {
                name: int(locked.log_offsets.get(name, 0)) + consumed.get(name, 0)
                for name in ("stdout", "stderr", "system")
            }
            locked.metrics_offset += consumed.get("metrics", 0)
            locked.next_seq = seq
            now = timezone.now()
            locked.lease_expires_at = now + timedelta(seconds=settings.RUN_LEASE_SECONDS)
            locked.heartbeat_at = now
            for name, value in fields.items():
                setattr(locked, name, value)
            locked.save(
                update_fields=[
                    "log_offsets",
                    "metrics_offset",
                    "next_seq",
                    "lease_expires_at",
                    "heartbeat_at",
                    *fields,
                ]
            )
            push_log(locked.pk, chunks, metrics)
            if fields:
                push_run(locked)
        self.run = locked
        return moved

    @staticmethod
    def _phase_fields(state, run: Run) -> dict:
        """Changes the target's state implies for the row ``run`` (read under lock)."""
        fields = {}
        if run.unreachable_since:
            fields["unreachable_since"] = None
            fields["error"] = ""
            if run.status == RunStatus.NOT_RESPONDING:
                fields["status"] = RunStatus.RUNNING if state.phase == "running" else RunStatus.PREPARING
        status = fields.get("status", run.status)
        if state.env_result and "Environment" not in run.environment_note:
            result = state.env_result
            note = (
                "Environment cache hit" if result == "hit" else f"Environment built in {result.split()[-1]} s"
            )
            fields["environment_note"] = f"{run.environment_note} · {note}" if run.environment_note else note
        if (
            state.phase == "env"
            and status == RunStatus.PREPARING
            and run.substep != "Building the environment"
        ):
            fields["substep"] = "Building the environment"
        if state.phase == "running" and status == RunStatus.PREPARING:
            fields["status"] = RunStatus.RUNNING
            fields["substep"] = ""
        if state.phase == "running" and not run.running_at:
            fields["running_at"] = timezone.now()
        return fields

    def _unreachable(self, exc: BackendError) -> bool:
        """Record that the target does not answer; True once the grace period is over (run failed)."""
        run = self.run
        now = timezone.now()
        since = run.unreachable_since or now
        if (now - since).total_seconds() > settings.RUN_UNREACHABLE_GRACE:
            self._fail_vanished(
                f"The target stopped answering for more than {settings.RUN_UNREACHABLE_GRACE:.0f} s: "
                f"{exc.message}"
            )
            return True
        self.run = update_run(
            run,
            self.owner,
            from_statuses=(RunStatus.RUNNING, RunStatus.PREPARING),
            status=RunStatus.NOT_RESPONDING,
            unreachable_since=since,
            error=f"The target does not answer: {exc.message}",
        )
        return False

    def _fail_vanished(self, reason: str) -> None:
        finish_run(self.run, self.owner, RunStatus.FAILED, error=reason)

    def finalize(self, state) -> None:
        run = self.run
        canceled = self.cancel_sent or state.canceled
        if not canceled:
            run = update_run(
                run,
                self.owner,
                from_statuses=(RunStatus.RUNNING, RunStatus.PREPARING),
                status=RunStatus.FINALIZING,
                finalizing_at=timezone.now(),
                substep="Collecting outputs",
            )
        try:
            self.collect_outputs(run)
        except BackendError as exc:
            log.warning("Run %s: outputs not collected: %s", run.pk, exc.message)
        tail = stderr_tail(run)
        if canceled:
            finish_run(
                run,
                self.owner,
                RunStatus.CANCELED,
                error="Canceled: the process tree was killed.",
                exit_code=state.exit_code,
                stderr_tail=tail,
            )
        elif state.exit_code == 0:
            finish_run(run, self.owner, RunStatus.COMPLETED, exit_code=0)
        elif state.exit_code is not None:
            error = state.failure or f"The script exited with code {state.exit_code}."
            finish_run(
                run, self.owner, RunStatus.FAILED, error=error, exit_code=state.exit_code, stderr_tail=tail
            )
        else:
            finish_run(
                run,
                self.owner,
                RunStatus.FAILED,
                stderr_tail=tail,
                error="The job ended without an exit code: it was killed on the target.",
            )

    def collect_outputs(self, run: Run) -> None:
        dest = outputs_dir(run)
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
            archive = Path(tmp) / "outputs.tar.gz"
            if not self.backend.fetch_outputs(self.handle, archive):
                return
            snapshots.remove_tree(dest)
            dest.mkdir()
            with tarfile.open(archive, "r:gz") as tar:
                members = [m for m in tar.getmembers() if m.isreg() or m.isdir()]
                tar.extractall(dest, members=members, filter="data")
        rows = []
        root = dest / "outputs"
        for dirpath, _, filenames in os.walk(root):
            for name in filenames:
                path = Path(dirpath) / name
                rows.append(Output(run=run, path=path.relative_to(root).as_posix(), size=path.stat().st_size))
        Output.objects.filter(run=run).delete()
        Output.objects.bulk_create(rows)


# ---- helpers ---------------------------------------------------------------------------------------


def _complete(raw: bytes, *, final: bool) -> int:
    """How many bytes of ``raw`` to store now: whole lines only, unless the run
    ended or a single line fills the whole read."""
    if final or not raw:
        return len(raw)
    end = raw.rfind(b"\n")
    if end >= 0:
        return end + 1
    return len(raw) if len(raw) >= READ_LIMIT else 0


def _pieces(text: str):
    """Split text into chunks of at most CHUNK_CHARS, at line ends where possible."""
    while text:
        if len(text) <= CHUNK_CHARS:
            yield text
            return
        cut = text.rfind("\n", 0, CHUNK_CHARS)
        cut = CHUNK_CHARS if cut < 0 else cut + 1
        yield text[:cut]
        text = text[cut:]


def _metrics(run: Run, text: str) -> list[Metric]:
    rows = []
    for line in text.splitlines():
        try:
            point = json.loads(line)
            value = point["value"]
            if value is None:
                continue
            rows.append(
                Metric(
                    run=run,
                    name=str(point["name"])[:200],
                    step=int(point["step"]),
                    value=float(value),
                    time=datetime.fromtimestamp(float(point.get("time") or time.time()), tz=UTC),
                )
            )
        except (ValueError, KeyError, TypeError):
            log.warning("Run %s: skipped a malformed metrics line", run.pk)
    return rows


def stderr_tail(run: Run, lines: int = STDERR_TAIL_LINES) -> str:
    texts = []
    total = 0
    for text in (
        RunLogChunk.objects.filter(run=run, stream__in=["stderr", "system"])
        .order_by("-seq")
        .values_list("text", flat=True)[:200]
    ):
        texts.append(text)
        total += text.count("\n")
        if total > lines:
            break
    return "\n".join("".join(reversed(texts)).rstrip("\n").splitlines()[-lines:])
