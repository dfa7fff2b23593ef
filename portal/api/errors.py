"""Every API error is JSON a person can act on: ``{"detail": ..., "fields": {...}}``.

Validation errors name their fields; the services' own errors become 400s
with their message; anything unexpected is logged and answered with a
reference, never a stack trace."""

import functools
import logging
import uuid

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

log = logging.getLogger(__name__)


@functools.cache
def user_errors() -> tuple[type[Exception], ...]:
    """Service errors whose message is written for the user: 400 with that message."""
    from compute.services import TargetActionError
    from portal.services import MembershipError
    from portal.tokens import TokenError
    from runs.services import RunError
    from runs.snapshots import SnapshotError

    return (TargetActionError, RunError, SnapshotError, TokenError, MembershipError)


def _flatten(detail) -> list[str]:
    if isinstance(detail, dict):
        return [m for v in detail.values() for m in _flatten(v)]
    if isinstance(detail, list):
        return [m for v in detail for m in _flatten(v)]
    return [str(detail)]


def api_exception_handler(exc, context):
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or "You may not do that here.")
    elif isinstance(exc, user_errors()):
        return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)

    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        fields = {name: _flatten(messages) for name, messages in fields.items()}
        summary = "; ".join(
            f"{name}: {' '.join(messages)}" if name != "non_field_errors" else " ".join(messages)
            for name, messages in fields.items()
        )
        return Response({"detail": summary or "Invalid input.", "fields": fields}, status=exc.status_code)

    response = exception_handler(exc, context)
    if response is not None:
        if isinstance(response.data, dict) and "detail" in response.data:
            response.data = {"detail": str(response.data["detail"])}
        return response

    reference = uuid.uuid4().hex[:12]
    log.exception("API error %s in %s", reference, context.get("view").__class__.__name__)
    return Response(
        {
            "detail": f"The server failed to answer this request (reference {reference}); its log has the cause."
        },
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )
