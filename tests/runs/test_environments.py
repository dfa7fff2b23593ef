"""System-managed environments: built once per spec hash, reused, failures and cancel shown."""

import pytest

from runs import services
from runs.models import RunLogChunk, RunStatus
from tests import servers
from tests.conftest import wait_for

from .test_execution import finished, text_of

pytestmark = [pytest.mark.integration, pytest.mark.slow]

USES_SIX = "import six, sys\nprint('six', six.__version__, sys.prefix)\n"


def pip_env(requirements: str) -> dict:
    return services.environment_spec(kind="pip", requirements=requirements)


def test_environment_is_built_once_then_reused(worker, any_target, submit):
    first = finished(submit(any_target, {"train.py": USES_SIX}, environment=pip_env("six")), timeout=170)
    assert first.status == RunStatus.COMPLETED, first.error + first.stderr_tail
    assert "Environment built in" in first.environment_note
    assert "six " in text_of(first, "stdout")
    prefix = text_of(first, "stdout").split()[-1]
    assert prefix.endswith(f"/envs/{pip_env('six')['hash']}")

    second = finished(submit(any_target, {"train.py": USES_SIX}, environment=pip_env("six")), timeout=60)
    assert second.status == RunStatus.COMPLETED, second.error
    assert "Environment cache hit" in second.environment_note
    assert text_of(second, "stdout").split()[-1] == prefix


def test_broken_requirement_fails_with_the_build_error(worker, local_target, submit):
    run = finished(
        submit(
            local_target, {"train.py": "print(1)"}, environment=pip_env("no-such-package-portal-xyz==9.9.9")
        ),
        timeout=170,
    )
    assert run.status == RunStatus.FAILED
    assert "The environment build failed" in run.error
    system = text_of(run, "system")
    assert "no-such-package-portal-xyz" in system and (
        "No matching distribution" in system or "ERROR" in system
    )
    assert "no-such-package-portal-xyz" in run.stderr_tail
    assert not text_of(run, "stdout")


def test_cancel_during_the_environment_build(worker, local_target, submit):
    hanging = servers.HangingServer()
    try:
        spec = pip_env(f"--index-url http://127.0.0.1:{hanging.port}/simple\nportal-not-anywhere-abc")
        run = submit(local_target, {"train.py": "print('never')"}, environment=spec)

        def building():
            run.refresh_from_db()
            return run.substep == "Building the environment" and hanging.accepted

        wait_for(building, timeout=60, message="the environment build to reach the index")
        services.run_cancel(run=run, user=None)
        run = finished(run, timeout=30)
        assert run.status == RunStatus.CANCELED
        assert not text_of(run, "stdout")
        assert RunLogChunk.objects.filter(
            run=run, stream="system", text__contains="Building the environment"
        ).exists()
    finally:
        hanging.close()
