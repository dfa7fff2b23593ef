"""Decorators for views: a signed-in member of the current workspace, with a role."""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import render

from .models import Role


def member_required(role: str = Role.READER):
    """Anonymous users go to login; users with no workspace see a plain page;
    members below ``role`` get 403. Reads (GET) need only reader."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            membership = request.membership
            if membership is None:
                return render(request, "portal/no_workspace.html", status=403)
            if not membership.allows(role):
                raise PermissionDenied(f"This needs the {role} role in {membership.workspace}.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def can_change(role: str = Role.CONTRIBUTOR):
    """For views that show on GET and change on POST: GET needs reader, POST ``role``."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            needed = Role.READER if request.method in ("GET", "HEAD") else role
            return member_required(needed)(view)(request, *args, **kwargs)

        return wrapper

    return decorator
