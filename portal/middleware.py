from django.shortcuts import redirect
from django.urls import reverse

from . import selectors, services

SESSION_KEY = "workspace_id"


class CurrentWorkspaceMiddleware:
    """Sets ``request.membership`` and ``request.workspace`` for the signed-in user
    (None for anonymous users and users without a workspace).

    The current workspace is kept in the session; a user who is no longer a
    member of it falls back to their first workspace.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.membership = None
        if request.user.is_authenticated:
            request.membership = selectors.current_membership(
                user=request.user, workspace_id=request.session.get(SESSION_KEY)
            )
        request.workspace = request.membership.workspace if request.membership else None
        return self.get_response(request)


class PasswordChangeRequiredMiddleware:
    """A user signed in with a one-time password sees only the password change
    page (and may log out) until they choose their own password."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        allowed = (reverse("password_change"), reverse("logout"))
        if request.path not in allowed and services.password_change_required(user=request.user):
            return redirect("password_change")
        return self.get_response(request)
