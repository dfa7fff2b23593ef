"""Upload bodies over the snapshot limit are refused before they are read.

Django's multipart parser spools uploads to disk, and under ASGI Django reads
the whole request body into a spooled temp file before any middleware runs.
So the limit is checked twice, with one rule: an ASGI wrapper (uvicorn,
daphne) that answers 413 from the Content-Length header, or stops a chunked
body as soon as it passes the limit; and a Django middleware (WSGI, the test
client) that answers 413 from CONTENT_LENGTH before the body is touched.
"""

import json
import re

from django.conf import settings
from django.http import HttpResponse
from django.template.defaultfilters import filesizeformat
from django.template.loader import render_to_string
from django.urls import reverse

FORM_MARGIN = 1024 * 1024  # the form's other fields
PER_FILE_MARGIN = 512  # multipart headers and the path of each file of a folder upload


def limit_bytes() -> int:
    return settings.SNAPSHOT_MAX_BYTES + FORM_MARGIN + settings.SNAPSHOT_MAX_FILES * PER_FILE_MARGIN


API_SNAPSHOT = re.compile(r"^/api/v1/workspaces/[-\w]+/snapshots/[0-9a-f]{64}/$")


def is_guarded(method: str, path: str) -> bool:
    if method == "PUT":
        return bool(API_SNAPSHOT.match(path))
    return method == "POST" and path in (reverse("snapshot-preview"), reverse("run-submit"))


def is_api(path: str) -> bool:
    return path.startswith("/api/")


def refusal_message(length: int | None) -> str:
    size = f"is {filesizeformat(length)}, " if length is not None else "goes "
    return (
        f"The upload {size}over the {filesizeformat(settings.SNAPSHOT_MAX_BYTES)} snapshot limit. Exclude "
        "data and outputs with a .amlignore file, or upload the code without them."
    )


def refusal(length: int | None, *, htmx: bool, api: bool = False) -> tuple[bytes, str]:
    """The 413 body and its content type: the preview's error partial for htmx,
    JSON for the API, else text."""
    message = refusal_message(length)
    if api:
        return json.dumps({"detail": message}).encode(), "application/json"
    if htmx:
        return render_to_string(
            "runs/run_submit.html#preview", {"error": message}
        ).encode(), "text/html; charset=utf-8"
    return message.encode(), "text/plain; charset=utf-8"


def _declared_length(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class UploadLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if is_guarded(request.method, request.path_info):
            length = _declared_length(request.META.get("CONTENT_LENGTH"))
            if length is not None and length > limit_bytes():
                body, content_type = refusal(
                    length, htmx=request.headers.get("HX-Request") == "true", api=is_api(request.path_info)
                )
                response = HttpResponse(body, status=413, content_type=content_type)
                response["Connection"] = "close"
                return response
        return self.get_response(request)


class UploadLimitASGI:
    """Wraps the Django ASGI app; other requests pass through untouched."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not is_guarded(scope["method"], scope["path"]):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        htmx = headers.get(b"hx-request") == b"true"
        api = is_api(scope["path"])
        limit = limit_bytes()
        length = _declared_length(headers.get(b"content-length"))
        if length is not None:
            if length > limit:
                return await self._refuse(send, length, htmx, api)
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
                    await self._refuse(send, None, htmx, api)
                    return {"type": "http.disconnect"}  # Django drops its spooled body and stops
            return message

        async def guarded_send(message):
            if not refused:
                await send(message)

        return await self.app(scope, counting_receive, guarded_send)

    @staticmethod
    async def _refuse(send, length, htmx, api):
        body, content_type = refusal(length, htmx=htmx, api=api)
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", content_type.encode()), (b"connection", b"close")],
            }
        )
        await send({"type": "http.response.body", "body": body})
