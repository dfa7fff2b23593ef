from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from compute import views as compute_views

from . import token_views, views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", views.PasswordChange.as_view(), name="password_change"),
    path("workspaces/<slug:slug>/switch/", views.workspace_switch, name="workspace-switch"),
    path("workspace/members/", views.members, name="members"),
    path("workspace/settings/", compute_views.workspace_package_index, name="workspace-settings"),
    path("workspace/settings/node-sizes/", compute_views.node_sizes, name="node-sizes"),
    path("workspace/settings/node-sizes/<int:pk>/", compute_views.node_sizes, name="node-size-edit"),
    path(
        "workspace/settings/node-sizes/<int:pk>/delete/",
        compute_views.node_size_delete,
        name="node-size-delete",
    ),
    path("workspace/members/<int:pk>/", views.member_change, name="member-change"),
    path("profile/tokens/", token_views.token_list, name="profile-tokens"),
    path("profile/tokens/<int:pk>/revoke/", token_views.token_revoke, name="profile-token-revoke"),
    path("compute/", include("compute.urls")),
    path("", include("runs.urls")),
    path("", include("dashboard.urls")),
    path("api/v1/", include("portal.api.urls")),
    path("mlflow/", include("runs.mlflow_urls")),
    path("admin/", admin.site.urls),
]

handler403 = "portal.errors.forbidden"
