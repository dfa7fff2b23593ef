from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from portal.access import can_change, member_required
from portal.models import Role
from portal.toasts import toast_response

from . import lifecycle, package_index, selectors, services
from .backends import BACKENDS, addable_backends, backends_by_mode, kind_label
from .backends.slurm_forms import ClusterResizeForm
from .forms import NodeSizeForm, PackageIndexForm, SecretReplaceForm
from .models import NodeSize, Origin, TargetState


@member_required()
def target_list(request):
    kind, state = request.GET.get("kind", ""), request.GET.get("state", "")
    targets = selectors.target_list(workspace=request.workspace, kind=kind, state=state)
    return render(
        request,
        "compute/target_list.html",
        {
            "targets": targets,
            "kinds": [(k, kind_label(k)) for k in BACKENDS],
            "states": TargetState.choices,
            "kind": kind,
            "state": state,
            "filtered": bool(kind or state),
        },
    )


@sensitive_post_parameters()  # every kind's credentials: passwords, keys, TLS keys
@can_change()
def target_add(request):
    backends = addable_backends()
    kind = request.POST.get("kind") or request.GET.get("kind") or ""
    backend = next((b for b in backends if b.kind == kind), None)
    form = None
    # A kind offered in both columns (a cluster) shows the chosen column's fields.
    mode = request.POST.get("mode") or request.GET.get("mode") or ""
    if backend:
        mode = mode if mode in backend.modes else backend.modes[0]
        form_class = backend.config_form()
        form = form_class(request.POST or None, workspace=request.workspace, initial={"mode": mode})
        if request.method == "POST" and form.is_valid():
            try:
                target = services.target_add(
                    workspace=request.workspace, user=request.user, kind=kind, **form.to_target()
                )
            except services.TargetActionError as exc:
                form.add_error(None, str(exc))
            else:
                verb = "Creating" if target.origin == Origin.CREATED else "Attaching"
                messages.success(request, f"{verb} {target.name}: follow the steps below.")
                url = reverse("target-detail", args=[target.name])
                return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    context = {
        "columns": backends_by_mode(),
        "backend": backend,
        "form": form,
        "kind": kind,
        "chosen_mode": mode,
    }
    template = "compute/target_add.html"
    if request.htmx and not request.htmx.boosted:
        template += "#kind-form"
    status = 400 if form is not None and form.errors else 200
    return render(request, template, context, status=status)


@member_required()
def target_detail(request, name):
    target = selectors.target_get(workspace=request.workspace, name=name)
    backend = target.backend
    return render(
        request,
        "compute/target_detail.html",
        {
            "target": target,
            "events": selectors.target_events(target=target),
            "secret_fields": [
                (field, label, target.has_secret(field), field in backend.multiline_secrets)
                for field, label in backend.shown_secret_fields().items()
            ],
        },
    )


@require_POST
@member_required(Role.CONTRIBUTOR)
def target_recheck(request, name):
    target = selectors.target_get(workspace=request.workspace, name=name)
    return _act(request, services.target_request_check, target=target, user=request.user)


@require_POST
@member_required(Role.CONTRIBUTOR)
def target_host_key(request, name):
    target = selectors.target_get(workspace=request.workspace, name=name)
    if not request.membership.allows(services.host_key_role(target)):
        raise PermissionDenied("Only an owner can re-pin a changed host key.")
    if request.POST.get("action") == "reject":
        return _act(request, services.target_reject_host_key, target=target, user=request.user)
    return _act(
        request,
        services.target_confirm_host_key,
        target=target,
        user=request.user,
        fingerprint=request.POST.get("fingerprint", ""),
    )


@sensitive_post_parameters("value")
@require_POST
@member_required(Role.CONTRIBUTOR)
def target_secret(request, name, field):
    target = selectors.target_get(workspace=request.workspace, name=name)
    if field not in target.backend.secret_fields:
        raise Http404("No such credential.")
    if request.POST.get("action") == "clear":
        return _act(request, services.target_clear_secret, target=target, user=request.user, field=field)
    form = SecretReplaceForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Type the new value to replace it.")
        return redirect("target-detail", target.name)
    return _act(
        request,
        services.target_set_secret,
        target=target,
        user=request.user,
        field=field,
        value=form.cleaned_data["value"],
    )


@require_POST
@member_required(Role.CONTRIBUTOR)
def target_stop(request, name):
    target = selectors.target_get(workspace=request.workspace, name=name)
    return _act(request, lifecycle.target_request_stop, target=target, user=request.user)


@require_POST
@member_required(Role.CONTRIBUTOR)
def target_start(request, name):
    target = selectors.target_get(workspace=request.workspace, name=name)
    return _act(request, lifecycle.target_request_start, target=target, user=request.user)


@can_change()
def target_delete(request, name):
    """Delete a created target and what it made, after a confirmation page."""
    target = selectors.target_get(workspace=request.workspace, name=name)
    if request.method == "POST":
        return _act(request, lifecycle.target_request_delete, target=target, user=request.user)
    return render(request, "compute/target_delete.html", {"target": target})


@require_POST
@member_required(Role.CONTRIBUTOR)
def target_resize(request, name):
    """A created cluster's new node limits; the form comes back with its errors."""
    target = selectors.target_get(workspace=request.workspace, name=name)
    form = ClusterResizeForm(request.POST)
    if not form.is_valid():
        if request.htmx:
            context = {"target": target, "resize_form": form}
            return render(request, "compute/backends/_slurm_status.html#resize", context, status=400)
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect("target-detail", target.name)
    return _act(request, services.cluster_resize, target=target, user=request.user, **form.cleaned_data)


@can_change()
def target_detach(request, name):
    target = selectors.target_get(workspace=request.workspace, name=name)
    if request.method == "POST":
        try:
            services.target_detach(target=target, user=request.user)
        except services.TargetActionError as exc:
            messages.error(request, str(exc))
            return redirect("target-detail", target.name)
        messages.success(request, f"{name} detached. Nothing on the machine itself was changed.")
        return redirect("target-list")
    return render(request, "compute/target_detach.html", {"target": target})


@sensitive_variables("kwargs")  # may carry a new secret's value
def _act(request, service, **kwargs):
    """Run a service on kwargs["target"], turn a refusal into a message.

    From htmx, success answers 204: the page updates itself from the live
    pushes, without a reload. A refusal comes back as a toast."""
    try:
        service(**kwargs)
    except services.TargetActionError as exc:
        if request.htmx:
            return toast_response(request, str(exc))
        messages.error(request, str(exc))
    else:
        if request.htmx:
            return HttpResponse(status=204)
    return redirect("target-detail", kwargs["target"].name)


@sensitive_post_parameters("ca_bundle")
@can_change(Role.OWNER)
def workspace_package_index(request):
    """The workspace's package index settings (owners change them)."""
    return _package_index_page(request, owner=request.workspace, back=reverse("members"))


@sensitive_post_parameters("ca_bundle")
@can_change(Role.OWNER)
def target_package_index(request, name):
    """A target's overrides of the workspace's package index settings."""
    target = selectors.target_get(workspace=request.workspace, name=name)
    return _package_index_page(
        request, owner=target, back=reverse("target-detail", args=[target.name]), target=target
    )


def _package_index_page(request, *, owner, back, target=None):
    stored = package_index.stored(owner)
    initial = {
        "index_url": stored.get("index_url", ""),
        "extra_index_urls": "\n".join(stored.get("extra_index_urls", [])),
    }
    form = PackageIndexForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            package_index.package_index_set(owner=owner, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, "Package index settings saved.")
            return redirect(request.path)
    return render(
        request,
        "compute/package_index.html",
        {
            "form": form,
            "target": target,
            "back": back,
            "ca_set": package_index.has_ca_bundle(owner),
            "workspace_settings": package_index.stored(request.workspace),
        },
        status=400 if form.errors else 200,
    )


# ---- node sizes (workspace settings) -------------------------------------------------------------


@can_change(Role.OWNER)
def node_sizes(request, pk=None):
    """The sizes clusters are made in: the installation's (read-only here) and the
    workspace's own, which owners add, change (``pk``) and delete."""
    editing = None
    if pk is not None:
        editing = NodeSize.objects.filter(pk=pk, workspace=request.workspace).first()
        if editing is None:
            raise Http404("No such size of this workspace.")
    form = NodeSizeForm(request.POST or None, instance=editing, workspace=request.workspace)
    if request.method == "POST" and form.is_valid():
        try:
            services.node_size_save(
                workspace=request.workspace, user=request.user, size=editing, **form.cleaned_data
            )
        except services.TargetActionError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Node size {form.cleaned_data['name']} saved.")
            return redirect("node-sizes")
    return render(
        request,
        "compute/node_sizes.html",
        {"sizes": selectors.node_size_list(workspace=request.workspace), "form": form, "editing": editing},
        status=400 if form.errors else 200,
    )


@require_POST
@member_required(Role.OWNER)
def node_size_delete(request, pk):
    size = NodeSize.objects.filter(pk=pk, workspace=request.workspace).first()
    if size is None:
        raise Http404("No such size of this workspace.")
    try:
        services.node_size_delete(size=size, user=request.user)
    except services.TargetActionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Node size {size.name} deleted.")
    return redirect("node-sizes")
