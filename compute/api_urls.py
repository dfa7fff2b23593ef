from django.urls import path

from . import api

urlpatterns = [
    path("computes/", api.TargetList.as_view(), name="api-targets"),
    path("computes/<slug:name>/", api.TargetDetail.as_view(), name="api-target"),
    path("computes/<slug:name>/check/", api.TargetCheck.as_view(), name="api-target-check"),
    path("computes/<slug:name>/stop/", api.TargetStop.as_view(), name="api-target-stop"),
    path("computes/<slug:name>/start/", api.TargetStart.as_view(), name="api-target-start"),
    path("computes/<slug:name>/host-key/", api.TargetHostKey.as_view(), name="api-target-host-key"),
    path("computes/<slug:name>/events/", api.TargetEvents.as_view(), name="api-target-events"),
    path("sizes/", api.SizeList.as_view(), name="api-sizes"),
]
