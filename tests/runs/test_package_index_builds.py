"""Package index settings reach real environment builds on the local target."""

import pytest

from compute import package_index
from runs import services
from runs.models import RunStatus

from .test_execution import finished, text_of

pytestmark = [pytest.mark.integration, pytest.mark.slow]

UNREACHABLE = "http://127.0.0.1:9/simple"


def pip_env(requirements: str) -> dict:
    return services.environment_spec(kind="pip", requirements=requirements)


def test_the_workspace_index_is_used_by_the_build(worker, local_target, submit):
    package_index.package_index_set(owner=local_target.workspace, index_url=UNREACHABLE)
    run = finished(
        submit(local_target, {"train.py": "print(1)"}, environment=pip_env("portal-index-probe-ws")),
        timeout=170,
    )
    assert run.status == RunStatus.FAILED
    assert "The environment build failed" in run.error
    system = text_of(run, "system")
    assert "Building the environment with pip (index http://127.0.0.1:9)." in system
    # pip itself says where it looked: the setting reached it.
    assert f"Looking in indexes: {UNREACHABLE}" in system


def test_a_target_override_wins_over_the_workspace(worker, local_target, submit):
    package_index.package_index_set(owner=local_target.workspace, index_url="http://127.0.0.1:7/simple")
    package_index.package_index_set(owner=local_target, index_url=UNREACHABLE)
    run = finished(
        submit(local_target, {"train.py": "print(1)"}, environment=pip_env("portal-index-probe-target")),
        timeout=170,
    )
    assert run.status == RunStatus.FAILED
    system = text_of(run, "system")
    assert f"Looking in indexes: {UNREACHABLE}" in system
    assert "127.0.0.1:7" not in system
