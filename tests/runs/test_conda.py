"""Conda environment files: the spec, a target without conda, and the build
plumbing. No conda channel can be reached here, so the last test puts a
stand-in `conda` on PATH (it answers `env create -p DIR -f FILE` with a
venv); the real `conda env create` line is the one it receives."""

import os
import pwd
import shutil
import uuid
from pathlib import Path

import pytest

from runs import services
from runs.models import RunStatus

from .test_execution import finished, text_of

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ENV_FILE = "name: demo\nchannels:\n  - conda-forge\ndependencies:\n  - python=3.11\n  - numpy\n"


def conda_env(text: str = ENV_FILE) -> dict:
    return services.environment_spec(kind="conda", requirements=text)


def test_a_target_without_conda_fails_plainly(worker, local_target, submit, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no conda here in any case
    run = finished(submit(local_target, {"train.py": "print(1)"}, environment=conda_env()), timeout=60)
    assert run.status == RunStatus.FAILED
    assert "conda is not installed on this target" in run.error
    assert not text_of(run, "stdout")


STAND_IN = """#!/bin/sh
# Stand-in for conda (no channel is reachable here): records the call, makes a venv.
echo "$@" >> "$(dirname "$0")/calls"
[ "$1 $2" = "env create" ] || exit 2
while [ $# -gt 0 ]; do case "$1" in -p) prefix="$2"; shift;; -f) file="$2"; shift;; esac; shift; done
grep -q "dependencies:" "$file" || exit 3
python3 -m venv "$prefix" && cp "$file" "$prefix/environment.yml"
"""


@pytest.fixture
def bin_dir(local_target, local_run_user):
    """A PATH folder the run user can reach (tmp_path is 0700 root), with a log it may append to."""
    folder = Path(local_target.config["workdir"]).parent / f"bin-{uuid.uuid4().hex[:12]}"
    folder.mkdir(mode=0o755)
    (folder / "calls").touch()
    account = pwd.getpwnam(local_run_user)
    os.chown(folder / "calls", account.pw_uid, account.pw_gid)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_conda_env_is_built_from_the_file_once_then_reused(
    worker, local_target, submit, monkeypatch, bin_dir
):
    (bin_dir / "conda").write_text(STAND_IN)
    (bin_dir / "conda").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    script = {"train.py": "import sys\nprint(sys.prefix)\n"}

    first = finished(submit(local_target, script, environment=conda_env()), timeout=120)
    assert first.status == RunStatus.COMPLETED, first.error + first.stderr_tail
    prefix = text_of(first, "stdout").strip()
    assert prefix.endswith("/envs/" + conda_env()["hash"])
    assert "Building the environment with conda." in text_of(first, "system")
    calls = env_creates(bin_dir)
    assert calls == [f"env create --quiet -p {prefix} -f {first_run_dir(prefix, first)}/environment.yml"]

    second = finished(submit(local_target, script, environment=conda_env()), timeout=120)
    assert second.status == RunStatus.COMPLETED
    assert "Environment cache hit" in text_of(second, "system")
    assert text_of(second, "stdout").strip() == prefix
    assert len(env_creates(bin_dir)) == 1  # built once


def env_creates(bin_dir) -> list[str]:
    """The `conda env create` calls (the preflight also asks `conda --version`)."""
    return [c for c in (bin_dir / "calls").read_text().splitlines() if c.startswith("env create")]


def first_run_dir(prefix: str, run) -> str:
    workdir = prefix.rsplit("/envs/", 1)[0]
    return f"{workdir}/runs/{run.key.hex}"
