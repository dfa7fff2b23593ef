"""A stand-in for the portal's HTTP API: scripted answers, recorded requests."""

import io
import json
import re
from collections.abc import Callable
from typing import Any

import requests

from portal_sdk.core.workspace import Workspace

URL = "http://portal.test"
TOKEN = "pat_abc_s3cr3tvalue"


def response(status: int = 200, body: Any = None, *, content: bytes | None = None) -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r.reason = {200: "OK", 201: "Created", 202: "Accepted", 400: "Bad Request", 404: "Not Found"}.get(
        status, ""
    )
    if content is not None:  # a streamed body
        r.raw = io.BytesIO(content)
    else:
        r._content = b"" if body is None else json.dumps(body).encode()
        r.headers["Content-Type"] = "application/json"
    return r


class FakePortal(requests.Session):
    """Routes ``(METHOD, regex on the path after /api/v1/)`` to an answer: a Response,
    a (status, body) pair, a list of them (one per call, the last one repeats), or a
    callable taking the recorded request."""

    def __init__(self):
        super().__init__()
        self.routes: list[tuple[str, re.Pattern, Any]] = []
        self.calls: list[dict] = []

    def on(self, method: str, pattern: str, answer: Any) -> "FakePortal":
        self.routes.insert(0, (method, re.compile(pattern + r"$"), answer))
        return self

    def requests_to(self, method: str, pattern: str = ".*") -> list[dict]:
        rx = re.compile(pattern + r"$")
        return [c for c in self.calls if c["method"] == method and rx.match(c["path"])]

    def request(self, method, url, **kwargs):
        path = url.split("/api/v1/", 1)[1] if "/api/v1/" in url else url
        call = {
            "method": method,
            "path": path,
            "json": kwargs.get("json"),
            "params": kwargs.get("params"),
            "data": kwargs.get("data"),
            "headers": kwargs.get("headers") or {},
        }
        self.calls.append(call)
        for route_method, rx, answer in self.routes:
            if route_method == method and rx.match(path):
                return self._answer(answer, call)
        return response(404, {"detail": f"no route for {method} {path}"})

    def _answer(self, answer: Any, call: dict) -> requests.Response:
        if isinstance(answer, list):
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
        if isinstance(answer, Callable) and not isinstance(answer, requests.Response):
            answer = answer(call)
        if isinstance(answer, tuple):
            answer = response(*answer)
        return answer


def workspace(portal: FakePortal, name: str = "team") -> Workspace:
    from portal_sdk._http import Client

    return Workspace(URL, name, TOKEN, _client=Client(URL, TOKEN, session=portal))


def target(name: str, kind: str, state: str = "Succeeded", **extra) -> dict:
    return {
        "name": name,
        "kind": kind,
        "kind_label": kind,
        "origin": "attached" if kind in ("ssh", "docker") else "created",
        "state": state,
        "state_reason": "",
        "summary": "",
        "can_run": kind != "docker",
        "config": {},
        "secrets_set": [],
        "host_key_pending": None,
        "url": f"/w/team/compute/{name}/",
        **extra,
    }
