"""Planted secrets must never come back: not in a response, a log line or a websocket frame.

Tests plant every password, private key and passphrase they give the portal;
this middleware, a log handler and a wrapper around websocket sends (both
installed by conftest.py) fail the test when one shows up."""

import logging

PLANTED: set[str] = set()


def plant(value: str) -> str:
    for line in value.strip().splitlines():
        # Key files: every body line is secret; the BEGIN/END lines are not.
        if line and not line.startswith("-----"):
            PLANTED.add(line.strip())
    return value


def leaked_in(text: str) -> str | None:
    return next((secret for secret in PLANTED if secret in text), None)


class SecretLeak(AssertionError):
    pass


class SecretScanMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not getattr(response, "streaming", False):
            body = response.content.decode(errors="replace")
            headers = " ".join(f"{k}: {v}" for k, v in response.items())
            if secret := leaked_in(body + headers):
                raise SecretLeak(f"A planted secret is in the response to {request.path}: {secret[:8]}…")
        return response


class SecretScanLogHandler(logging.Handler):
    leaks: list[str] = []

    def emit(self, record):
        try:
            text = record.getMessage() + (self.format(record) if record.exc_info else "")
        except Exception:
            return
        if secret := leaked_in(text):
            self.leaks.append(f"{record.name}: {secret[:8]}…")
