"""The profile's API tokens page: make one (its text shown once), list them, revoke one."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_POST

from . import tokens
from .forms import TokenCreateForm


@login_required
@sensitive_variables("issued")
def token_list(request):
    """The token's text is in this one response and nowhere else: not in the
    database (only its hash), not in the session, not in a message."""
    initial = {"workspace": request.workspace}
    form = TokenCreateForm(request.POST or None, user=request.user, initial=initial)
    issued = None
    if request.method == "POST" and form.is_valid():
        try:
            issued = tokens.token_create(user=request.user, **form.cleaned_data)
        except tokens.TokenError as exc:
            form.add_error(None, str(exc))
        else:
            form = TokenCreateForm(user=request.user, initial=initial)
    response = render(
        request,
        "portal/tokens.html",
        {"form": form, "issued": issued, "tokens": _with_state(tokens.user_tokens(user=request.user))},
        status=400 if form.errors else 200,
    )
    add_never_cache_headers(response)
    return response


@require_POST
@login_required
def token_revoke(request, pk):
    token = get_object_or_404(tokens.user_tokens(user=request.user), pk=pk)
    tokens.token_revoke(token=token)
    if request.htmx:
        return render(request, "portal/tokens.html#token-row", {"token": _with_state([token])[0]})
    messages.success(request, f"{token.name} revoked: scripts using it now get 401.")
    return redirect("profile-tokens")


def _with_state(token_list):
    now = timezone.now()
    token_list = list(token_list)
    for token in token_list:
        token.current_state = token.state(now)
    return token_list
