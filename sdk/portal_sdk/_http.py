"""The one wrapper around HTTP: the token goes in a header, every error the
portal answers becomes a PortalError carrying its ``detail`` message."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import requests

from . import __version__
from .exceptions import AuthenticationException, NotFoundError, PortalError, UserErrorException

log = logging.getLogger("portal_sdk")

TIMEOUT = 60  # seconds for a plain request; long-polls add their own wait
MAX_RETRIES_429 = 5


class Client:
    """Requests to one portal's ``/api/v1/`` with one token."""

    def __init__(self, url: str, token: str, *, session: requests.Session | None = None):
        self.base = url.rstrip("/")
        self._token = token
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = f"portal-sdk/{__version__}"

    def __repr__(self) -> str:  # never show the token
        return f"Client({self.base!r})"

    def api_url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base}/api/v1/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict | None = None,
        data: Any = None,
        headers: dict | None = None,
        timeout: float = TIMEOUT,
        stream: bool = False,
        ok404: bool = False,
    ) -> requests.Response:
        """Send a request; raise PortalError unless it succeeded (or was a 404 with ``ok404``)."""
        url = self.api_url(path)
        all_headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        all_headers.update(headers or {})
        for attempt in range(MAX_RETRIES_429 + 1):
            try:
                response = self.session.request(
                    method,
                    url,
                    json=json,
                    params=params,
                    data=data,
                    headers=all_headers,
                    timeout=timeout,
                    stream=stream,
                )
            except requests.RequestException as exc:
                raise PortalError(
                    f"Cannot reach the portal at {self.base}: {exc.__class__.__name__}."
                ) from None
            if response.status_code == 429 and attempt < MAX_RETRIES_429:
                wait = _retry_after(response)
                log.debug("429 from %s %s: waiting %.1f s", method, url, wait)
                time.sleep(wait)
                if hasattr(data, "seek"):
                    data.seek(0)
                continue
            break
        log.debug("%s %s -> %s", method, url, response.status_code)
        if response.status_code == 404 and ok404:
            return response
        if response.status_code >= 400:
            raise error_from(response)
        return response

    def get(self, path: str, **kwargs) -> Any:
        return self.request("GET", path, **kwargs).json()

    def post(self, path: str, json: Any = None, **kwargs) -> Any:
        return self.request("POST", path, json=json, **kwargs).json()

    def delete(self, path: str, **kwargs) -> Any:
        response = self.request("DELETE", path, **kwargs)
        return response.json() if response.content else None

    def paged(self, path: str, params: dict | None = None) -> Iterator[dict]:
        """Items of a ``{"results", "next"}`` list, following ``next``."""
        page = self.get(path, params=params)
        while True:
            yield from page.get("results", [])
            if not page.get("next"):
                return
            page = self.get(page["next"])


def _retry_after(response: requests.Response) -> float:
    try:
        return min(max(float(response.headers.get("Retry-After", "1")), 0.1), 30.0)
    except ValueError:
        return 1.0


def error_from(response: requests.Response) -> PortalError:
    """The PortalError for an error response: its ``detail`` as the message."""
    status = response.status_code
    fields: dict = {}
    try:
        body = response.json()
        detail = body.get("detail") if isinstance(body, dict) else None
        fields = body.get("fields") or {} if isinstance(body, dict) else {}
    except ValueError:
        detail = None
    if not detail:
        text = (response.text or "").strip().splitlines()
        detail = f"HTTP {status} {response.reason or ''}".strip()
        if text and len(text[0]) < 200 and "<" not in text[0]:
            detail += f": {text[0]}"
    cls = {401: AuthenticationException, 403: AuthenticationException, 404: NotFoundError}.get(status)
    if cls is None:
        cls = UserErrorException if 400 <= status < 500 else PortalError
    return cls(str(detail), status=status, fields=fields)
