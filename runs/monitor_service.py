"""The monitor service: one per worker process, following every run it leased.

Runs are launched by the ``prepare_run`` task, which hands the lease to this
process's service (or leaves it free for any worker's). The service:

- claims launched runs nobody follows, in the database, with
  ``SELECT … FOR UPDATE SKIP LOCKED``, so N workers on N machines share runs
  without double-reading; leases of a dead process on this machine are void
  at once, others expire after ``RUN_LEASE_SECONDS``;
- renews all its leases with one UPDATE every third of the lease;
- polls each target once per tick for all of that target's runs (one
  command over one SSH connection, one ``docker exec``, or no command at
  all for the local target), each target on its own interval, in a small
  thread pool so a slow target never holds up the others;
- gives its runs back at once when the worker shuts down.

It holds no Celery worker slot: hundreds of runs cost one thread and a
few queries per tick.
"""

import contextlib
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections, connections

from compute.backends.base import BackendError
from compute.backends.docker_runs import backend_for_run, run_backend_key

from .lease import LeaseLost, claim_for_monitor, finish_run, hand_back, owner_token, renew
from .live import batched_pushes
from .models import TERMINAL, Run, RunStatus
from .monitor import Reading, RunFollower, store_readings

log = logging.getLogger(__name__)

# Launched runs in these states have a job on a target to follow.
FOLLOWED = (
    RunStatus.PREPARING,
    RunStatus.RUNNING,
    RunStatus.FINALIZING,
    RunStatus.CANCEL_REQUESTED,
    RunStatus.NOT_RESPONDING,
)
BUSY_INTERVAL = 0.005  # a target with a run printing faster than it is read is polled again at once
FLOOD_BYTES = 64 * 1024  # bytes moved in one read that count as such a run
UNREACHABLE_INTERVAL = 2.0
RUNS_PER_INTERVAL = 25  # up to this many runs, a target is polled at its kind's interval
MAX_INTERVAL = 0.5
CLAIM_BATCH = 200


class TargetGroup:
    """The runs of one target that go through one backend (one connection)."""

    def __init__(self, key):
        self.key = key
        self.followers: dict[int, RunFollower] = {}
        self.backend = None
        self.due = 0.0
        self.busy = False
        self.joined = False  # a run joined during a tick: poll again at once, for its first lines


class MonitorService:
    def __init__(self):
        self.owner = owner_token()
        self.groups: dict[tuple, TargetGroup] = {}
        self.lock = threading.Lock()  # guards groups and their followers
        self.wakeup = threading.Event()
        self.stopping = threading.Event()
        self.pool = ThreadPoolExecutor(
            max_workers=settings.RUN_MONITOR_THREADS, thread_name_prefix="run-monitor"
        )
        self.thread = threading.Thread(target=self._loop, name="run-monitor-service", daemon=True)

    # ---- control -----------------------------------------------------------------------------
    def start(self) -> "MonitorService":
        self.thread.start()
        return self

    def stop(self, timeout: float = 10) -> None:
        """Stop following and give every lease back at once, for another worker."""
        self.stopping.set()
        self.wakeup.set()
        self.thread.join(timeout)
        self.pool.shutdown(wait=True, cancel_futures=True)
        with contextlib.suppress(Exception):
            hand_back(self.owner, self.run_ids())
        for group in self.groups.values():
            self._close(group)
        with contextlib.suppress(Exception):
            connections.close_all()

    def wake(self) -> None:
        """A run was just handed over: claim without waiting for the next scan."""
        self.wakeup.set()

    def run_ids(self) -> list[int]:
        with self.lock:
            return [pk for group in self.groups.values() for pk in group.followers]

    # ---- the loop ---------------------------------------------------------------------------
    def _loop(self) -> None:
        next_claim = next_renew = 0.0
        last_error = ""
        while not self.stopping.is_set():
            now = time.monotonic()
            try:
                if now >= next_claim or self.wakeup.is_set():
                    self.wakeup.clear()
                    self._claim()
                    next_claim = now + settings.RUN_CLAIM_INTERVAL
                if now >= next_renew:
                    self._renew()
                    next_renew = now + settings.RUN_LEASE_SECONDS / 3
            except Exception as exc:
                if str(exc) != last_error:  # the same failure again is not logged every second
                    log.exception("Monitor service: claiming or renewing leases failed")
                last_error = str(exc)
                with contextlib.suppress(Exception):
                    close_old_connections()
            self._schedule(time.monotonic())
            self.wakeup.wait(self._sleep(next_claim))
        with contextlib.suppress(Exception):
            connections.close_all()
        log.info("Monitor service %s stopped", self.owner)

    def _sleep(self, next_claim: float) -> float:
        now = time.monotonic()
        with self.lock:
            dues = [g.due for g in self.groups.values() if not g.busy and g.followers]
        return max(0.001, min([next_claim, *dues]) - now)

    def _claim(self) -> None:
        runs = claim_for_monitor(self.owner, statuses=FOLLOWED, limit=CLAIM_BATCH, exclude=self.run_ids())
        for run in runs:
            self.follow(run)

    def follow(self, run: Run) -> None:
        """Follow a run whose lease this service holds."""
        if run.target is None:
            finish_run(run, self.owner, RunStatus.FAILED, error="Its compute target was detached.")
            return
        key = run_backend_key(run.target, run.environment or {})
        with self.lock:
            group = self.groups.get(key)
            if group is None:
                group = self.groups[key] = TargetGroup(key)
            group.followers[run.pk] = RunFollower(run, self.owner)
            group.due = 0.0
            group.joined = group.busy

    def _renew(self) -> None:
        mine = self.run_ids()
        if not mine:
            return
        held = renew(self.owner, mine)
        lost = set(mine) - held
        if lost:
            log.info("Monitor service: runs %s are followed elsewhere now", sorted(lost))
            with self.lock:
                for group in self.groups.values():
                    for pk in lost:
                        group.followers.pop(pk, None)

    def _schedule(self, now: float) -> None:
        with self.lock:
            for key, group in list(self.groups.items()):
                if group.busy:
                    continue
                if not group.followers:
                    self._close(group)
                    del self.groups[key]
                    continue
                if now >= group.due:
                    group.busy = True
                    self.pool.submit(self._tick, group)

    # ---- one tick of one target -----------------------------------------------------------
    def _tick(self, group: TargetGroup) -> None:
        interval = UNREACHABLE_INTERVAL
        started = time.monotonic()  # the interval counts from the tick's start, not its end
        try:
            with contextlib.suppress(Exception):
                close_old_connections()
            with self.lock:
                followers = list(group.followers.values())
            if not followers:
                return
            interval = self._poll_group(group, followers)
        except Exception:
            log.exception("Monitor service: a tick of %s failed", group.key)
        finally:
            group.due = 0.0 if group.joined else started + interval
            group.joined = False
            if not group.followers:  # idle: do not hold a database connection per pool thread
                with contextlib.suppress(Exception):
                    connections.close_all()
            group.busy = False
            self.wakeup.set()

    def _poll_group(self, group: TargetGroup, followers: list[RunFollower]) -> float:
        if group.backend is None:
            first = followers[0].run
            try:
                group.backend = backend_for_run(first.target, first.environment or {})
            except BackendError as exc:
                for follower in followers:
                    self._drop_if(
                        group, follower, self._guard(follower, lambda f=follower, e=exc: f._unreachable(e))
                    )
                return UNREACHABLE_INTERVAL
        backend = group.backend
        statuses = dict(Run.objects.filter(pk__in=[f.pk for f in followers]).values_list("pk", "status"))
        followers = [f for f in followers if self._still_followed(group, f, statuses.get(f.pk))]
        if not followers:
            return backend.poll_interval
        try:
            for follower in followers:
                if statuses[follower.pk] == RunStatus.CANCEL_REQUESTED and not follower.cancel_sent:
                    backend.cancel(follower.handle)
                    follower.cancel_sent = True
            states = backend.poll([f.handle for f in followers], known=[f.known for f in followers])
        except BackendError as exc:
            self._close(group)
            for follower in followers:
                self._drop_if(
                    group, follower, self._guard(follower, lambda f=follower, e=exc: f._unreachable(e))
                )
            return UNREACHABLE_INTERVAL
        with batched_pushes():
            most = self._step_all(group, backend, followers, states)
        if most >= FLOOD_BYTES:
            return BUSY_INTERVAL
        # A target with many runs is polled less often: each tick's work grows
        # with its runs, and more lines per read make fewer, larger writes.
        return min(MAX_INTERVAL, backend.poll_interval * max(1.0, len(followers) / RUNS_PER_INTERVAL))

    def _step_all(self, group: TargetGroup, backend, followers, states) -> int:
        """Read every run's new output, store it all in one transaction, then
        finalize the runs that ended; the most bytes one run moved."""
        readings = []
        for follower, state in zip(followers, states, strict=True):
            if state.missing:
                self._drop_if(
                    group,
                    follower,
                    self._guard(
                        follower,
                        lambda f=follower: (
                            f._fail_vanished("The run folder is gone from the target.") or True
                        ),
                    ),
                )
                continue
            reading = self._guard(follower, lambda f=follower, s=state: f.read(backend, s))
            if isinstance(reading, Reading):
                readings.append((follower, reading))
            else:
                self._drop_if(group, follower, reading)
        try:
            lost = store_readings([(f, r) for f, r in readings if f.needs_storing(r)], self.owner)
        except Exception:
            log.exception("Monitor service: storing a tick of %s failed", group.key)
            return 0
        for follower in lost:
            log.info("Run %s: lease taken over by another monitor", follower.pk)
            self._drop_if(group, follower, True)
        most = 0
        for follower, reading in readings:
            if follower in lost:
                continue
            follower.seen(reading.state)
            most = max(most, reading.moved)
            if reading.state.ended and not reading.moved:
                done = self._guard(
                    follower,
                    lambda f=follower, s=reading.state: f.finalize(backend, s) or True,
                    backend=backend,
                )
                self._drop_if(group, follower, done)
        return most

    def _still_followed(self, group: TargetGroup, follower: RunFollower, status) -> bool:
        if status is None or status in TERMINAL:
            self._drop_if(group, follower, True)  # deleted, or finished by someone else
            return False
        return True

    def _guard(self, follower: RunFollower, work, *, backend=None):
        """Run one follower's work; a lost lease drops it, an unexpected error
        fails its run (and kills its job: nothing may run unwatched)."""
        try:
            return work()
        except LeaseLost:
            log.info("Run %s: lease taken over by another monitor", follower.pk)
            return True
        except BackendError as exc:
            return follower._unreachable(exc)
        except Exception as exc:
            log.exception("Run %s: unexpected error in its monitor", follower.pk)
            if backend is not None:
                with contextlib.suppress(Exception):
                    backend.cancel(follower.handle)
            with contextlib.suppress(Exception):
                finish_run(
                    follower.run,
                    self.owner,
                    RunStatus.FAILED,
                    error=f"The portal failed while following it: {type(exc).__name__}: {exc}",
                )
            return True

    def _drop_if(self, group: TargetGroup, follower: RunFollower, done) -> None:
        if done is True:
            with self.lock:
                group.followers.pop(follower.pk, None)

    @staticmethod
    def _close(group: TargetGroup) -> None:
        if group.backend is not None:
            backend, group.backend = group.backend, None
            with contextlib.suppress(Exception):
                backend.close()


# ---- one service per process ------------------------------------------------------------------

_service: MonitorService | None = None
_service_lock = threading.Lock()


def current() -> MonitorService | None:
    return _service


def ensure_started() -> MonitorService:
    global _service
    with _service_lock:
        if _service is None or _service.stopping.is_set():
            _service = MonitorService().start()
            log.info("Monitor service %s started", _service.owner)
        return _service


def stop() -> None:
    global _service
    with _service_lock:
        service, _service = _service, None
    if service is not None:
        service.stop()
