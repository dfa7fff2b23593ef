"""CondaDependencies: the packages of a system-managed environment.

Only pip packages become a "pip" environment (a requirements list); any conda
package makes a "conda" environment file (``dependencies:`` with a ``pip:``
section for the pip packages)."""

from __future__ import annotations

DEFAULT_PYTHON = "3.11"


class CondaDependencies:
    """Conda and pip packages, and the channels conda takes them from."""

    def __init__(self, conda_dependencies_file_path: str | None = None, _underlying_structure=None):
        self.name = "project_environment"
        self.python_version: str | None = None
        self.channels: list[str] = []
        self.conda_packages: list[str] = []
        self.pip_packages: list[str] = []
        if conda_dependencies_file_path:
            raise NotImplementedError("Reading an environment file is not supported: use create().")

    @staticmethod
    def create(
        pip_packages: list[str] | None = None,
        conda_packages: list[str] | None = None,
        python_version: str | None = None,
        pin_sdk_version: bool = True,
        channels: list[str] | None = None,
        **_cloud_only,
    ) -> CondaDependencies:
        deps = CondaDependencies()
        deps.pip_packages = list(pip_packages or [])
        deps.conda_packages = list(conda_packages or [])
        deps.python_version = python_version
        deps.channels = list(channels or [])
        return deps

    def add_conda_package(self, conda_package: str) -> None:
        if conda_package not in self.conda_packages:
            self.conda_packages.append(conda_package)

    def add_pip_package(self, pip_package: str) -> None:
        if pip_package not in self.pip_packages:
            self.pip_packages.append(pip_package)

    def add_channel(self, channel: str) -> None:
        if channel not in self.channels:
            self.channels.append(channel)

    def set_python_version(self, version: str) -> None:
        self.python_version = version

    @property
    def is_conda(self) -> bool:
        """Whether this needs conda (a conda package, or a Python version to install)."""
        return bool(self.conda_packages or self.python_version)

    def requirements_text(self) -> str:
        """The pip packages as a requirements list."""
        return "\n".join(self.pip_packages)

    def serialize_to_string(self) -> str:
        """The conda environment file (``conda env export`` style)."""
        lines = [f"name: {self.name}"]
        if self.channels:
            lines += ["channels:", *(f"  - {c}" for c in self.channels)]
        lines.append("dependencies:")
        lines.append(f"  - python={self.python_version or DEFAULT_PYTHON}")
        lines += [f"  - {p}" for p in self.conda_packages]
        if self.pip_packages:
            lines += ["  - pip", "  - pip:", *(f"    - {p}" for p in self.pip_packages)]
        return "\n".join(lines) + "\n"

    def environment_request(self) -> dict[str, str]:
        """The run request's environment for these packages: pip or conda."""
        if self.is_conda:
            return {"kind": "conda", "requirements": self.serialize_to_string()}
        return {"kind": "pip", "requirements": self.requirements_text()}

    def save_to_file(self, base_directory: str, conda_file_path: str = "conda_dependencies.yml") -> str:
        import os

        path = os.path.join(base_directory, conda_file_path)
        with open(path, "w") as out:
            out.write(self.serialize_to_string())
        return path

    def __repr__(self) -> str:
        return f"CondaDependencies(conda={self.conda_packages!r}, pip={self.pip_packages!r})"
