from django.urls import path, re_path

from . import api
from .sweeps import api as sweep_api

urlpatterns = [
    re_path(r"^snapshots/(?P<sha256>[0-9a-f]{64})/$", api.SnapshotDetail.as_view(), name="api-snapshot"),
    path("experiments/", api.ExperimentList.as_view(), name="api-experiments"),
    path("experiments/<str:name>/", api.ExperimentDetail.as_view(), name="api-experiment"),
    path("runs/", api.RunList.as_view(), name="api-runs"),
    path("runs/<int:pk>/", api.RunDetail.as_view(), name="api-run"),
    path("runs/<int:pk>/cancel/", api.RunCancel.as_view(), name="api-run-cancel"),
    path("runs/<int:pk>/rerun/", api.RunRerun.as_view(), name="api-run-rerun"),
    path("runs/<int:pk>/logs/", api.RunLogs.as_view(), name="api-run-logs"),
    path("runs/<int:pk>/metrics/", api.RunMetrics.as_view(), name="api-run-metrics"),
    path("runs/<int:pk>/outputs/", api.RunOutputs.as_view(), name="api-run-outputs"),
    path("runs/<int:pk>/outputs.zip", api.RunOutputsZip.as_view(), name="api-run-outputs-zip"),
    path("runs/<int:pk>/outputs/<path:path>", api.RunOutputFile.as_view(), name="api-run-output"),
    path("sweeps/", sweep_api.SweepList.as_view(), name="api-sweeps"),
    path("sweeps/<int:pk>/", sweep_api.SweepDetail.as_view(), name="api-sweep"),
    path("sweeps/<int:pk>/cancel/", sweep_api.SweepCancel.as_view(), name="api-sweep-cancel"),
]
