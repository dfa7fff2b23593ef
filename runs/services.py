"""Everything that changes experiments, snapshots and runs goes through here."""

import hashlib
import logging
import shlex
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from compute.models import ComputeTarget, TargetState

from . import quotas, snapshots
from .live import push_log, push_run
from .models import Experiment, Run, RunLogChunk, RunStatus, Snapshot

log = logging.getLogger(__name__)

DEFAULT_INTERPRETER = "python3"
# What a run request's environment may say; environment_spec() normalizes it.
ENVIRONMENT_REQUEST = ("kind", "interpreter", "requirements", "docker", "base_image")
EXAMPLE_DIR = Path(settings.BASE_DIR) / "examples" / "sklearn"
EXAMPLE_EXPERIMENT = "example-iris"


class RunError(Exception):
    """A request that cannot be carried out; the message says why."""


# ---- snapshots -----------------------------------------------------------------------


def snapshot_create(*, workspace, upload=None, files=None, limits=None) -> Snapshot:
    """Store an upload as a content-addressed snapshot; the same content again
    stores nothing new and returns the existing row."""
    try:
        packed = snapshots.build(upload=upload, files=files, limits=limits)
    except snapshots.SnapshotError as exc:
        raise RunError(str(exc)) from None
    return _snapshot_row(workspace, packed)


def snapshot_put(*, workspace, sha256: str, upload) -> tuple[Snapshot, bool]:
    """Store an archive the client says has content hash ``sha256`` (the SDK's
    pack() of its folder). Returns (snapshot, created); RunError, storing
    nothing, when the content's hash is another."""
    existing = Snapshot.objects.filter(workspace=workspace, sha256=sha256).first()
    if existing is not None:
        return existing, False
    try:
        packed = snapshots.build(upload=upload)
    except snapshots.SnapshotError as exc:
        raise RunError(str(exc)) from None
    if packed.sha256 != sha256:
        if packed.stored_new and not Snapshot.objects.filter(sha256=packed.sha256).exists():
            snapshots.archive_path(packed.sha256).unlink(missing_ok=True)
        raise RunError(
            f"The archive's content hash is {packed.sha256}, not {sha256} as the address says: "
            "pack the folder with the SDK's pack(), which the portal checks against."
        )
    return _snapshot_row(workspace, packed), True


def _snapshot_row(workspace, packed) -> Snapshot:
    analysis = packed.analysis
    snapshot, _ = Snapshot.objects.get_or_create(
        workspace=workspace,
        sha256=packed.sha256,
        defaults={
            "file_count": analysis.file_count,
            "size_bytes": analysis.size_bytes,
            "files": [list(item) for item in analysis.files],
            "excluded": analysis.excluded[:1000],
            "ignore_file": analysis.ignore_file,
        },
    )
    return snapshot


# ---- environments ----------------------------------------------------------------------


def environment_spec(
    *, kind: str, interpreter: str = "", requirements: str = "", docker: bool = False, base_image: str = ""
) -> dict:
    """A normalized environment spec; raises RunError for one that cannot work."""
    spec = _environment_spec(kind=kind, interpreter=interpreter, requirements=requirements)
    if not docker:
        return spec
    if spec["kind"] == "conda":
        raise RunError("Use Docker takes pip requirements; a conda environment file runs without Docker.")
    base_image = (base_image or "").strip()
    if not base_image or any(c.isspace() for c in base_image):
        raise RunError("Use Docker needs a base image, e.g. python:3.11-slim.")
    # The hash stays the pip spec's own: the image tag (docker_images.env_image_tag)
    # adds the base image, as for a container instance's runs, so one spec on one
    # base image is one cached image whichever door it came through.
    return {**spec, "docker": True, "base_image": base_image}


def _environment_spec(*, kind: str, interpreter: str = "", requirements: str = "") -> dict:
    if kind == "user":
        interpreter = (interpreter or DEFAULT_INTERPRETER).strip()
        if any(c in interpreter for c in "\x00\n"):
            raise RunError("The interpreter path cannot hold NUL or newline characters.")
        return {"kind": "user", "interpreter": interpreter}
    if kind == "pip":
        lines = [line.strip() for line in requirements.splitlines()]
        lines = [line for line in lines if line and not line.startswith("#")]
        if not lines:
            raise RunError("A system-managed environment needs at least one requirement.")
        if any(line.startswith(("-e", "--editable")) for line in lines):
            raise RunError("Editable requirements (-e) cannot be built on a target.")
        text = "\n".join(lines)
        return {"kind": "pip", "requirements": text, "hash": hashlib.sha256(text.encode()).hexdigest()[:16]}
    if kind == "conda":
        # "requirements" carries the environment file's text, as pip's list does.
        text = (requirements or "").strip().replace("\r\n", "\n")
        if "dependencies:" not in text:
            raise RunError("A conda environment file needs a dependencies: list (conda env export style).")
        return {
            "kind": "conda",
            "requirements": text,
            "hash": "conda-" + hashlib.sha256(text.encode()).hexdigest()[:16],
        }
    raise RunError(f"Unknown environment kind {kind!r}.")


def parse_arguments(text: str) -> list[str]:
    try:
        return shlex.split(text or "")
    except ValueError as exc:
        raise RunError(f"The arguments do not parse: {exc}.") from None


# ---- runs -----------------------------------------------------------------------------------


def experiment_get_or_create(*, workspace, user, name: str) -> Experiment:
    from django.core.exceptions import ValidationError

    from .models import experiment_name_validator

    name = (name or "").strip()
    try:
        experiment_name_validator(name)
    except ValidationError as exc:
        raise RunError(f"Experiment name: {exc.messages[0]}") from None
    experiment, _ = Experiment.objects.get_or_create(
        workspace=workspace, name=name, defaults={"created_by": user}
    )
    return experiment


def run_submit(
    *,
    workspace,
    user,
    experiment_name: str,
    target: ComputeTarget | None,
    snapshot: Snapshot | None,
    script: str,
    arguments: str | list[str],
    environment: dict,
    parent: Run | None = None,
    trial_params: dict | None = None,
    node_count: int = 1,
    processes_per_node: int = 1,
    partition: str = "",
) -> Run:
    """Validate a run request, store the run and queue it once the transaction commits.

    ``arguments`` is a list, or a shell-like line to split; ``environment`` is a
    request (kind, interpreter, requirements, docker, base_image) or a spec made
    by environment_spec(), normalized here either way. ``node_count``,
    ``processes_per_node`` and ``partition`` ("" = the target's default) place
    it on a cluster. Raises RunError with a message for the user and stores nothing."""
    script, arguments, environment = run_request(
        workspace=workspace,
        target=target,
        snapshot=snapshot,
        script=script,
        arguments=arguments,
        environment=environment,
    )
    partition = run_placement(
        target=target, node_count=node_count, processes_per_node=processes_per_node, partition=partition
    )
    with transaction.atomic():
        try:  # locks the workspace's quota row until the run is stored
            quotas.check_submit(workspace=workspace, target=target, node_count=node_count)
        except quotas.QuotaExceeded as exc:
            raise RunError(str(exc)) from None
        experiment = experiment_get_or_create(workspace=workspace, user=user, name=experiment_name)
        run = Run.objects.create(
            workspace=workspace,
            experiment=experiment,
            snapshot=snapshot,
            script=script,
            arguments=[str(a) for a in arguments],
            target=target,
            environment=environment,
            status=RunStatus.QUEUED,
            queued_at=timezone.now(),
            substep="Waiting for a worker",
            created_by=user,
            parent=parent,
            trial_params=trial_params,
            node_count=node_count,
            processes_per_node=processes_per_node,
            partition=partition,
        )
        push_run(run)
        _queue(run)
    return run


def run_request(
    *, workspace, target, snapshot, script, arguments, environment
) -> tuple[str, list[str], dict]:
    """Check a run request (a run's or a sweep's): the script's path, the
    arguments as a list and the environment spec; RunError when it cannot run."""
    if snapshot is None:
        raise RunError("Choose a folder or an archive with your script.")
    if target is None:
        raise RunError("Choose a compute target to run on.")
    if snapshot.workspace_id != workspace.pk or target.workspace_id != workspace.pk:
        raise RunError("The snapshot and the target must belong to this workspace.")
    if not target.backend.can_run:
        raise RunError(
            f"{target.name} is a {target.kind_label.lower()}: it does not run scripts. "
            "Pick a VM, a container instance or the local computer."
        )
    script = _script_in(snapshot, script)
    if isinstance(arguments, str):
        arguments = parse_arguments(arguments)
    environment = environment_spec(**{key: environment.get(key) or "" for key in ENVIRONMENT_REQUEST})
    if target.state not in (TargetState.SUCCEEDED, TargetState.UNREACHABLE):
        raise RunError(f"The target {target.name} is not ready ({target.get_state_display()}).")
    return script, [str(a) for a in arguments], environment


MAX_RUN_NODES = 64
MAX_PROCESSES_PER_NODE = 128


def run_placement(*, target: ComputeTarget, node_count: int, processes_per_node: int, partition: str) -> str:
    """Check where on the target a run goes; the partition as stored. A target that
    is not a cluster runs a script once, on one node: it refuses more."""
    partition = (partition or "").strip()
    if not 1 <= node_count <= MAX_RUN_NODES:
        raise RunError(f"The node count is a whole number from 1 to {MAX_RUN_NODES}.")
    if not 1 <= processes_per_node <= MAX_PROCESSES_PER_NODE:
        raise RunError(f"Processes per node is a whole number from 1 to {MAX_PROCESSES_PER_NODE}.")
    backend = target.backend
    if not backend.multi_node:
        if node_count > 1 or processes_per_node > 1:
            raise RunError(
                f"{target.name} is a {target.kind_label.lower()}: a run uses one node and one process there. "
                "Runs on several nodes or processes need a cluster target."
            )
        if partition:
            raise RunError(f"{target.name} is a {target.kind_label.lower()}: it has no partitions.")
        return ""
    known = {p.get("name"): p for p in target.capabilities.get("partitions", []) if isinstance(p, dict)}
    if partition and known and partition not in known:
        raise RunError(
            f"{target.name} has no partition “{partition}”: choose one of {', '.join(sorted(known))}."
        )
    chosen = known.get(partition) or next((p for p in known.values() if p.get("default")), None)
    limit = chosen.get("nodes") if chosen else None
    if isinstance(limit, int) and node_count > limit:
        where = f"partition {chosen['name']}" if chosen.get("name") else target.name
        raise RunError(f"The run asks for {node_count} nodes; {where} has {limit}.")
    return partition


def _script_in(snapshot: Snapshot, script: str) -> str:
    """The script's path as stored in the snapshot; RunError when it is not there."""
    script = (script or "").strip()
    if script.startswith("./"):
        script = script[2:]
    if not script:
        raise RunError("Give the path of the script to run, relative to the folder.")
    kept = {path for path, _ in snapshot.files}
    if script not in kept:
        hint = next((p for p in sorted(kept) if p.endswith(".py")), None)
        raise RunError(
            f"The script “{script}” is not in the snapshot." + (f" Did you mean “{hint}”?" if hint else "")
        )
    return script


def run_rerun(*, run: Run, user, target: ComputeTarget | None = None) -> Run:
    """Run ``run`` again: the same snapshot, script, arguments and environment in
    the same experiment, on its own target or on ``target``. A sweep's child
    runs again on its own, outside its sweep (its arguments hold the trial's
    values); a sweep's parent is refused: submit the sweep again. RunError,
    storing nothing, when the run cannot be repeated there."""
    from .models import Sweep

    if Sweep.objects.filter(pk=run.pk).exists():
        raise RunError(
            f"Run {run.pk} is a sweep: re-run one of its trials, or submit the sweep again from the Submit page."
        )
    target = target or run.target
    if target is None:
        raise RunError(f"Run {run.pk}'s target was detached: pick another target to run it on.")
    if target.workspace_id != run.workspace_id:
        raise RunError("The target must belong to this run's workspace.")
    return run_submit(
        workspace=run.workspace,
        user=user,
        experiment_name=run.experiment.name,
        target=target,
        snapshot=run.snapshot,
        script=run.script,
        arguments=list(run.arguments),
        environment=run.environment,
        node_count=run.node_count,
        processes_per_node=run.processes_per_node,
        partition=run.partition if target.pk == run.target_id else "",
    )


def run_example(*, workspace, user, target: ComputeTarget | None = None) -> Run:
    """ "Try the example": the scikit-learn folder on ``target``, by default the
    workspace's local computer."""
    from compute.backends.local import local_target

    if target is None:
        target = local_target(workspace=workspace)
        if target is None:
            raise RunError(
                "The example runs on the local computer, which this workspace has not been granted: "
                "pick another target to run it on."
            )
        if target.state not in (TargetState.SUCCEEDED, TargetState.UNREACHABLE):
            raise RunError("The local computer is not ready yet: check it on the Compute page.")
    elif target.workspace_id != workspace.pk:
        raise RunError("The target must belong to this workspace.")
    handles = []
    try:
        files = []
        for path in sorted(p for p in EXAMPLE_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            handle = open(path, "rb")  # noqa: SIM115 - closed below
            handles.append(handle)
            files.append((path.relative_to(EXAMPLE_DIR).as_posix(), handle))
        snapshot = snapshot_create(workspace=workspace, files=files)
    finally:
        for handle in handles:
            handle.close()
    return run_submit(
        workspace=workspace,
        user=user,
        experiment_name=EXAMPLE_EXPERIMENT,
        snapshot=snapshot,
        script="train.py",
        arguments=["--epochs", "20"],
        target=target,
        environment={"kind": "pip", "requirements": (EXAMPLE_DIR / "requirements.txt").read_text()},
    )


def run_cancel(*, run: Run, user=None) -> None:
    """Cancel a run: one that has not started is Canceled at once; a started
    one goes CancelRequested and its monitor kills the process tree. A
    sweep's parent run cancels the sweep, and with it every child."""
    from .models import Sweep

    if Sweep.objects.filter(pk=run.pk).exists():
        from .sweeps.orchestrator import sweep_cancel

        sweep_cancel(sweep_id=run.pk, user=user)
        return
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run.pk)
        if not run.can_cancel:
            raise RunError(f"The run is {run.get_status_display().lower()}: there is nothing to cancel.")
        if run.status in (RunStatus.NOT_STARTED, RunStatus.QUEUED):
            run.status = RunStatus.CANCELED
            run.ended_at = timezone.now()
            run.substep = ""
            run.error = f"Canceled before it started{f' by {user}' if user else ''}."
        else:
            run.status = RunStatus.CANCEL_REQUESTED
            run.substep = "Stopping the process tree"
        run.save(update_fields=["status", "ended_at", "substep", "error"])
        push_run(run)
        if run.parent_id and run.is_terminal:
            from .sweeps.orchestrator import queue_advance

            queue_advance(run.parent_id)
        if run.status == RunStatus.CANCEL_REQUESTED and not run.handle:
            _queue(run)  # not launched yet: its preparation sees the flag; a launched one's monitor does


def run_stop_early(*, run: Run, reason: str) -> bool:
    """Stop a sweep's child for its policy: the reason goes into its system log
    and it ends as EarlyStopped (finish_run reads stop_reason). False when it
    had already ended or was being stopped."""
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run.pk)
        if not run.can_cancel:
            return False
        run.stop_reason = reason[:500]
        chunk = RunLogChunk.objects.create(run=run, seq=run.next_seq, stream="system", text=f"{reason}\n")
        run.next_seq += 1
        fields = ["stop_reason", "next_seq", "status", "substep"]
        if run.status in (RunStatus.NOT_STARTED, RunStatus.QUEUED):
            run.status = RunStatus.EARLY_STOPPED
            run.ended_at = timezone.now()
            run.substep = ""
            run.error = reason[:500]
            fields += ["ended_at", "error"]
        else:
            run.status = RunStatus.CANCEL_REQUESTED
            run.substep = "Stopping the process tree (stopped early)"
        run.save(update_fields=fields)
        push_log(run.pk, [chunk], [])
        push_run(run)
        if run.status == RunStatus.CANCEL_REQUESTED and not run.handle:
            _queue(run)
    return True


def _queue(run: Run) -> None:
    """The one place a run is handed to the workers, after the transaction commits."""
    from .tasks import prepare_run

    transaction.on_commit(lambda: prepare_run.delay(run.pk))
