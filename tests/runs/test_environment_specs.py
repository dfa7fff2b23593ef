"""Environment specs: normalized, hashed, refused when they cannot work (no server needed)."""

import pytest

from runs import services

from .test_conda import ENV_FILE, conda_env
from .test_environments import pip_env


def test_spec_is_normalized_and_hashed():
    one = pip_env("six\n\n# a comment\n")
    assert one == pip_env("  six  ") and one["requirements"] == "six"
    assert one["hash"] != pip_env("six==1.16.0")["hash"]
    with pytest.raises(services.RunError, match="at least one requirement"):
        pip_env("# nothing\n")
    with pytest.raises(services.RunError, match="Editable"):
        pip_env("-e .")


def test_spec_needs_dependencies_and_hashes_the_file():
    spec = conda_env()
    assert spec["kind"] == "conda" and spec["hash"].startswith("conda-")
    assert spec == conda_env(ENV_FILE.replace("\n", "\r\n"))
    assert spec["hash"] != conda_env(ENV_FILE + "  - pandas\n")["hash"]
    with pytest.raises(services.RunError, match="dependencies"):
        conda_env("name: nothing\n")
    with pytest.raises(services.RunError, match="Use Docker takes pip requirements"):
        services.environment_spec(kind="conda", requirements=ENV_FILE, docker=True, base_image="python:3.11")
