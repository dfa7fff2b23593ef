"""The page a locked-out login gets (django-axes calls lockout_response)."""

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.shortcuts import render


def lockout_message() -> str:
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return (
        f"Too many failed logins for this account from your address. Logins are paused for "
        f"{minutes} minutes; try again later, or ask an admin to unlock it."
    )


def lockout_response(request, original_response=None, credentials=None):
    """The login page again, with the reason, as 429: never a bare error page.

    The admin's login is throttled too and answered with the same page."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    form = AuthenticationForm(request, initial={"username": username})
    context = {"form": form, "next": request.POST.get("next", ""), "lockout_message": lockout_message()}
    return render(request, "registration/login.html", context, status=429)
