from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from . import views

workspace_urls = [
    path("", views.WorkspaceDetail.as_view(), name="api-workspace"),
    path("", include("compute.api_urls")),
    path("", include("runs.api_urls")),
]

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("workspaces/", views.WorkspaceList.as_view(), name="api-workspaces"),
    path("workspaces/<slug:workspace>/", include(workspace_urls)),
]
