"""The subset of MLflow's tracking REST API that the ``mlflow`` client uses
for tracking, served at ``/mlflow/`` (a run's MLFLOW_TRACKING_URI).

Every call carries the run's own token (MLFLOW_TRACKING_TOKEN, sent as
``Authorization: Bearer``) and acts on that run only: ``mlflow.start_run()``
attaches to it (MLFLOW_RUN_ID), and inside a run every experiment name
resolves to the run's experiment, since the portal decides where a run
records. Endpoints and payloads follow the client's rest_store and
http_artifact_repo (verified against mlflow-skinny 3.17.2; see README)."""

import json
import logging
from functools import wraps

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from portal.streaming import streamed_file

from . import mlflow_store as store
from . import tracking_tokens
from .mlflow_store import TrackingError

log = logging.getLogger(__name__)


def _error(message: str, code: str, status: int) -> JsonResponse:
    return JsonResponse({"error_code": code, "message": message}, status=status)


def tracking_call(*methods):
    """Token check, JSON body, MLflow-shaped errors; the view gets (request, run, body)."""

    def decorator(view):
        @csrf_exempt
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method not in methods:
                return _error(f"{request.method} is not allowed here.", "ENDPOINT_NOT_FOUND", 405)
            header = request.headers.get("Authorization", "")
            scheme, _, plaintext = header.partition(" ")
            run = tracking_tokens.run_for(plaintext.strip()) if scheme.lower() == "bearer" else None
            if run is None:
                return _error(
                    "This needs the run's own tracking token (MLFLOW_TRACKING_TOKEN, set in every portal run); "
                    "it stops working when the run ends.",
                    "UNAUTHENTICATED",
                    401,
                )
            body = {}
            if request.method in ("POST", "PATCH") and request.content_type == "application/json":
                try:
                    body = json.loads(request.body or b"{}")
                except ValueError:
                    return _error("The request body is not JSON.", "MALFORMED_REQUEST", 400)
                if not isinstance(body, dict):
                    return _error("The request body must be a JSON object.", "MALFORMED_REQUEST", 400)
            elif request.method == "GET":
                body = request.GET.dict()
            try:
                return view(request, run, body, *args, **kwargs)
            except TrackingError as exc:
                return _error(str(exc), exc.code, exc.status)

        return wrapper

    return decorator


def _run_id(body) -> str | None:
    return body.get("run_id") or body.get("run_uuid")


# ---- experiments --------------------------------------------------------------------------------


@tracking_call("GET")
def experiment_get_by_name(request, run, body):
    return JsonResponse({"experiment": store.experiment_entity(run)})


@tracking_call("GET")
def experiment_get(request, run, body):
    if body.get("experiment_id") not in (None, "", str(run.experiment_id)):
        raise TrackingError(
            "Inside a portal run, only the run's experiment is here.", "RESOURCE_DOES_NOT_EXIST", 404
        )
    return JsonResponse({"experiment": store.experiment_entity(run)})


@tracking_call("POST")
def experiment_create(request, run, body):
    return JsonResponse({"experiment_id": str(run.experiment_id)})


@tracking_call("POST")
def experiment_search(request, run, body):
    return JsonResponse({"experiments": [store.experiment_entity(run)]})


# ---- runs -----------------------------------------------------------------------------------------


@tracking_call("POST")
def run_create(request, run, body):
    """A run started inside a portal run records into it, under run-<k>/ (no stray runs)."""
    t = store.start_another(run)
    store.set_tags(t, body.get("tags") or [])
    return JsonResponse({"run": store.run_entity(t)})


@tracking_call("GET")
def run_get(request, run, body):
    return JsonResponse({"run": store.run_entity(store.tracked(run, _run_id(body)))})


@tracking_call("POST")
def run_update(request, run, body):
    """The script's end_run() is noted, not obeyed: the process's exit decides the run's status."""
    return JsonResponse({"run_info": store.run_info(store.tracked(run, _run_id(body)))})


@tracking_call("POST")
def run_search(request, run, body):
    everyone = [store.Tracked(run, k) for k in range(run.mlflow_runs + 1)]
    return JsonResponse({"runs": [store.run_entity(t) for t in everyone]})


@tracking_call("POST")
def log_metric(request, run, body):
    store.log_metrics(store.tracked(run, _run_id(body)), [body])
    return JsonResponse({})


@tracking_call("POST")
def log_parameter(request, run, body):
    store.log_params(store.tracked(run, _run_id(body)), [body])
    return JsonResponse({})


@tracking_call("POST")
def set_tag(request, run, body):
    store.set_tags(store.tracked(run, _run_id(body)), [body])
    return JsonResponse({})


@tracking_call("POST")
def delete_tag(request, run, body):
    store.delete_tag(store.tracked(run, _run_id(body)), str(body.get("key", "")))
    return JsonResponse({})


@tracking_call("POST")
def log_batch(request, run, body):
    t = store.tracked(run, _run_id(body))
    store.log_params(t, body.get("params") or [])
    store.set_tags(t, body.get("tags") or [])
    store.log_metrics(t, body.get("metrics") or [])
    return JsonResponse({})


@tracking_call("POST")
def accepted(request, run, body):
    """Calls with nothing to record here (log-model, log-inputs, run outputs): accepted."""
    store.tracked(run, _run_id(body))
    return JsonResponse({})


# ---- logged models (MLflow 3) ----------------------------------------------------------------------


@tracking_call("POST")
def logged_model_create(request, run, body):
    store.tracked(run, body.get("source_run_id"))
    return JsonResponse({"model": store.logged_model_entity(store.create_logged_model(run, body))})


@tracking_call("GET", "PATCH")
def logged_model_detail(request, run, body, model_id):
    model = store.logged_model(run, model_id)
    if request.method == "PATCH":
        status = body.get("status")
        if status not in ("LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED", "LOGGED_MODEL_PENDING"):
            raise TrackingError(f"Unknown logged-model status {status!r}.")
        model.status = status
        model.save(update_fields=["status", "updated_at"])
    return JsonResponse({"model": store.logged_model_entity(model)})


@tracking_call("PATCH")
def logged_model_tags(request, run, body, model_id):
    model = store.logged_model(run, model_id)
    model.tags.update({t["key"]: str(t.get("value", "")) for t in body.get("tags") or [] if t.get("key")})
    model.save(update_fields=["tags", "updated_at"])
    return JsonResponse({})


@tracking_call("POST")
def logged_model_params(request, run, body, model_id):
    model = store.logged_model(run, model_id)
    model.params.update({p["key"]: str(p.get("value", "")) for p in body.get("params") or [] if p.get("key")})
    model.save(update_fields=["params", "updated_at"])
    return JsonResponse({})


# ---- artifacts (MLflow's artifacts proxy) ----------------------------------------------------------


@tracking_call("PUT", "GET")
def artifact(request, run, body, path):
    rel = store.artifact_rel(run, path)
    if request.method == "PUT":
        store.store_artifact(run, rel, request)
        return JsonResponse({})
    return streamed_file(store.artifact_file(run, rel), content_type="application/octet-stream")


@tracking_call("GET")
def artifact_list(request, run, body):
    rel = store.artifact_rel(run, body.get("path") or "")
    return JsonResponse({"files": store.list_artifacts(run, rel)})


@tracking_call("GET")
def metric_history(request, run, body):
    t = store.tracked(run, _run_id(body))
    return JsonResponse({"metrics": store.metric_history(t, str(body.get("metric_key", "")))})


@csrf_exempt
def not_served(request, rest=""):
    return _error(
        f"The portal serves MLflow's tracking calls for runs only; {request.method} /mlflow/{rest} is not one "
        "of them (see the README's MLflow section).",
        "ENDPOINT_NOT_FOUND",
        404,
    )
