"""The SDK's errors. The server's JSON ``{"detail"}`` message is the message."""

from __future__ import annotations


class PortalError(Exception):
    """Anything the portal refused or could not do; ``message`` is for a person.

    ``status`` is the HTTP status when the error came from the server (None
    otherwise) and ``fields`` the per-field messages of a 400."""

    def __init__(self, message: str, *, status: int | None = None, fields: dict | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.fields = fields or {}


class AuthenticationException(PortalError):
    """No token, or a token the portal does not accept (401), or not allowed (403)."""


class UserErrorException(PortalError):
    """A request the portal refused as given (400): the message says what to change."""


class NotFoundError(PortalError):
    """The workspace, target or run is not there (404)."""


class ComputeTargetException(PortalError):
    """A compute target that is missing, refused or failed."""


class TargetFailedException(ComputeTargetException):
    """``wait_for_completion()`` on a target that failed, or that was not done in time."""


class ExperimentExecutionException(PortalError):
    """A run that failed, was canceled, or could not be submitted."""


class ActivityFailedException(ExperimentExecutionException):
    """``wait_for_completion(raise_on_error=True)`` on a run that did not complete."""

    def __init__(self, message: str, *, run=None):
        super().__init__(message)
        self.run = run


class SnapshotException(PortalError):
    """A source folder that cannot be packed (ignore rules refused, nothing left)."""
