"""How a run executes (DESIGN.md): queue, prepare and launch detached, follow, finalize.

``prepare`` is an ordinary task: it claims the run's lease, uploads the
snapshot, builds the image where the kind has one, launches the job
detached, stores its handle whole and hands the lease to the monitor
service (monitor_service.py), which follows the run from then on without
holding a worker slot. Nothing about a run lives only in a worker's memory:
the run folder on the target holds the output, exit code and pid; the Run
row holds the handle, the byte offsets already stored and the next seq.
Launching is idempotent on the target (the run folder is created
atomically), so a run is never started twice.
"""

import logging
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from compute import package_index
from compute.backends.base import BackendError, LaunchSpec
from compute.backends.docker_runs import backend_for_run
from compute.backends.runner import tree_digest

from . import failures, images, monitor_service, snapshots, tracking_tokens
from .lease import LeaseLost, claim, finish_run, hand_over, kept, owner_token, update_run
from .models import EnvironmentCache, Run, RunStatus

log = logging.getLogger(__name__)

HELPER_DIR = Path(__file__).parent / "helper"


def _helper_files() -> dict[str, str]:
    """Every file the run gets under lib/ (on its PYTHONPATH), by path: the
    portal_run helper, and the azureml shim in fallback/, which sitecustomize
    puts after the run's own site-packages (a real azureml package wins)."""
    return {
        path.relative_to(HELPER_DIR).as_posix(): path.read_text()
        for path in sorted(HELPER_DIR.rglob("*.py"))
        if "__pycache__" not in path.parts
    }


HELPER_FILES = _helper_files()


# ---- entry points (Celery tasks call these) ------------------------------------------


def prepare(run_id: int) -> None:
    """Prepare and launch one run, then hand it to a monitor (returns at once
    if another worker holds it, or if it was launched already)."""
    owner = owner_token()
    run = claim(run_id, owner)
    if run is None:
        return
    if run.target is None:
        finish_run(run, owner, RunStatus.FAILED, error="Its compute target was detached.")
        return
    service = monitor_service.current()
    backend = None
    try:
        if not run.handle:
            if run.status == RunStatus.CANCEL_REQUESTED:
                finish_run(run, owner, RunStatus.CANCELED, error="Canceled before the script started.")
                return
            backend = backend_for_run(run.target, run.environment or {})
            with kept(run.pk, owner):
                handle = launch(run, backend, owner)
            if handle is None:
                return
        else:
            handle = run.handle
        run = hand_over(run, owner, handle, to=service.owner if service else "")
        if service is not None:
            service.follow(run)
            service.wake()
    except LeaseLost:
        log.info("Run %s: lease taken over by another worker", run_id)
    except images.ImageBuildFailed as exc:
        finish_run(
            run, owner, RunStatus.FAILED, error=exc.message, stderr_tail=exc.tail, failure_kind=failures.IMAGE
        )
    except BackendError as exc:
        finish_run(run, owner, RunStatus.FAILED, error=exc.message)
    except Exception as exc:
        log.exception("Run %s: unexpected error while preparing it", run_id)
        finish_run(
            run,
            owner,
            RunStatus.FAILED,
            error=f"The portal failed while preparing it: {type(exc).__name__}: {exc}",
        )
    finally:
        if backend is not None:
            backend.close()


def reap() -> int:
    """Queue the preparation again for runs whose task was lost: queued runs
    nobody claimed, and runs whose preparing worker died before the launch.
    (Launched runs need no task: any worker's monitor service claims them
    once their lease is void.) Returns how many were queued."""
    from .tasks import prepare_run

    now = timezone.now()
    waiting = now - timedelta(seconds=settings.RUN_REQUEUE_AFTER)
    # heartbeat_at marks a queued run's last re-queue: a backlog of runs
    # waiting in the broker is queued again once per RUN_REQUEUE_AFTER, not at
    # every reap (which would pile up duplicates behind the backlog).
    not_lately = Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=waiting)
    stale = list(
        Run.objects.filter(handle={})
        .filter(
            Q(status=RunStatus.QUEUED, queued_at__lt=waiting, lease_owner="") & not_lately
            | Q(status__in=(RunStatus.PREPARING, RunStatus.CANCEL_REQUESTED), lease_expires_at__lt=now)
            | Q(status__in=(RunStatus.PREPARING, RunStatus.CANCEL_REQUESTED), lease_expires_at__isnull=True)
        )
        .values_list("pk", flat=True)
    )
    Run.objects.filter(pk__in=stale, status=RunStatus.QUEUED).update(heartbeat_at=now)
    for pk in stale:
        prepare_run.delay(pk)
    return len(stale)


# ---- prepare and launch -----------------------------------------------------------------------


def launch(run: Run, backend, owner: str) -> dict | None:
    """Upload, build the image if the kind has one, launch; the handle, or
    None when the run ended before its start (canceled)."""
    sha = run.snapshot.sha256
    archive = snapshots.archive_path(sha)
    run = update_run(run, owner, substep="Uploading the snapshot")
    started = time.monotonic()
    digest = tree_digest(archive)
    uploaded = backend.ensure_snapshot(sha, archive, tree_digest=digest)
    note = (
        f"Snapshot {run.snapshot.short} uploaded in {time.monotonic() - started:.1f} s"
        if uploaded
        else f"Snapshot {run.snapshot.short} already on the target"
    )
    env = run.environment or {"kind": "user", "interpreter": "python3"}
    kind = env.get("kind", "user")
    env_arg = env.get("interpreter", "python3") if kind == "user" else env["hash"]
    if backend.builds_images:
        # The environment is an image, built (or found) before the container starts.
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
    known = EnvironmentCache.objects.filter(target=run.target, spec_hash=env_arg).values_list(
        "digest", flat=True
    )
    previous_digest = run.tracking_digest
    tracking = tracking_env(run)
    handle = backend.launch(
        LaunchSpec(
            key=run.key.hex,
            sha256=sha,
            script=run.script,
            arguments=list(run.arguments),
            env_kind=kind,
            env_arg=env_arg,
            requirements=env.get("requirements", ""),
            helpers=HELPER_FILES,
            env={"PORTAL_RUN_ID": str(run.pk), "PORTAL_EXPERIMENT": run.experiment.name, **tracking},
            tree_digest=digest,
            nodes=run.node_count,
            processes_per_node=run.processes_per_node,
            partition=run.partition,
            env_digest=(known.first() or "") if kind != "user" else "",
            **_build_settings(run.target),
        )
    )
    if handle.pop("already", False):
        log.info("Run %s was already launched on its target; following it", run.pk)
        # Its process has the token it was launched with: that one stays valid.
        Run.objects.filter(pk=run.pk).update(tracking_digest=previous_digest)
    return handle


def _build_settings(target) -> dict:
    """The package index settings for the environment build (LaunchSpec fields)."""
    index = package_index.for_target(target)
    build_env = index.build_env()
    if build_env or index.ca_bundle:
        build_env["PORTAL_INDEX_NOTE"] = index.note
    return {"build_env": build_env, "ca_bundle": index.ca_bundle}


def tracking_env(run: Run) -> dict[str, str]:
    """MLflow's variables for the run: ``mlflow.start_run()`` then attaches to
    this run on the portal, with a token for this run only (never stored, never shown)."""
    token = tracking_tokens.issue(run)
    return {
        "MLFLOW_TRACKING_URI": f"{settings.PORTAL_URL.rstrip('/')}/mlflow",
        "MLFLOW_TRACKING_TOKEN": token,
        "MLFLOW_RUN_ID": run.key.hex,
        "MLFLOW_EXPERIMENT_ID": str(run.experiment_id),
    }
