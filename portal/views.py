from django.contrib import messages
from django.db.models import Count, Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from compute.models import ComputeTarget, TargetEvent, TargetState

from . import selectors, services
from .access import member_required
from .forms import MemberAddForm, MemberRoleForm
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
def members(request):
    add_form = MemberAddForm(request.POST or None)
    if request.method == "POST":
        if not request.membership.allows(Role.OWNER):
            return render(request, "403.html", status=403)
        if add_form.is_valid():
            try:
                services.member_add(workspace=request.workspace, **add_form.cleaned_data)
            except services.MembershipError as exc:
                add_form.add_error("username", str(exc))
            else:
                messages.success(request, f"{add_form.cleaned_data['username']} added.")
                return redirect("members")
    return render(
        request,
        "portal/members.html",
        {
            "members": selectors.workspace_members(workspace=request.workspace),
            "add_form": add_form,
            "roles": Role.choices,
        },
        status=400 if add_form.errors else 200,
    )


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
