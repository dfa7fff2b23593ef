"""Every workspace resource is under ``/api/v1/workspaces/<slug>/``: the
workspace comes from the URL, the member's role from the database, and a
token works only in its own workspace (elsewhere the workspace does not
exist, as for a non-member: 404, never a hint that it is there)."""

from django.http import Http404
from rest_framework import exceptions, permissions
from rest_framework.views import APIView

from portal.models import ApiToken, Membership, Role


class WorkspaceAccess(permissions.BasePermission):
    """Reads need a reader; writes need the view's ``write_role`` (contributor
    unless it says otherwise) and a read-write token."""

    def has_permission(self, request, view):
        membership = view.membership
        if request.method in permissions.SAFE_METHODS:
            return True  # every member reads
        token = request.auth if isinstance(request.auth, ApiToken) else None
        if token is not None and token.read_only:
            raise exceptions.PermissionDenied("This token is read-only.")
        role = view.write_role_for(request)
        if not membership.allows(role):
            raise exceptions.PermissionDenied(f"This needs the {role} role in {membership.workspace}.")
        return True


class WorkspaceView(APIView):
    """Base for resources in a workspace: sets ``self.workspace`` and ``self.membership``."""

    permission_classes = [permissions.IsAuthenticated, WorkspaceAccess]
    write_role = Role.CONTRIBUTOR

    def write_role_for(self, request) -> str:
        return self.write_role

    def initial(self, request, *args, **kwargs):
        self.format_kwarg = self.get_format_suffix(**kwargs)
        self.perform_authentication(request)
        if request.user and request.user.is_authenticated:
            self.membership = membership_for(request, kwargs.get("workspace", ""))
            self.workspace = self.membership.workspace
        super().initial(request, *args, **kwargs)


def membership_for(request, slug: str) -> Membership:
    token = request.auth if isinstance(request.auth, ApiToken) else None
    membership = (
        Membership.objects.select_related("workspace").filter(user=request.user, workspace__slug=slug).first()
    )
    if membership is None or (token is not None and token.workspace_id != membership.workspace_id):
        raise Http404(f"No workspace “{slug}” here.")
    return membership
