from django.urls import path

from . import views

urlpatterns = [
    path("experiments/", views.experiment_list, name="experiment-list"),
    path("experiments/<str:name>/", views.experiment_detail, name="experiment-detail"),
    path("runs/new/", views.run_submit, name="run-submit"),
    path("runs/preview/", views.snapshot_preview, name="snapshot-preview"),
    path("runs/example/", views.run_example, name="run-example"),
    path("runs/<int:pk>/", views.run_detail, name="run-detail"),
    path("runs/<int:pk>/cancel/", views.run_cancel, name="run-cancel"),
    path("runs/<int:pk>/rerun/", views.run_rerun, name="run-rerun"),
    path("runs/<int:pk>/log/", views.run_log, name="run-log"),
    path("runs/<int:pk>/outputs.zip", views.run_outputs_zip, name="run-outputs-zip"),
    path("runs/<int:pk>/outputs/<path:path>", views.run_output, name="run-output"),
    path("sweeps/<int:pk>/", views.sweep_detail, name="sweep-detail"),
    path("sweeps/<int:pk>/cancel/", views.sweep_cancel, name="sweep-cancel"),
    path("sweeps/<int:pk>/children.csv", views.sweep_csv, name="sweep-csv"),
]
