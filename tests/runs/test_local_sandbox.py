"""The local computer's runs, tried as a hostile user would: the tests run as
root, so every local run here executes as the unprivileged run user, and the
portal's keys, database and var dir are out of its reach."""

import os
import pwd
from pathlib import Path

import pytest
from django.conf import settings

from runs.models import RunLogChunk, RunStatus
from tests.secret_scan import leaked_in, plant

from .test_execution import finished, text_of

pytestmark = pytest.mark.integration

SNOOP = """
import os, sys
print("uid", os.getuid(), "gid", os.getgid(), "groups", os.getgroups())
print("env", " ".join(sorted(k for k in os.environ if "DATABASE" in k or "REDIS" in k or "PORTAL_V" in k)))
for path in sys.argv[1:]:
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            print(path, "listed", os.listdir(path))
        else:
            print(path, "read", open(path).read())
    except PermissionError:
        print(path, "denied")
"""

# Swaps its own log and metrics files for links to the portal's secrets: the
# portal reads those files back, and must not follow the links.
SWAP_LOGS = """
import os, sys, time
rd = os.environ["PORTAL_RUN_DIR"]
for name in ("stdout.log", "stderr.log", "metrics.jsonl", "system.log"):
    path = os.path.join(rd, name)
    os.remove(path)
    os.symlink(sys.argv[1], path)
os.makedirs("outputs")
open("outputs/x.txt", "w").write("x")
time.sleep(1.5)
"""


@pytest.fixture
def planted_var_files():
    """The portal's secrets, planted so any leak is found; a SQLite file beside them
    (the tests themselves use PostgreSQL) made as the settings make it."""
    var = Path(settings.VAR_DIR)
    database = var / "portal.sqlite3"
    database.write_text(plant("PLANTED-sqlite-rows-9c0e77"))
    database.chmod(0o600)
    for name in ("secret_key", "encryption_key"):
        plant((var / name).read_text())
    yield var
    database.unlink()


def test_a_local_run_is_denied_the_portals_keys_database_and_var_dir(
    worker, local_target, submit, planted_var_files, local_run_user
):
    var = planted_var_files
    paths = [
        str(var / "secret_key"),
        str(var / "encryption_key"),
        str(var / "portal.sqlite3"),
        str(var),
        f"/proc/{os.getpid()}/environ",  # the portal's own process (its worker runs in it)
    ]
    run = finished(submit(local_target, {"train.py": SNOOP}, arguments=paths))
    assert run.status == RunStatus.COMPLETED, run.error + run.stderr_tail
    out = text_of(run, "stdout")
    account = pwd.getpwnam(local_run_user)
    assert f"uid {account.pw_uid} gid {account.pw_gid} groups []\n" in out
    assert "env \n" in out  # no database, broker or var settings in its environment
    for path in paths:
        assert f"{path} denied\n" in out
    assert leaked_in(out) is None


def test_a_run_cannot_make_the_portal_read_its_secrets_back_through_links(
    worker, local_target, submit, planted_var_files
):
    run = finished(
        submit(local_target, {"train.py": SWAP_LOGS}, arguments=[str(planted_var_files / "secret_key")])
    )
    assert run.status == RunStatus.COMPLETED, run.error
    assert list(run.outputs.values_list("path", flat=True)) == ["x.txt"]
    logs = "".join(RunLogChunk.objects.filter(run=run).values_list("text", flat=True))
    assert leaked_in(logs) is None
    assert leaked_in(run.error + run.stderr_tail) is None
