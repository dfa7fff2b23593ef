"""RunConfiguration: where and in which environment a script runs.

How it maps onto the portal's run request (``environment``):

- ``environment.python.user_managed_dependencies = True``: a "user" environment,
  the script runs with ``interpreter_path`` (default ``python3``) as it is;
- otherwise the packages of ``conda_dependencies``: only pip packages give a
  "pip" environment (the portal builds a venv per requirement list), conda
  packages a "conda" environment file; no packages at all run as "user";
- ``environment.docker.enabled`` + ``base_image``: the environment is built in
  an image from that base (pip packages only, a portal rule).
"""

from __future__ import annotations

import os
from typing import Any

from .conda_dependencies import CondaDependencies

# Images are never pulled by the portal: a portal's admin names the image its
# engines have with PORTAL_DEFAULT_CPU_IMAGE.
DEFAULT_CPU_IMAGE = os.environ.get("PORTAL_DEFAULT_CPU_IMAGE", "python:3.11-slim")
DEFAULT_GPU_IMAGE = os.environ.get("PORTAL_DEFAULT_GPU_IMAGE", DEFAULT_CPU_IMAGE)
DEFAULT_INTERPRETER = "python3"


class PythonSection:
    def __init__(self) -> None:
        self.user_managed_dependencies: bool = False
        self.interpreter_path: str = DEFAULT_INTERPRETER
        self.conda_dependencies: CondaDependencies = CondaDependencies()
        self.conda_dependencies_file: str | None = None


class DockerSection:
    def __init__(self) -> None:
        self.enabled: bool = False
        self.base_image: str = DEFAULT_CPU_IMAGE
        self.gpu_support: bool = False
        self.shm_size: str | None = None
        self.arguments: list[str] = []


class SparkSection:
    def __init__(self) -> None:
        self.configuration: dict[str, Any] = {}


class EnvironmentDefinition:
    def __init__(self) -> None:
        self.python = PythonSection()
        self.docker = DockerSection()
        self.spark = SparkSection()
        self.environment_variables: dict[str, str] = {}

    def request(self) -> dict[str, Any]:
        """The run request's ``environment``."""
        python = self.python
        if python.user_managed_dependencies:
            env: dict[str, Any] = {
                "kind": "user",
                "interpreter": python.interpreter_path or DEFAULT_INTERPRETER,
            }
        else:
            deps = python.conda_dependencies or CondaDependencies()
            if deps.conda_packages or deps.pip_packages or deps.python_version:
                env = deps.environment_request()
            else:  # nothing to install: the target's own Python
                env = {"kind": "user", "interpreter": python.interpreter_path or DEFAULT_INTERPRETER}
        env["docker"] = bool(self.docker.enabled)
        env["base_image"] = self.docker.base_image if self.docker.enabled else ""
        return env


class ContainerInstanceSection:
    """Cloud container settings; on the portal the limits belong to the target."""

    def __init__(self) -> None:
        self.region: str | None = None
        self.cpu_cores: float = 1
        self.memory_gb: float = 4


class RunConfiguration:
    """Where a script runs (``target``) and with what (``environment``)."""

    def __init__(
        self, script: str | None = None, arguments: list[str] | None = None, framework: str = "python"
    ):
        if framework.lower() != "python":
            raise ValueError(f"Only framework='python' runs on the portal, not {framework!r}.")
        self.script = script
        self.arguments = list(arguments or [])
        self.framework = "Python"
        self.target: Any = "local"
        self.node_count: int = 1
        self.environment = EnvironmentDefinition()
        self.container_instance = ContainerInstanceSection()
        self.history = None
        # Environments are prepared (built or found in the cache) at every run anyway.
        self.prepare_environment: bool = False
        self.auto_prepare_environment: bool = False
        self.max_run_duration_seconds: int | None = None

    @property
    def target_name(self) -> str:
        """``target`` as a name (it may be set to a ComputeTarget)."""
        target = self.target
        return getattr(target, "name", None) or str(target or "local")

    def __repr__(self) -> str:
        return f"RunConfiguration(target={self.target_name!r}, environment={self.environment.request()!r})"


__all__ = [
    "DEFAULT_CPU_IMAGE",
    "DEFAULT_GPU_IMAGE",
    "CondaDependencies",
    "DockerSection",
    "EnvironmentDefinition",
    "PythonSection",
    "RunConfiguration",
]
