"""What MLflow's tracking calls do to a portal run: metrics, params, tags,
logged models and artifacts land where the run's own metrics and outputs do,
so the run page shows them like any others. The wire format (MLflow's JSON
entities) is built here too; the views only route (runs/mlflow_server.py)."""

import math
import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .live import push_log
from .models import TERMINAL, LoggedModel, Metric, Output, Run, RunLogChunk, RunStatus
from .monitor import TRACKED_OUTPUTS, outputs_dir

ARTIFACTS_TOP = TRACKED_OUTPUTS  # a run's MLflow artifacts are its outputs under mlflow/
MAX_KEY = 250
MAX_VALUE = 6000  # MLflow's own limit for a param value
MAX_BATCH = 1000  # metrics per log-batch, as MLflow's server
STATUS = {
    RunStatus.COMPLETED: "FINISHED",
    RunStatus.FAILED: "FAILED",
    RunStatus.CANCELED: "KILLED",
    RunStatus.EARLY_STOPPED: "KILLED",
}


class TrackingError(Exception):
    """A call MLflow's client made that cannot be carried out; code and message go back to it."""

    def __init__(self, message: str, code: str = "INVALID_PARAMETER_VALUE", status: int = 400):
        super().__init__(message)
        self.code, self.status = code, status


# ---- which MLflow run a call is about ---------------------------------------------------------------


@dataclass(frozen=True)
class Tracked:
    """One MLflow run inside a portal run. Index 0 is the portal run itself
    (MLFLOW_RUN_ID); each further ``mlflow.start_run()`` in the script (a
    second run, autolog's run per ``fit()``, a nested run) is index 1, 2, …:
    it records into the same portal run with its names under ``run-<k>/``,
    so nothing it logs is lost or clashes with the first."""

    run: Run
    index: int = 0

    @property
    def run_id(self) -> str:
        return self.run.key.hex if not self.index else f"{self.run.key.hex}-{self.index}"

    @property
    def prefix(self) -> str:
        return f"run-{self.index}/" if self.index else ""

    def named(self, key: str) -> str:
        return self.prefix + key


def tracked(run: Run, run_id: str | None) -> Tracked:
    """The MLflow run a call names; TrackingError for any run but this portal run's."""
    if not run_id or run_id == run.key.hex:
        return Tracked(run)
    head, _, index = run_id.partition("-")
    if head == run.key.hex and index.isdigit() and 0 < int(index) <= run.mlflow_runs:
        return Tracked(run, int(index))
    raise TrackingError("A portal run's token writes and reads that run only.", "PERMISSION_DENIED", 403)


def start_another(run: Run) -> Tracked:
    """``mlflow.start_run()`` once the portal's run was already taken: the next index."""
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        locked.mlflow_runs += 1
        locked.save(update_fields=["mlflow_runs"])
    run.mlflow_runs = locked.mlflow_runs
    return Tracked(run, locked.mlflow_runs)


# ---- entities ------------------------------------------------------------------------------------


def _ms(moment) -> int | None:
    return int(moment.timestamp() * 1000) if moment else None


def experiment_entity(run: Run) -> dict:
    experiment = run.experiment
    return {
        "experiment_id": str(experiment.pk),
        "name": experiment.name,
        "artifact_location": f"mlflow-artifacts:/{run.key.hex}/artifacts",
        "lifecycle_stage": "active",
        "creation_time": _ms(experiment.created_at),
        "last_update_time": _ms(experiment.created_at),
        "tags": [],
    }


def run_info(t: Tracked) -> dict:
    run = t.run
    info = {
        "run_id": t.run_id,
        "run_uuid": t.run_id,
        "run_name": f"run-{run.pk}" + (f"-{t.index}" if t.index else ""),
        "experiment_id": str(run.experiment_id),
        "user_id": run.created_by.username if run.created_by_id else "",
        "status": STATUS.get(run.status, "RUNNING"),
        "start_time": _ms(run.running_at or run.created_at),
        "artifact_uri": f"mlflow-artifacts:/{t.run_id}/artifacts",
        "lifecycle_stage": "active",
    }
    if run.status in TERMINAL:
        info["end_time"] = _ms(run.ended_at)
    return info


def run_entity(t: Tracked) -> dict:
    """The MLflow run with its own names only (the first run's: those without a run-<k>/ prefix)."""

    def own(pairs):
        for key, value in pairs:
            if t.prefix and key.startswith(t.prefix):
                yield key[len(t.prefix) :], value
            elif not t.prefix and not key.startswith("run-"):
                yield key, value

    rows = (
        Metric.objects.filter(run=t.run)
        .order_by("name", "step", "pk")
        .values_list("name", "step", "value", "time")
    )
    latest: dict = {}
    for name, (step, value, time) in own((n, (st, v, tm)) for n, st, v, tm in rows):
        latest[name] = {"key": name, "value": value, "step": step, "timestamp": _ms(time)}
    return {
        "info": run_info(t),
        "data": {
            "metrics": list(latest.values()),
            "params": [{"key": k, "value": v} for k, v in sorted(own(run_params(t.run).items()))],
            "tags": [{"key": k, "value": v} for k, v in sorted(own(run_tags(t.run).items()))],
        },
        "inputs": {},
    }


def logged_model_entity(model: LoggedModel) -> dict:
    run = model.run
    return {
        "info": {
            "model_id": model.model_id,
            "experiment_id": str(run.experiment_id),
            "name": model.name,
            "artifact_uri": f"mlflow-artifacts:/{run.key.hex}/models/{model.model_id}/artifacts",
            "creation_timestamp_ms": _ms(model.created_at),
            "last_updated_timestamp_ms": _ms(model.updated_at),
            "status": model.status,
            "model_type": model.model_type,
            "source_run_id": run.key.hex,
            "tags": [{"key": k, "value": v} for k, v in model.tags.items()],
        },
        "data": {"params": [{"key": k, "value": v} for k, v in model.params.items()], "metrics": []},
    }


# ---- params and tags (stored on the run: shown on its page, filterable on the experiment's) ----------


def run_params(run: Run) -> dict:
    from .models import RunParam

    return dict(RunParam.objects.filter(run=run).values_list("key", "value"))


def run_tags(run: Run) -> dict:
    from .models import RunTag

    return dict(RunTag.objects.filter(run=run).values_list("key", "value"))


def _check_key(key, what: str) -> str:
    if not isinstance(key, str) or not key or len(key) > MAX_KEY:
        raise TrackingError(f"A {what} needs a name of 1 to {MAX_KEY} characters.")
    return key


def log_params(t: Tracked, params: list[dict]) -> None:
    from .run_data import run_log_params

    values = {}
    for param in params:
        key = _check_key(param.get("key"), "param")
        value = "" if param.get("value") is None else str(param.get("value"))
        if len(value) > MAX_VALUE:
            raise TrackingError(f"The param {key} is {len(value)} characters: at most {MAX_VALUE}.")
        values[t.named(key)] = value
    if values:
        try:
            run_log_params(run=t.run, params=values)
        except ValueError as exc:
            raise TrackingError(str(exc)) from None


def set_tags(t: Tracked, tags: list[dict]) -> None:
    from .run_data import run_set_tags

    values = {}
    for tag in tags:
        key = _check_key(tag.get("key"), "tag")
        value = "" if tag.get("value") is None else str(tag.get("value"))
        values[t.named(key)] = value[:MAX_VALUE]
    if values:
        try:
            run_set_tags(run=t.run, tags=values)
        except ValueError as exc:
            raise TrackingError(str(exc)) from None


def delete_tag(t: Tracked, key: str) -> None:
    from .models import RunTag

    RunTag.objects.filter(run=t.run, key=t.named(key)).delete()


# ---- metrics ------------------------------------------------------------------------------------


def log_metrics(t: Tracked, metrics: list[dict]) -> None:
    """Stored as the run's metric points and pushed live to its page; NaN and
    infinite values are left out with one note in the run's system log (as
    the metrics file's are), so a diverging loss never stops the script."""
    run = t.run
    if len(metrics) > MAX_BATCH:
        raise TrackingError(f"{len(metrics)} metrics in one call: at most {MAX_BATCH}.")
    points, refused = [], []
    now = timezone.now()
    relinked = _already_stored(t, [m for m in metrics if m.get("model_id")])
    for metric in metrics:
        if metric.get("model_id") and _point_key(t, metric) in relinked:
            continue  # MLflow 3 logs a run's points again to link them to a logged model: not new points
        key = _check_key(metric.get("key"), "metric")
        try:
            value = float(metric.get("value"))
            step = int(metric.get("step") or 0)
        except (TypeError, ValueError):
            raise TrackingError(f"The metric {key} needs a number value and a whole-number step.") from None
        if not math.isfinite(value):
            refused.append(f"{key}[{step}]")
            continue
        stamp = metric.get("timestamp")
        try:
            time = datetime.fromtimestamp(int(stamp) / 1000, tz=UTC) if stamp else now
        except (TypeError, ValueError, OverflowError, OSError):
            time = now
        points.append(Metric(run=run, name=t.named(key), step=step, value=value, time=time))
    with transaction.atomic() if refused else nullcontext():  # one INSERT needs no BEGIN/COMMIT
        stored = Metric.objects.bulk_create(points)
        chunks = []
        if refused:
            locked = Run.objects.select_for_update().get(pk=run.pk)
            note = f"MLflow metric values that are not finite were not stored: {', '.join(refused[:10])}"
            if len(refused) > 10:
                note += f" and {len(refused) - 10} more"
            chunks.append(
                RunLogChunk.objects.create(
                    run=locked, seq=locked.next_seq, stream="system", text=note + ".\n"
                )
            )
            locked.next_seq += 1
            locked.save(update_fields=["next_seq"])
        push_log(run.pk, chunks, stored)


def _point_key(t: Tracked, metric: dict) -> tuple:
    try:
        return (
            t.named(str(metric.get("key"))),
            int(metric.get("step") or 0),
            float(metric.get("value")),
            int(metric.get("timestamp") or 0),
        )
    except (TypeError, ValueError):
        return ()


def _already_stored(t: Tracked, metrics: list[dict]) -> set:
    if not metrics:
        return set()
    names = {t.named(str(m.get("key"))) for m in metrics}
    stored = Metric.objects.filter(run=t.run, name__in=names).values_list("name", "step", "value", "time")
    return {(name, step, value, _ms(time)) for name, step, value, time in stored}


# ---- logged models --------------------------------------------------------------------------------


def create_logged_model(run: Run, body: dict) -> LoggedModel:
    name = (body.get("name") or "model")[:200]
    return LoggedModel.objects.create(
        run=run,
        model_id=f"m-{uuid.uuid4().hex}",
        name=name,
        model_type=(body.get("model_type") or "")[:100],
        tags={t["key"]: str(t.get("value", "")) for t in body.get("tags") or [] if t.get("key")},
        params={p["key"]: str(p.get("value", "")) for p in body.get("params") or [] if p.get("key")},
    )


def logged_model(run: Run, model_id: str) -> LoggedModel:
    model = LoggedModel.objects.filter(run=run, model_id=model_id).select_related("run").first()
    if model is None:
        raise TrackingError(f"No logged model {model_id} in this run.", "RESOURCE_DOES_NOT_EXIST", 404)
    return model


# ---- artifacts ----------------------------------------------------------------------------------


def artifact_rel(run: Run, path: str) -> PurePosixPath:
    """Where an artifact address (``<run key>/artifacts/<path>`` or
    ``<run key>/models/<id>/artifacts/<path>``) lands under the run's
    mlflow/ outputs; TrackingError for another run's or an unsafe path."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts:
        raise TrackingError(
            "This token writes and reads its own run's artifacts only.", "PERMISSION_DENIED", 403
        )
    t = tracked(run, parts[0])
    rest = parts[1:]
    if rest[:1] == ["artifacts"]:
        rest = rest[1:]
    elif rest[:1] == ["models"] and len(rest) >= 3 and rest[2] == "artifacts":
        logged_model(run, rest[1])
        rest = ["models", rest[1], *rest[3:]]
    else:
        raise TrackingError(
            f"“{path}” is not an artifact address of this run.", "INVALID_PARAMETER_VALUE", 400
        )
    if ".." in rest or any("\\" in p or any(ord(c) < 32 for c in p) for p in rest) or len(rest) > 64:
        raise TrackingError(f"“{path}” is not a safe artifact path.")
    top = [ARTIFACTS_TOP, f"run-{t.index}"] if t.index else [ARTIFACTS_TOP]
    return PurePosixPath(*top, *rest)


def artifacts_root(run: Run) -> Path:
    return outputs_dir(run) / "outputs"


def store_artifact(run: Run, rel: PurePosixPath, body) -> int:
    """Write one artifact from a file-like body, within the run's outputs
    limit; it becomes one of the run's outputs at once."""
    if not rel.parts[1:]:
        raise TrackingError("An artifact needs a file name.")
    limit = settings.PORTAL_OUTPUTS_MAX_MB * 1024 * 1024
    used = sum(Output.objects.filter(run=run).exclude(path=str(rel)).values_list("size", flat=True))
    target = artifacts_root(run) / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    size = 0
    with open(partial, "wb") as out:
        while block := body.read(1024 * 1024):
            size += len(block)
            if used + size > limit:
                out.close()
                partial.unlink(missing_ok=True)
                raise TrackingError(
                    f"The run's outputs would pass {settings.PORTAL_OUTPUTS_MAX_MB} MB with this artifact.",
                    "RESOURCE_EXHAUSTED",
                    413,
                )
            out.write(block)
    partial.replace(target)
    Output.objects.update_or_create(run=run, path=str(rel), defaults={"size": size})
    return size


def artifact_file(run: Run, rel: PurePosixPath) -> Path:
    full = (artifacts_root(run) / rel).resolve()
    root = artifacts_root(run).resolve()
    if not str(full).startswith(str(root) + "/") or not full.is_file():
        raise TrackingError(f"No artifact {rel}.", "RESOURCE_DOES_NOT_EXIST", 404)
    return full


def list_artifacts(run: Run, rel: PurePosixPath) -> list[dict]:
    """The entries right under ``rel``: names, as MLflow's client joins them to the path it asked."""
    prefix = str(rel) + "/"
    entries: dict[str, dict] = {}
    for path, size in Output.objects.filter(run=run, path__startswith=prefix).values_list("path", "size"):
        head, _, tail = path[len(prefix) :].partition("/")
        if tail:
            entries.setdefault(head, {"path": head, "is_dir": True})
        else:
            entries[head] = {"path": head, "is_dir": False, "file_size": size}
    return sorted(entries.values(), key=lambda e: e["path"])


def metric_history(t: Tracked, key: str) -> list[dict]:
    rows = Metric.objects.filter(run=t.run, name=t.named(key)).order_by("step", "pk")[: store_limit()]
    return [{"key": key, "value": m.value, "step": m.step, "timestamp": _ms(m.time)} for m in rows]


def store_limit() -> int:
    from .selectors import METRIC_POINTS_MAX

    return METRIC_POINTS_MAX
