"""Why a run failed, in the words a user reads first.

A failed script's cause is the end of its own stderr (the exception); a
failed environment or image build's cause is the installer's final
``ERROR:`` lines, with the requirement they name. The run page's failure box
and the REST API's ``failure`` both read what ``finish_run`` stored from here.
"""

import re

SCRIPT = "script"
ENVIRONMENT = "environment"
IMAGE = "image"

# pip: "No matching distribution found for X", "Could not find a version that
# satisfies the requirement X (from versions: none)"; uv: "Because X was not found".
_REQUIREMENT = re.compile(
    r"(?:No matching distribution found for|satisfies the requirement|Because)\s+(\S+?)(?:\s|$|,)"
)
_ERROR_LINE = re.compile(r"^\s*(ERROR:|error:|×|CondaError|PackagesNotFoundError|ResolvePackageNotFound)")


def last_line(text: str) -> str:
    """The last non-blank line: a Python traceback's exception."""
    for line in reversed(text.splitlines()):
        if line.strip():
            return line.strip()
    return ""


def installer_errors(log: str, limit: int = 12) -> list[str]:
    """The installer's final error lines (pip's ``ERROR:``, uv's ``error:``,
    conda's), with the lines that continue them, oldest first."""
    lines = [line.rstrip() for line in log.splitlines()]
    start = None
    for i in range(len(lines) - 1, -1, -1):
        if _ERROR_LINE.match(lines[i]):
            start = i
        elif start is not None and i < start - 1:
            break
    if start is None:
        return []
    return [line for line in lines[start:] if line.strip()][-limit:]


def failing_requirement(lines) -> str:
    for line in lines:
        found = _REQUIREMENT.search(line)
        if found:
            return found.group(1).strip("'\"`")
    return ""


# pip says "No matching distribution" when it could not reach the index at all;
# the real cause sits in the retry warnings above it.
_UNTRUSTED = re.compile(r"CERTIFICATE_VERIFY_FAILED|problem confirming the ssl certificate", re.IGNORECASE)
UNTRUSTED_HINT = (
    "the package index's TLS certificate is not trusted here (a TLS-inspecting proxy?): "
    "set its CA certificate in the workspace's package index settings"
)


def build_summary(prefix: str, log: str) -> tuple[str, str]:
    """(summary, tail) of a failed environment or image build from its log."""
    errors = installer_errors(log)
    if _UNTRUSTED.search(log):
        cause = next((line.strip() for line in log.splitlines() if _UNTRUSTED.search(line)), "")
        tail = "\n".join([cause, *errors]) if errors else cause
        requirement = failing_requirement(errors)
        fetched = f"the requirement {requirement} could not be downloaded: " if requirement else ""
        return f"{prefix}: {fetched}{UNTRUSTED_HINT}", tail
    requirement = failing_requirement(errors)
    cause = next((e for e in errors if _REQUIREMENT.search(e)), errors[0] if errors else "")
    summary = prefix
    if requirement:
        summary += f": the requirement {requirement} could not be installed"
    if cause:
        summary += f" ({cause.strip()})" if requirement else f": {cause.strip()}"
    tail = "\n".join(errors) if errors else "\n".join(log.rstrip("\n").splitlines()[-20:])
    return summary, tail


def failure_of(run) -> dict | None:
    """The API's ``failure``: kind, summary and tail, or None for a run that did not fail."""
    if not run.failure_kind and not (run.error and run.status in ("Failed", "NotResponding")):
        return None
    summary = run.error
    if run.failure_kind == SCRIPT and run.stderr_tail:
        summary = last_line(run.stderr_tail) or run.error
    return {"kind": run.failure_kind or "portal", "summary": summary, "tail": run.stderr_tail}
