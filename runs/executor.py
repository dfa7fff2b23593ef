"""How a run executes (DESIGN.md): claim, prepare, launch detached, monitor, finalize.

Nothing about a run lives only in this process: the run folder on the target
holds the output, exit code and pid; the Run row holds the byte offsets
already stored and the next seq. A monitor holds a lease on the row and
renews it; when a worker dies, the reaper queues a new monitor once the lease
has expired, which continues from the stored offsets. Launching is
idempotent on the target (the run folder is created atomically), so a run is
never started twice.
"""

import contextlib
import logging
import time
from datetime import timedelta
from pathlib import Path

from django.db.models import Q
from django.utils import timezone

from compute.backends.base import BackendError
from compute.backends.docker_runs import backend_for_run

from . import images, snapshots
from .lease import LeaseLost, claim, finish_run, owner_token, update_run
from .models import ACTIVE, Run, RunStatus
from .monitor import Monitor

log = logging.getLogger(__name__)

HELPER_SOURCE = (Path(__file__).parent / "helper" / "portal_run.py").read_text()


# ---- entry points (Celery tasks call these) ------------------------------------------


def execute(run_id: int) -> None:
    owner = owner_token()
    run = claim(run_id, owner)
    if run is None:
        return
    if run.target is None:
        finish_run(run, owner, RunStatus.FAILED, error="Its compute target was detached.")
        return
    backend = backend_for_run(run.target, run.environment or {})
    try:
        if not run.handle:
            if run.status == RunStatus.CANCEL_REQUESTED:
                finish_run(run, owner, RunStatus.CANCELED, error="Canceled before the script started.")
                return
            run = prepare_and_launch(run, backend, owner)
            if run is None:
                return
        Monitor(run, backend, owner).loop()
    except LeaseLost:
        log.info("Run %s: lease taken over by another monitor", run_id)
    except BackendError as exc:
        # Only reached before the launch: the monitor handles its own errors.
        finish_run(run, owner, RunStatus.FAILED, error=exc.message)
    except Exception as exc:
        log.exception("Run %s: unexpected error in its monitor", run_id)
        if run.handle:  # nothing may keep running unwatched
            with contextlib.suppress(Exception):
                backend.cancel(run.handle)
        finish_run(
            run,
            owner,
            RunStatus.FAILED,
            error=f"The portal failed while running it: {type(exc).__name__}: {exc}",
        )
    finally:
        backend.close()


def reap() -> int:
    """Queue a monitor for every active run whose lease expired, and for queued
    runs whose task was lost. Returns how many were queued."""
    from .tasks import execute_run

    now = timezone.now()
    stale = Run.objects.filter(
        Q(status__in=ACTIVE, lease_expires_at__lt=now)
        | Q(status__in=ACTIVE, lease_expires_at__isnull=True)
        | Q(status=RunStatus.QUEUED, queued_at__lt=now - timedelta(seconds=60), lease_owner="")
    ).values_list("pk", flat=True)
    count = 0
    for pk in stale:
        execute_run.delay(pk)
        count += 1
    return count


# ---- prepare and launch -----------------------------------------------------------------------


def prepare_and_launch(run: Run, backend, owner: str) -> Run | None:
    sha = run.snapshot.sha256
    run = update_run(run, owner, substep="Uploading the snapshot")
    started = time.monotonic()
    uploaded = backend.ensure_snapshot(sha, snapshots.archive_path(sha))
    note = (
        f"Snapshot {run.snapshot.short} uploaded in {time.monotonic() - started:.1f} s"
        if uploaded
        else f"Snapshot {run.snapshot.short} already on the target"
    )
    env = run.environment or {"kind": "user", "interpreter": "python3"}
    kind = env.get("kind", "user")
    env_arg = env.get("interpreter", "python3") if kind == "user" else env["hash"]
    if hasattr(backend, "prepare_image"):
        # Docker: the environment is an image, built (or found) before the container starts.
        run = update_run(run, owner, substep="Building the image", environment_note=note)
        try:
            run, note = images.prepare_image(run, backend, owner, note)
        except images.BuildCanceled:
            finish_run(run, owner, RunStatus.CANCELED, error="Canceled during the image build.")
            return None
        kind, env_arg = "user", env.get("interpreter") or "python3"
    run = update_run(
        run,
        owner,
        substep="Starting" if kind == "user" else "Preparing the environment",
        environment_note=note,
    )
    if run.status == RunStatus.CANCEL_REQUESTED:  # canceled while the snapshot was uploading
        finish_run(run, owner, RunStatus.CANCELED, error="Canceled before the script started.")
        return None
    handle = backend.launch(
        key=run.key.hex,
        sha256=sha,
        script=run.script,
        arguments=list(run.arguments),
        env_kind=kind,
        env_arg=env_arg,
        requirements=env.get("requirements", ""),
        helper=HELPER_SOURCE,
    )
    if handle.get("already"):
        log.info("Run %s was already launched on its target; monitoring it", run.pk)
    return update_run(run, owner, handle={"run_dir": handle["run_dir"], "pid": handle.get("pid", "")})
