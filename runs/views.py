import io
import json
import mimetypes
import zipfile
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from compute.models import ComputeTarget, TargetState
from portal.access import can_change, member_required
from portal.models import Role

from . import monitor, selectors, services
from .forms import RunSubmitForm
from .models import Experiment, RunLogChunk, Snapshot

EXAMPLE_DIR = Path(settings.BASE_DIR) / "examples" / "sklearn"


# ---- experiments -------------------------------------------------------------------------


@member_required()
def experiment_list(request):
    experiments = selectors.experiment_list(workspace=request.workspace)
    return render(request, "runs/experiment_list.html", {"experiments": experiments})


@member_required()
def experiment_detail(request, name):
    experiment = selectors.experiment_get(workspace=request.workspace, name=name)
    runs = list(selectors.run_list(workspace=request.workspace, experiment=experiment)[:200])
    latest = {run.pk: selectors.latest_metrics(run=run) for run in runs}
    for run in runs:
        run.latest_metrics = latest[run.pk]
    points = selectors.metric_points(runs=runs)
    series: dict = {}
    for run_id, metric, step, value in points:
        series.setdefault(metric, {}).setdefault(str(run_id), []).append([step, value])
    return render(
        request,
        "runs/experiment_detail.html",
        {"experiment": experiment, "runs": runs, "series": series, "metric_names": sorted(series)},
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
    except services.RunError as exc:
        context["error"] = str(exc)
    context["limits"] = _limits()
    status = 400 if "error" in context else 200
    return render(request, "runs/run_submit.html#preview", context, status=status)


@can_change()
def run_submit(request):
    initial = {"experiment": request.GET["experiment"]} if request.GET.get("experiment") else {}
    form = RunSubmitForm(request.POST or None, workspace=request.workspace, initial=initial)
    error = ""
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            snapshot = None
            if data.get("snapshot"):
                snapshot = Snapshot.objects.filter(workspace=request.workspace, pk=data["snapshot"]).first()
            snapshot = snapshot or _snapshot_from_request(request)
            if snapshot is None:
                raise services.RunError("Choose a folder or an archive with your script.")
            environment = services.environment_spec(
                kind=data["environment"],
                interpreter=data["interpreter"],
                requirements=data["requirements"],
                docker=data["use_docker"],
                base_image=data["base_image"],
            )
            run = services.run_submit(
                workspace=request.workspace,
                user=request.user,
                experiment_name=data["experiment"],
                snapshot=snapshot,
                script=data["script"],
                arguments=services.parse_arguments(data["arguments"]),
                target=data["target"],
                environment=environment,
            )
        except services.RunError as exc:
            error = str(exc)
        else:
            url = reverse("run-detail", args=[run.pk])
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    context = {
        "form": form,
        "error": error,
        "limits": _limits(),
        "experiments": Experiment.objects.filter(workspace=request.workspace).values_list("name", flat=True),
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "runs/run_submit.html", context, status=status)


@require_POST
@member_required(Role.CONTRIBUTOR)
def run_example(request):
    """ "Try the example": the scikit-learn folder on the local target."""
    target = ComputeTarget.objects.filter(workspace=request.workspace, kind="local").first()
    try:
        if target is None:
            raise services.RunError(
                "The example runs on the local computer, which this workspace has not been granted: "
                "a superuser grants it (admin, or manage.py grant_local_target)."
            )
        if target.state not in (TargetState.SUCCEEDED, TargetState.UNREACHABLE):
            raise services.RunError("The local computer is not ready yet: check it on the Compute page.")
        handles = []
        try:
            files = []
            for path in sorted(
                p for p in EXAMPLE_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts
            ):
                handle = open(path, "rb")  # noqa: SIM115 - closed below
                handles.append(handle)
                files.append((path.relative_to(EXAMPLE_DIR).as_posix(), handle))
            snapshot = services.snapshot_create(workspace=request.workspace, files=files)
        finally:
            for handle in handles:
                handle.close()
        run = services.run_submit(
            workspace=request.workspace,
            user=request.user,
            experiment_name="example-iris",
            snapshot=snapshot,
            script="train.py",
            arguments=["--epochs", "20"],
            target=target,
            environment=services.environment_spec(
                kind="pip", requirements=(EXAMPLE_DIR / "requirements.txt").read_text()
            ),
        )
    except services.RunError as exc:
        messages.error(request, str(exc))
        return redirect("experiment-list")
    return redirect("run-detail", run.pk)


def _limits():
    return {"mb": settings.SNAPSHOT_MAX_BYTES // (1024 * 1024), "files": settings.SNAPSHOT_MAX_FILES}


# ---- one run -----------------------------------------------------------------------------------------


@member_required()
def run_detail(request, pk):
    run = selectors.run_get(workspace=request.workspace, pk=pk)
    if request.htmx and request.GET.get("part") == "status":
        return render(request, "runs/run_detail.html#status", {"run": run})
    return render(
        request,
        "runs/run_detail.html",
        {"run": run, "outputs": run.outputs.all(), "metric_names": sorted(selectors.latest_metrics(run=run))},
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


@member_required()
def run_log(request, pk):
    """The full log as text; with ?after=N&format=json, the chunks after seq N."""
    run = selectors.run_get(workspace=request.workspace, pk=pk)
    if request.GET.get("format") == "json":
        try:
            after = int(request.GET.get("after", -1))
        except ValueError:
            after = -1
        chunks = selectors.log_chunks_after(run=run, after=after)[:5000]
        payload = [{"seq": c.seq, "stream": c.stream, "text": c.text} for c in chunks]
        return HttpResponse(json.dumps({"chunks": payload}), content_type="application/json")
    streams = request.GET.getlist("stream") or ["stdout", "stderr", "system"]

    def lines():
        chunks = RunLogChunk.objects.filter(run=run, stream__in=streams).order_by("seq")
        yield from chunks.values_list("text", flat=True).iterator(chunk_size=500)

    response = StreamingHttpResponse(lines(), content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="run-{run.pk}.log"'
    return response


def _output_path(run, path: str) -> Path:
    if not run.outputs.filter(path=path).exists():
        raise Http404("No such output.")
    root = (monitor.outputs_dir(run) / "outputs").resolve()
    full = (root / path).resolve()
    if not str(full).startswith(str(root) + "/") or not full.is_file():
        raise Http404("No such output.")
    return full


@member_required()
def run_output(request, pk, path):
    run = selectors.run_get(workspace=request.workspace, pk=pk)
    full = _output_path(run, path)
    content_type = mimetypes.guess_type(full.name)[0] or "application/octet-stream"
    return FileResponse(open(full, "rb"), as_attachment=True, filename=full.name, content_type=content_type)  # noqa: SIM115


@member_required()
def run_outputs_zip(request, pk):
    run = selectors.run_get(workspace=request.workspace, pk=pk)
    outputs = list(run.outputs.all())
    if not outputs:
        raise Http404("This run has no outputs.")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for output in outputs:
            archive.write(_output_path(run, output.path), f"outputs/{output.path}")
    buffer.seek(0)
    return FileResponse(buffer, as_attachment=True, filename=f"run-{run.pk}-outputs.zip")
