import csv
import io
import json

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from compute.backends.local import local_target
from compute.models import ComputeTarget
from portal.access import can_change, member_required
from portal.models import Role
from portal.streaming import streamed_response

from . import downloads, quotas, selectors, services, system_samples
from .environment_files import detect_environment
from .forms import RunSubmitForm, SweepForm
from .models import TERMINAL, Experiment, RunLogChunk, Snapshot, Sweep
from .sweeps import orchestrator
from .sweeps import selectors as sweep_selectors
from .sweeps import services as sweep_services

LOG_PAGE_MAX = 5000  # chunks per JSON log page


# ---- experiments -------------------------------------------------------------------------


@member_required()
def experiment_list(request):
    experiments = selectors.experiment_list(workspace=request.workspace)
    local = local_target(workspace=request.workspace)
    context = {
        "experiments": experiments,
        # "Try the example" asks where: the local computer is chosen where the workspace has it.
        "example_targets": selectors.runnable_targets(workspace=request.workspace).order_by("name"),
        "example_default": local.pk if local else None,
    }
    return render(request, "runs/experiment_list.html", context)


@member_required()
def experiment_detail(request, name):
    experiment = selectors.experiment_get(workspace=request.workspace, name=name)
    tag_filter = request.GET.get("tag", "").strip()
    tag = selectors.parse_tag_filter(tag_filter) if tag_filter else None
    runs = list(selectors.run_list(workspace=request.workspace, experiment=experiment, tag=tag)[:200])
    latest = {run.pk: selectors.latest_metrics(run=run) for run in runs}
    tags = selectors.run_tags(runs=runs)
    for run in runs:
        run.latest_metrics = latest[run.pk]
        run.tag_list = tags.get(run.pk, [])
    points = selectors.metric_points(runs=runs)
    series: dict = {}
    for run_id, metric, step, value in points:
        series.setdefault(metric, {}).setdefault(str(run_id), []).append([step, value])
    return render(
        request,
        "runs/experiment_detail.html",
        {
            "experiment": experiment,
            "runs": runs,
            "series": series,
            "metric_names": sorted(series),
            "tag_filter": tag_filter,
        },
    )


# ---- submit --------------------------------------------------------------------------------------


def _uploaded_folder(request):
    """(relative path, file) pairs of a browser folder upload; paths come in a
    separate field because browsers' multipart filenames drop the folders."""
    files = request.FILES.getlist("files")
    if not files:
        return None
    # A textarea's line breaks arrive as CRLF: split on any of them.
    paths = [p for p in request.POST.get("paths", "").splitlines() if p.strip()]
    if len(paths) != len(files):
        paths = [f.name for f in files]
    return list(zip(paths, files, strict=True))


def _snapshot_from_request(request) -> Snapshot | None:
    folder = _uploaded_folder(request)
    archive = request.FILES.get("archive")
    if folder:
        return services.snapshot_create(workspace=request.workspace, files=folder)
    if archive:
        return services.snapshot_create(workspace=request.workspace, upload=archive)
    return None


@require_POST
@member_required(Role.CONTRIBUTOR)
def snapshot_preview(request):
    context = {}
    try:
        snapshot = _snapshot_from_request(request)
        if snapshot is None:
            raise services.RunError("Choose a folder or an archive first.")
        context["snapshot"] = snapshot
        context["largest"] = snapshot.files[:10]
        context["environment_file"] = detect_environment(snapshot)
    except services.RunError as exc:
        context["error"] = str(exc)
    context["limits"] = _limits()
    status = 400 if "error" in context else 200
    return render(request, "runs/run_submit.html#preview", context, status=status)


@can_change()
def run_submit(request):
    initial = {"experiment": request.GET["experiment"]} if request.GET.get("experiment") else {}
    form = RunSubmitForm(request.POST or None, workspace=request.workspace, initial=initial)
    is_sweep = request.method == "POST" and request.POST.get("sweep") == "on"
    sweep_form = SweepForm(request.POST if is_sweep else None, workspace=request.workspace)
    error = ""
    if request.method == "POST" and form.is_valid() and (not is_sweep or sweep_form.is_valid()):
        data = form.cleaned_data
        try:
            snapshot = selectors.snapshot_get(workspace=request.workspace, pk=data.get("snapshot"))
            request_fields = {
                "workspace": request.workspace,
                "user": request.user,
                "experiment_name": data["experiment"],
                "target": data["target"],
                "snapshot": snapshot or _snapshot_from_request(request),
                "script": data["script"],
                "arguments": data["arguments"],
                "environment": {
                    "kind": data["environment"],
                    "interpreter": data["interpreter"],
                    "requirements": data["requirements"],
                    "docker": data["use_docker"],
                    "base_image": data["base_image"],
                },
            }
            placement = {key: data[key] for key in ("node_count", "processes_per_node", "partition")}
            if is_sweep and (data["node_count"] > 1 or data["processes_per_node"] > 1):
                raise services.RunError("A sweep runs each trial on one node, as one process.")
            if is_sweep:
                sweep = sweep_form.cleaned_data
                run = sweep_services.sweep_submit(
                    **request_fields,
                    space=sweep["space"],
                    sampling=sweep["sampling"],
                    seed=sweep["seed"],
                    primary_metric=sweep["primary_metric"],
                    goal=sweep["goal"],
                    max_total_runs=sweep["max_total_runs"],
                    max_concurrent_runs=sweep["max_concurrent_runs"],
                    max_duration_minutes=sweep["max_duration_minutes"],
                    policy=sweep["policy"],
                    policy_options=sweep["policy_options"],
                    warm_start_from=sweep["warm_start_from"],
                )
            else:
                run = services.run_submit(**request_fields, **placement)
        except sweep_services.SweepError as exc:
            error = f"Sweep: {exc}"
            if exc.field in sweep_form.fields:
                sweep_form.add_error(exc.field, str(exc))
        except services.RunError as exc:
            error = str(exc)
        else:
            url = reverse("run-detail", args=[run.pk])
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    context = {
        "form": form,
        "sweep_form": sweep_form,
        "is_sweep": is_sweep,
        "error": error,
        "limits": _limits(),
        "experiments": Experiment.objects.filter(workspace=request.workspace).values_list("name", flat=True),
        "quota_warnings": quotas.warnings(request.workspace),
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "runs/run_submit.html", context, status=status)


@require_POST
@member_required(Role.CONTRIBUTOR)
def run_example(request):
    """ "Try the example": the scikit-learn folder on the local target."""
    try:
        target = _target_named(request, request.POST.get("target", ""))
        run = services.run_example(workspace=request.workspace, user=request.user, target=target)
    except services.RunError as exc:
        messages.error(request, str(exc))
        return redirect("experiment-list")
    return redirect("run-detail", run.pk)


def _target_named(request, name: str):
    """The workspace's target called ``name``; None for no name, RunError for an unknown one."""
    name = name.strip()
    if not name:
        return None
    target = ComputeTarget.objects.filter(workspace=request.workspace, name=name).first()
    if target is None:
        raise services.RunError(f"This workspace has no compute target “{name}”.")
    return target


def _limits():
    return {"mb": settings.SNAPSHOT_MAX_BYTES // (1024 * 1024), "files": settings.SNAPSHOT_MAX_FILES}


# ---- one run -----------------------------------------------------------------------------------------


@member_required()
def run_detail(request, pk):
    run = selectors.run_get(workspace=request.workspace, pk=pk)
    if request.htmx and request.GET.get("part") == "status":
        return render(request, "runs/run_detail.html#status", {"run": run})
    if Sweep.objects.filter(pk=run.pk).exists():
        return sweep_detail(request, run.pk)
    return render(
        request,
        "runs/run_detail.html",
        {
            "run": run,
            "outputs": run.outputs.all(),
            "metric_names": sorted(selectors.latest_metrics(run=run)),
            "data": selectors.RunData(run),
            "rerun_targets": selectors.runnable_targets(workspace=request.workspace).order_by("name"),
            "terminal_statuses": TERMINAL,
            "chart_prefix": f"run-{run.pk}",
            "monitoring": system_samples.summary(run),
        },
    )


@require_POST
@member_required(Role.CONTRIBUTOR)
def run_cancel(request, pk):
    run = selectors.run_get(workspace=request.workspace, pk=pk)
    try:
        services.run_cancel(run=run, user=request.user)
    except services.RunError as exc:
        messages.error(request, str(exc))
    url = reverse("run-detail", args=[run.pk])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@require_POST
@member_required(Role.CONTRIBUTOR)
def run_rerun(request, pk):
    """ "Re-run" (no target given) and "Run on another target…" (a target's name)."""
    run = selectors.run_get(workspace=request.workspace, pk=pk)
    try:
        target = _target_named(request, request.POST.get("target", ""))
        new_run = services.run_rerun(run=run, user=request.user, target=target)
    except services.RunError as exc:
        messages.error(request, str(exc))
        url = reverse("run-detail", args=[run.pk])
    else:
        url = reverse("run-detail", args=[new_run.pk])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@member_required()
def run_log(request, pk):
    """The full log as text; with ?after=N&format=json, the first chunks after
    seq N (at most ?limit=, at most LOG_PAGE_MAX) and whether more follow."""
    run = selectors.run_get(workspace=request.workspace, pk=pk)
    if request.GET.get("format") == "json":
        try:
            after = int(request.GET.get("after", -1))
        except ValueError:
            after = -1
        try:
            limit = min(max(int(request.GET.get("limit", LOG_PAGE_MAX)), 1), LOG_PAGE_MAX)
        except ValueError:
            limit = LOG_PAGE_MAX
        page = selectors.log_page(run=run, after=after, limit=limit)
        return HttpResponse(json.dumps(page), content_type="application/json")
    streams = request.GET.getlist("stream") or ["stdout", "stderr", "system"]

    def lines():
        chunks = RunLogChunk.objects.filter(run=run, stream__in=streams).order_by("seq")
        yield from chunks.values_list("text", flat=True).iterator(chunk_size=500)

    return streamed_response(lines(), content_type="text/plain; charset=utf-8", filename=f"run-{run.pk}.log")


@member_required()
def run_output(request, pk, path):
    run = selectors.run_get(workspace=request.workspace, pk=pk)
    return downloads.output_response(run, path)


@member_required()
def run_outputs_zip(request, pk):
    run = selectors.run_get(workspace=request.workspace, pk=pk)
    return downloads.outputs_zip_response(run)


# ---- sweeps -------------------------------------------------------------------------------------


def _sweep_get(request, pk) -> Sweep:
    run = selectors.run_get(workspace=request.workspace, pk=pk)
    return get_object_or_404(Sweep.objects.select_related("run", "run__experiment", "run__target"), pk=run.pk)


@member_required()
def sweep_detail(request, pk):
    sweep = _sweep_get(request, pk)
    summary = sweep_selectors.sweep_summary(sweep)
    if request.htmx and request.GET.get("part") == "live":
        return render(request, "runs/sweep_detail.html#live", {"sweep": sweep, "summary": summary})
    return render(request, "runs/sweep_detail.html", {"sweep": sweep, "run": sweep.run, "summary": summary})


@require_POST
@member_required(Role.CONTRIBUTOR)
def sweep_cancel(request, pk):
    sweep = _sweep_get(request, pk)
    try:
        orchestrator.sweep_cancel(sweep_id=sweep.pk, user=request.user)
    except services.RunError as exc:
        messages.error(request, str(exc))
    url = reverse("sweep-detail", args=[sweep.pk])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@member_required()
def sweep_csv(request, pk):
    """The children table as CSV: id, status, each parameter, the primary metric."""
    sweep = _sweep_get(request, pk)
    summary = sweep_selectors.sweep_summary(sweep)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["run", "status", *summary["param_names"], sweep.primary_metric])
    for row in summary["children"]:
        params = [row["params"].get(name, "") for name in summary["param_names"]]
        writer.writerow([row["id"], row["status"], *params, "" if row["value"] is None else row["value"]])
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="sweep-{sweep.pk}.csv"'
    return response
