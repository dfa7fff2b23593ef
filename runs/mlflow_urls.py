"""MLflow's tracking REST API paths, under /mlflow/ (a run's MLFLOW_TRACKING_URI)."""

from django.urls import path, re_path

from . import mlflow_server as v

API = "api/2.0/mlflow/"
ARTIFACTS = "api/2.0/mlflow-artifacts/artifacts"

urlpatterns = [
    path(f"{API}experiments/get-by-name", v.experiment_get_by_name),
    path(f"{API}experiments/get", v.experiment_get),
    path(f"{API}experiments/create", v.experiment_create),
    path(f"{API}experiments/search", v.experiment_search),
    path(f"{API}runs/create", v.run_create),
    path(f"{API}runs/get", v.run_get),
    path(f"{API}runs/update", v.run_update),
    path(f"{API}runs/search", v.run_search),
    path(f"{API}runs/log-metric", v.log_metric),
    path(f"{API}runs/log-parameter", v.log_parameter),
    path(f"{API}runs/set-tag", v.set_tag),
    path(f"{API}runs/delete-tag", v.delete_tag),
    path(f"{API}runs/log-batch", v.log_batch),
    path(f"{API}runs/log-model", v.accepted),
    path(f"{API}runs/log-inputs", v.accepted),
    path(f"{API}runs/outputs", v.accepted),
    path(f"{API}logged-models", v.logged_model_create),
    path(f"{API}logged-models/<str:model_id>", v.logged_model_detail),
    path(f"{API}logged-models/<str:model_id>/tags", v.logged_model_tags),
    path(f"{API}logged-models/<str:model_id>/params", v.logged_model_params),
    path(f"{API}metrics/get-history", v.metric_history),
    path(ARTIFACTS, v.artifact_list),
    path(f"{ARTIFACTS}/<path:path>", v.artifact),
    re_path(r"^(?P<rest>.*)$", v.not_served),
]
