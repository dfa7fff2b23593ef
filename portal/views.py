from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.utils.cache import add_never_cache_headers
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_POST

from compute.models import ComputeTarget, TargetEvent, TargetState

from . import selectors, services
from .access import member_required
from .forms import MemberAddForm, MemberRoleForm, UserCreateForm
from .middleware import SESSION_KEY
from .models import Membership, Role


@member_required()
def dashboard(request):
    targets = ComputeTarget.objects.filter(workspace=request.workspace)
    counts = targets.aggregate(
        total=Count("pk"),
        ready=Count("pk", filter=Q(state=TargetState.SUCCEEDED)),
        problems=Count("pk", filter=Q(state__in=[TargetState.FAILED, TargetState.UNREACHABLE])),
    )
    gpus = sum(len(t.gpus) for t in targets.filter(state=TargetState.SUCCEEDED))
    events = TargetEvent.objects.filter(target__workspace=request.workspace).select_related(
        "target", "actor"
    )[:10]
    return render(request, "portal/dashboard.html", {"counts": counts, "gpus": gpus, "events": events})


@require_POST
@member_required()
def workspace_switch(request, slug):
    membership = selectors.user_memberships(user=request.user).filter(workspace__slug=slug).first()
    if membership is None:
        raise Http404("No such workspace.")
    request.session[SESSION_KEY] = membership.workspace_id
    messages.success(request, f"Switched to {membership.workspace}.")
    return redirect("dashboard")


@member_required()
@sensitive_variables("created")
def members(request):
    """Owners add existing users by username or e-mail; superusers also make
    accounts here. A new account's one-time password is in this one response
    and nowhere else: not in the database (only its hash), the session or a message."""
    posted = None
    if request.method == "POST":
        posted = "create" if request.POST.get("action") == "create" else "add"
    add_form = MemberAddForm(request.POST if posted == "add" else None)
    create_form = UserCreateForm(request.POST if posted == "create" else None)
    created = None
    if posted == "add":
        if not request.membership.allows(Role.OWNER):
            raise PermissionDenied("Only owners add members.")
        if add_form.is_valid():
            try:
                membership = services.member_add(workspace=request.workspace, **add_form.cleaned_data)
            except services.NoSuchUser as exc:
                add_form.add_error("username_or_email", str(exc))
                if request.user.is_superuser:  # offer to make the account instead
                    create_form = UserCreateForm(initial=_create_initial(exc, add_form.cleaned_data))
            except services.MembershipError as exc:
                add_form.add_error("username_or_email", str(exc))
            else:
                messages.success(request, f"{membership.user.get_username()} added.")
                return redirect("members")
    elif posted == "create":
        if not request.user.is_superuser:
            raise PermissionDenied("Only a superuser creates accounts.")
        if create_form.is_valid():
            try:
                created = services.user_create(
                    workspace=request.workspace, created_by=request.user, **create_form.cleaned_data
                )
            except services.MembershipError as exc:
                create_form.add_error(None, str(exc))
            else:
                create_form = UserCreateForm()
    response = render(
        request,
        "portal/members.html",
        {
            "members": selectors.workspace_members(workspace=request.workspace),
            "add_form": add_form,
            "create_form": create_form,
            "created": created,
            "roles": Role.choices,
        },
        status=400 if add_form.errors or create_form.errors else 200,
    )
    add_never_cache_headers(response)
    return response


def _create_initial(exc, cleaned_data):
    if exc.email:
        return {"email": exc.email, "username": exc.email.split("@")[0], "role": cleaned_data["role"]}
    return {"username": cleaned_data["username_or_email"], "role": cleaned_data["role"]}


class PasswordChange(auth_views.PasswordChangeView):
    """Django's own flow, with Django's password validators; changing the
    password also ends a one-time password's hold on the account."""

    success_url = reverse_lazy("dashboard")

    def form_valid(self, form):
        response = super().form_valid(form)
        services.password_changed(user=form.user)
        messages.success(self.request, "Password changed.")
        return response

    def get_context_data(self, **kwargs):
        return {
            **super().get_context_data(**kwargs),
            "required": services.password_change_required(user=self.request.user),
        }


@require_POST
@member_required(Role.OWNER)
def member_change(request, pk):
    membership = get_object_or_404(Membership, pk=pk, workspace=request.workspace)
    try:
        if request.POST.get("action") == "remove":
            services.member_remove(membership=membership)
            messages.success(request, f"{membership.user} removed.")
        else:
            form = MemberRoleForm(request.POST)
            if not form.is_valid():
                messages.error(request, "Pick one of the roles.")
                return redirect("members")
            services.member_set_role(membership=membership, role=form.cleaned_data["role"])
            messages.success(request, f"{membership.user} is now {membership.get_role_display().lower()}.")
    except services.MembershipError as exc:
        messages.error(request, str(exc))
    return redirect("members")
