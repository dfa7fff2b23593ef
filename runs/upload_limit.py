"""Upload bodies over their limit are refused before they are read: snapshot
uploads (the submit page and the API's PUT) and MLflow artifacts (the run's
outputs limit).

Django's multipart parser spools uploads to disk, and under ASGI Django reads
the whole request body into a spooled temp file before any middleware runs.
So the limit is checked twice, with one rule: an ASGI wrapper (uvicorn,
daphne) that answers 413 from the Content-Length header, or stops a chunked
body as soon as it passes the limit; and a Django middleware (WSGI, the test
client) that answers 413 from CONTENT_LENGTH before the body is touched.
"""

import json
import re
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpResponse
from django.template.defaultfilters import filesizeformat
from django.template.loader import render_to_string
from django.urls import reverse

FORM_MARGIN = 1024 * 1024  # the form's other fields
PER_FILE_MARGIN = 512  # multipart headers and the path of each file of a folder upload


def limit_bytes() -> int:
    """The snapshot uploads' limit (the page's forms and the API's PUT)."""
    return settings.SNAPSHOT_MAX_BYTES + FORM_MARGIN + settings.SNAPSHOT_MAX_FILES * PER_FILE_MARGIN


API_SNAPSHOT = re.compile(r"^/api/v1/workspaces/[-\w]+/snapshots/[0-9a-f]{64}/$")
MLFLOW_ARTIFACT = re.compile(r"^/mlflow/api/2\.0/mlflow-artifacts/artifacts/")


@dataclass(frozen=True)
class Guard:
    """A body limit for one kind of request, and how its refusal is worded."""

    kind: str  # "page", "api" or "mlflow"

    @property
    def limit(self) -> int:
        if self.kind == "mlflow":
            return settings.PORTAL_OUTPUTS_MAX_MB * 1024 * 1024
        return limit_bytes()

    def refusal(self, length: int | None, *, htmx: bool = False) -> tuple[bytes, str]:
        """The 413 body and its content type: the preview's error partial for
        htmx, JSON for the API (MLflow's error shape for its calls), else text."""
        size = f"is {filesizeformat(length)}, " if length is not None else "goes "
        if self.kind == "mlflow":
            message = f"The artifact {size}over the run's {settings.PORTAL_OUTPUTS_MAX_MB} MB outputs limit."
            return json.dumps(
                {"error_code": "RESOURCE_EXHAUSTED", "message": message}
            ).encode(), "application/json"
        message = refusal_message(length)
        if self.kind == "api":
            return json.dumps({"detail": message}).encode(), "application/json"
        if htmx:
            return render_to_string(
                "runs/run_submit.html#preview", {"error": message}
            ).encode(), "text/html; charset=utf-8"
        return message.encode(), "text/plain; charset=utf-8"


def guard_for(method: str, path: str) -> Guard | None:
    """The limit a request's body is held to before anything reads it; None for the rest."""
    if method == "PUT":
        if API_SNAPSHOT.match(path):
            return Guard("api")
        if MLFLOW_ARTIFACT.match(path):
            return Guard("mlflow")
        return None
    if method == "POST" and path in (reverse("snapshot-preview"), reverse("run-submit")):
        return Guard("page")
    return None


def refusal_message(length: int | None) -> str:
    size = f"is {filesizeformat(length)}, " if length is not None else "goes "
    return (
        f"The upload {size}over the {filesizeformat(settings.SNAPSHOT_MAX_BYTES)} snapshot limit. Exclude "
        "data and outputs with a .amlignore file, or upload the code without them."
    )


def _declared_length(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class UploadLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        guard = guard_for(request.method, request.path_info)
        if guard is not None:
            length = _declared_length(request.META.get("CONTENT_LENGTH"))
            if length is not None and length > guard.limit:
                body, content_type = guard.refusal(length, htmx=request.headers.get("HX-Request") == "true")
                response = HttpResponse(body, status=413, content_type=content_type)
                response["Connection"] = "close"
                return response
        return self.get_response(request)


class UploadLimitASGI:
    """Wraps the Django ASGI app; other requests pass through untouched."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        guard = guard_for(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if guard is None:
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        htmx = headers.get(b"hx-request") == b"true"
        limit = guard.limit
        length = _declared_length(headers.get(b"content-length"))
        if length is not None:
            if length > limit:
                return await self._refuse(send, guard.refusal(length, htmx=htmx))
            return await self.app(scope, receive, send)

        received = 0
        refused = False

        async def counting_receive():
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request" and not refused:
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    await self._refuse(send, guard.refusal(None, htmx=htmx))
                    return {"type": "http.disconnect"}  # Django drops its spooled body and stops
            return message

        async def guarded_send(message):
            if not refused:
                await send(message)

        return await self.app(scope, counting_receive, guarded_send)

    @staticmethod
    async def _refuse(send, refusal):
        body, content_type = refusal
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", content_type.encode()), (b"connection", b"close")],
            }
        )
        await send({"type": "http.response.body", "body": body})
