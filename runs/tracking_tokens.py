"""Run-scoped credentials for the tracking API (MLflow's REST API, served by
the portal): each launch of a run gets a fresh random token, handed to the
run's process in its environment and kept nowhere else; only its sha256 is
stored on the run. It writes to and reads that run only, and it stops
working when the run ends."""

import hashlib
import hmac
import secrets

from .models import TERMINAL, Run

PREFIX = "prt_"


def digest_of(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def issue(run: Run) -> str:
    """A new token for the run (the previous one stops working)."""
    plaintext = f"{PREFIX}{run.pk}_{secrets.token_urlsafe(32)}"
    Run.objects.filter(pk=run.pk).update(tracking_digest=digest_of(plaintext))
    return plaintext


def run_for(plaintext: str) -> Run | None:
    """The unfinished run this token belongs to; None for any other text."""
    if not plaintext.startswith(PREFIX) or len(plaintext) > 200:
        return None
    run_id = plaintext[len(PREFIX) :].split("_", 1)[0]
    if not run_id.isdigit():
        return None
    run = Run.objects.select_related("experiment", "workspace").filter(pk=int(run_id)).first()
    if run is None or not run.tracking_digest or run.status in TERMINAL:
        return None
    if not hmac.compare_digest(run.tracking_digest, digest_of(plaintext)):
        return None
    return run
