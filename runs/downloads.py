"""A run's output files as downloads, for the pages and the API alike."""

import mimetypes
from pathlib import Path

from django.http import Http404, StreamingHttpResponse

from portal.streaming import streamed_file, streamed_response

from . import monitor
from .outputs_zip import stream_zip


def output_file(run, path: str) -> Path | None:
    """The output's file on disk, when it is one inside the run's outputs folder."""
    root = (monitor.outputs_dir(run) / "outputs").resolve()
    full = (root / path).resolve()
    if not str(full).startswith(str(root) + "/") or not full.is_file():
        return None
    return full


def output_response(run, path: str) -> StreamingHttpResponse:
    """One recorded output, streamed; 404 for anything else."""
    full = output_file(run, path) if run.outputs.filter(path=path).exists() else None
    if full is None:
        raise Http404("No such output.")
    content_type = mimetypes.guess_type(full.name)[0] or "application/octet-stream"
    return streamed_file(full, content_type=content_type)


def outputs_zip_response(run) -> StreamingHttpResponse:
    """Streamed as it is zipped: a run's outputs may be gigabytes."""
    paths = list(run.outputs.order_by("path").values_list("path", flat=True))
    if not paths:
        raise Http404("This run has no outputs.")
    files = ((output_file(run, path), f"outputs/{path}") for path in paths)
    return streamed_response(
        stream_zip((full, name) for full, name in files if full is not None),
        content_type="application/zip",
        filename=f"run-{run.pk}-outputs.zip",
    )
