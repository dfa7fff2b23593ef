"""ScriptRunConfig: a folder, the script in it, its arguments and where it runs."""

from __future__ import annotations

import os
from typing import Any

from .runconfig import RunConfiguration


class ScriptRunConfig:
    """What ``Experiment.submit()`` sends: ``source_directory`` is snapshotted
    (after its .amlignore/.gitignore rules) and ``script`` runs in it on
    ``run_config.target`` (or ``compute_target``)."""

    def __init__(
        self,
        source_directory: str | os.PathLike,
        script: str | None = None,
        arguments: list[Any] | None = None,
        run_config: RunConfiguration | None = None,
        compute_target: Any = None,
        environment: Any = None,
        **_cloud_only: Any,
    ):
        self.source_directory = os.fspath(source_directory)
        self.run_config = run_config or RunConfiguration()
        self.script = script or self.run_config.script
        if not self.script:
            raise ValueError("Give the script to run, relative to source_directory.")
        self.arguments = [str(a) for a in (arguments if arguments is not None else self.run_config.arguments)]
        if compute_target is not None:
            self.run_config.target = compute_target
        if environment is not None:
            self.run_config.environment = environment

    def __repr__(self) -> str:
        return (
            f"ScriptRunConfig(source_directory={self.source_directory!r}, script={self.script!r}, "
            f"target={self.run_config.target_name!r})"
        )
