"""Following one run: read its files from the last stored offsets, store
chunks with gapless seq and metric points in one transaction, push only
after commit, and finalize the run when the job ends.

A ``RunFollower`` holds no thread: the monitor service (monitor_service.py)
polls all of a target's runs at once and hands each follower its state.
"""

import logging
import tempfile
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from compute.backends.base import BackendError
from compute.backends.runner import READ_LIMIT

from . import failures, snapshots, system_samples, usage
from .lease import finish_run, update_run
from .live import push_log, push_run, push_system
from .metrics_lines import parse_metrics, store_records
from .models import EnvironmentCache, Metric, Output, Run, RunLogChunk, RunStatus
from .outputs import OutputsError, unpack_outputs
from .run_data import push_data

log = logging.getLogger(__name__)

CHUNK_CHARS = 64 * 1024
STDERR_TAIL_LINES = 20
TRACKED_OUTPUTS = "mlflow"  # outputs/mlflow/: artifacts sent through the MLflow API while the run ran


def outputs_dir(run: Run) -> Path:
    return Path(settings.VAR_DIR) / "outputs" / run.key.hex


# ---- one run ------------------------------------------------------------------------------


class RunFollower:
    def __init__(self, run: Run, owner: str):
        self.run, self.owner = run, owner
        self.handle = run.handle
        self.cancel_sent = False
        # What the poll no longer needs to read for this run.
        self.known: set[str] = set()

    @property
    def pk(self) -> int:
        return self.run.pk

    # ---- reading (outside any transaction) ---------------------------------------------
    def read(self, backend, state) -> "Reading":
        """The new bytes of the run's files, cut at whole lines while the job runs."""
        if "phase" in self.known and not state.phase:
            state.phase = "running"  # no longer read: it does not change once running
        run = self.run
        offsets = {**run.log_offsets, "metrics": run.metrics_offset}
        # Sizes from the poll are only a hint while the job runs; once it ended, read everything.
        data = backend.read_logs(self.handle, offsets, None if state.ended else state.sizes)
        consumed, texts = {}, {}
        for name, raw in data.items():
            take = _complete(raw, final=state.ended)
            consumed[name] = take
            texts[name] = raw[:take].decode("utf-8", errors="replace")
        return Reading(state, consumed, texts)

    def needs_storing(self, reading: "Reading") -> bool:
        return bool(reading.moved or self._phase_fields(reading.state, self.run))

    def seen(self, state) -> None:
        """Note what the poll no longer needs to read for this run."""
        if state.phase == "running":
            self.known.add("phase")
        if state.env_result:
            self.known.add("env")

    # ---- storing (inside the tick's transaction, on the row locked for it) ------------
    def apply(self, locked: Run, reading: "Reading") -> tuple[list, list, dict, bool]:
        """Chunks and metric points to store, the row's changed status fields,
        and whether tables, tags, params or images were stored (they are
        stored here, in the tick's transaction); sets the new offsets and seq
        on ``locked``."""
        state, consumed, texts = reading.state, reading.consumed, reading.texts
        fields = self._phase_fields(state, locked)
        points, records, notes = parse_metrics(texts.get("metrics", ""))
        samples = [record[1] for record in records if record[0] == "system"]
        records = [record for record in records if record[0] != "system"]
        reading.system = system_samples.store(locked, samples) if samples else None
        data_stored, refused = store_records(locked, records) if records else (False, [])
        notes += refused
        if notes:
            texts["system"] = texts.get("system", "") + "".join(f"{note}\n" for note in notes)
        kept = _cap_log(locked, texts, fields)
        seq = locked.next_seq
        chunks = []
        for stream in ("system", "stdout", "stderr"):
            for piece in _pieces(kept.get(stream, "")):
                chunks.append(RunLogChunk(run=locked, seq=seq, stream=stream, text=piece))
                seq += 1
        metrics = [Metric(run=locked, **point) for point in points]
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
        return chunks, metrics, fields, data_stored

    def pump(self, backend, state) -> int:
        """Read and store one run on its own (a tick stores all of its runs
        at once: store_readings). Returns the bytes consumed."""
        reading = self.read(backend, state)
        if self.needs_storing(reading):
            store_readings([(self, reading)], self.owner)
        self.seen(state)
        return reading.moved

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
            result = state.env_result.split()
            note = (
                "Environment cache hit"
                if result[0] == "hit"
                else f"Environment built in {result[1] if len(result) > 1 else '?'} s"
            )
            fields["environment_note"] = f"{run.environment_note} · {note}" if run.environment_note else note
        if state.attempt > run.attempt:
            fields["attempt"] = state.attempt
        if state.phase == "queued":  # a scheduler holds it (Slurm): where it stands
            if status == RunStatus.RUNNING:
                fields["status"] = status = RunStatus.PREPARING
            if state.note and run.substep != state.note[:200]:
                fields["substep"] = state.note[:200]
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

    def finalize(self, backend, state) -> None:
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
            self.collect_outputs(backend, run)
        except BackendError as exc:
            log.warning("Run %s: outputs not collected: %s", run.pk, exc.message)
            system_note(run, self.owner, f"Outputs were not collected: {exc.message}")
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
            kind = failures.SCRIPT
            error = state.failure or f"The script exited with code {state.exit_code}."
            if state.phase == "env" or state.failure.startswith("The environment build failed"):
                kind = failures.ENVIRONMENT
                error, tail = failures.build_summary(
                    "The environment build failed", stderr_tail(run, streams=("system",), lines=200)
                )
            finish_run(
                run,
                self.owner,
                RunStatus.FAILED,
                error=error,
                exit_code=state.exit_code,
                stderr_tail=tail,
                failure_kind=kind,
            )
        else:
            finish_run(
                run,
                self.owner,
                RunStatus.FAILED,
                stderr_tail=tail,
                error=state.failure or "The job ended without an exit code: it was killed on the target.",
            )

    def collect_outputs(self, backend, run: Run) -> None:
        dest = outputs_dir(run)
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
            archive = Path(tmp) / "outputs.tar.gz"
            limit = settings.PORTAL_OUTPUTS_MAX_MB * 1024 * 1024
            if not backend.fetch_outputs(self.handle, archive, max_bytes=limit):
                return
            # MLflow artifacts the run sent while it ran (outputs/mlflow/) stay as they are.
            tracked = dest / "outputs" / TRACKED_OUTPUTS
            kept_aside = Path(tmp) / "tracked"
            if tracked.is_dir():
                tracked.rename(kept_aside)
            snapshots.remove_tree(dest)
            dest.mkdir()
            try:
                unpacked = unpack_outputs(archive, dest)
            except OutputsError as exc:
                system_note(run, self.owner, f"Outputs were not collected: {exc}")
                unpacked = None
            finally:
                if kept_aside.is_dir():
                    (dest / "outputs").mkdir(exist_ok=True)
                    snapshots.remove_tree(tracked)
                    kept_aside.rename(tracked)
            if unpacked is None:
                return
        if unpacked.skipped_reason:
            system_note(run, self.owner, f"Outputs: {unpacked.skipped_reason}")
        files = [(path, size) for path, size in unpacked.files if not path.startswith(TRACKED_OUTPUTS + "/")]
        Output.objects.filter(run=run).exclude(path__startswith=TRACKED_OUTPUTS + "/").delete()
        Output.objects.bulk_create(Output(run=run, path=path, size=size) for path, size in files)


class Reading:
    """What one poll read of a run: the state, and the whole lines to store."""

    def __init__(self, state, consumed: dict, texts: dict):
        self.state, self.consumed, self.texts = state, consumed, texts
        self.moved = sum(consumed.values())
        self.system = None  # system samples stored from it, to push (system_samples.store)


RUN_FIELDS = ["log_offsets", "metrics_offset", "next_seq", "lease_expires_at", "heartbeat_at", "log_bytes"]


def store_readings(items: list[tuple[RunFollower, Reading]], owner: str) -> list[RunFollower]:
    """Store what a tick read for many runs in one transaction: one locking
    read, one insert of chunks, one of metric points, one update of the runs
    (rows whose status changed are saved on their own, which is rare). Pushes
    go out after commit. Returns the followers whose lease was taken over."""
    if not items:
        return []
    lost = []
    with transaction.atomic():
        rows = {
            row.pk: row
            for row in Run.objects.select_for_update(of=("self",))
            .select_related("target", "snapshot")
            .filter(pk__in=[follower.pk for follower, _ in items])
        }
        chunks, metrics, updated, changed = [], [], [], []
        readings = {follower.pk: reading for follower, reading in items}
        for follower, reading in items:
            row = rows.get(follower.pk)
            if row is None or row.lease_owner != owner:
                lost.append(follower)
                continue
            run_chunks, run_metrics, fields, data_stored = follower.apply(row, reading)
            chunks += run_chunks
            metrics += run_metrics
            _record_environment(row, reading.state)
            (changed if fields else updated).append((row, fields, run_chunks, run_metrics))
            if data_stored:
                push_data(row)
        RunLogChunk.objects.bulk_create(chunks)
        Metric.objects.bulk_create(metrics)
        if updated:
            Run.objects.bulk_update([row for row, *_ in updated], RUN_FIELDS)
        for row, fields, *_ in changed:
            row.save(update_fields=[*RUN_FIELDS, *fields])
            if fields.get("status") == RunStatus.RUNNING or "running_at" in fields:
                usage.open_allocation(row, fields.get("running_at"))
            elif fields.get("status") == RunStatus.PREPARING:  # requeued: it holds nothing while it waits
                usage.close_allocations(row)
        for row, fields, run_chunks, run_metrics in updated + changed:
            push_log(row.pk, run_chunks, run_metrics)
            if readings[row.pk].system:
                push_system(row, readings[row.pk].system)
            if fields:
                push_run(row)
    for follower, _ in items:
        if follower.pk in rows and follower not in lost:
            follower.run = rows[follower.pk]
    parents = {row.parent_id for row, _, _, run_metrics in updated + changed if run_metrics and row.parent_id}
    if parents:  # a sweep's policy looks at new metrics (at most once a second per sweep)
        from .sweeps.orchestrator import queue_advance

        for parent_id in parents:
            queue_advance(parent_id, throttle=True)
    return lost


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


def _cap_log(run: Run, texts: dict, fields: dict) -> dict:
    """What of ``texts`` to store under the run's log cap; counts the bytes on
    ``run`` and, the first time the cap is reached, says so in the log."""
    cap = settings.RUN_LOG_MAX_BYTES
    if run.log_truncated:
        return {}
    kept = {}
    for stream in ("system", "stdout", "stderr"):
        text = texts.get(stream, "")
        size = len(text.encode())
        if run.log_bytes + size <= cap:
            kept[stream] = text
            run.log_bytes += size
            continue
        room = max(0, cap - run.log_bytes - 1)  # one byte for the line end a cut line gets
        part = text.encode()[:room].decode(errors="ignore")
        if part and not part.endswith("\n"):
            part += "\n"
        run.log_bytes += len(part.encode())
        kept[stream] = part
        kept["system"] = kept.get("system", "") + (
            f"The log reached its {cap / 2**20:g} MB limit: later output is not stored "
            "(the run goes on; metrics and outputs are still collected).\n"
        )
        run.log_truncated = True
        fields["log_truncated"] = True
        break
    return kept


def _record_environment(run: Run, state) -> None:
    """Keep the digest of an environment this run built (under the run's row lock)."""
    parts = state.env_result.split()
    if len(parts) == 3 and parts[0] == "built" and len(parts[2]) == 64 and run.target_id:
        spec = (run.environment or {}).get("hash", "")
        if spec:
            EnvironmentCache.objects.update_or_create(
                target_id=run.target_id, spec_hash=spec, defaults={"digest": parts[2]}
            )


def system_note(run: Run, owner: str, text: str) -> None:
    """One line of the portal's own in the run's system log."""
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        if locked.lease_owner != owner:
            return
        chunk = RunLogChunk.objects.create(run=locked, seq=locked.next_seq, stream="system", text=f"{text}\n")
        locked.next_seq += 1
        locked.save(update_fields=["next_seq"])
        push_log(locked.pk, [chunk], [])


def stderr_tail(run: Run, lines: int = STDERR_TAIL_LINES, streams=("stderr",)) -> str:
    """The last lines the script wrote to stderr (its exception): the
    environment build's output (the system stream) is kept out of it."""
    texts = []
    total = 0
    for text in (
        RunLogChunk.objects.filter(run=run, stream__in=list(streams))
        .order_by("-seq")
        .values_list("text", flat=True)[:200]
    ):
        texts.append(text)
        total += text.count("\n")
        if total > lines:
            break
    return "\n".join("".join(reversed(texts)).rstrip("\n").splitlines()[-lines:])
