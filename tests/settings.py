"""Test settings: the real PostgreSQL and Redis on this machine.

The embedded default (SQLite, in-memory broker and channel layer) is proven by
tests/test_embedded.py, which serves the portal in a subprocess on it.
"""

import os
import tempfile

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portal")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("PORTAL_VAR_DIR", tempfile.mkdtemp(prefix="portal-test-var-"))
os.environ.setdefault("PORTAL_SSH_TIMEOUT", "3")
# Local runs execute as the unprivileged run user (the tests run as root): their
# folder is outside the 0700 var dir, under a parent that user may pass through.
_local_parent = tempfile.mkdtemp(prefix="portal-test-local-")
os.chmod(_local_parent, 0o711)  # noqa: S103 - traverse only, for the run user
os.environ.setdefault("PORTAL_LOCAL_WORKDIR", os.path.join(_local_parent, "workdir"))

from portal.settings import *  # noqa: E402,F403
from portal.settings import MIDDLEWARE  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
MIDDLEWARE = [*MIDDLEWARE, "tests.secret_scan.SecretScanMiddleware"]
