"""The cloud SDK's ``core`` names: ``from portal_sdk.core import Workspace, Experiment, ...``."""

from .compute import (
    AmlCompute,
    BatchAiCompute,
    ClusterCompute,
    ContainerInstanceCompute,
    DockerEngineCompute,
    DsvmCompute,
    LocalCompute,
    RemoteCompute,
    SlurmCompute,
)
from .compute_target import ComputeTarget, ComputeTargetException
from .conda_dependencies import CondaDependencies
from .experiment import Experiment
from .run import Run
from .runconfig import DEFAULT_CPU_IMAGE, DEFAULT_GPU_IMAGE, RunConfiguration
from .script_run_config import ScriptRunConfig
from .workspace import Workspace

__all__ = [
    "DEFAULT_CPU_IMAGE",
    "DEFAULT_GPU_IMAGE",
    "AmlCompute",
    "BatchAiCompute",
    "ClusterCompute",
    "ComputeTarget",
    "ComputeTargetException",
    "CondaDependencies",
    "ContainerInstanceCompute",
    "DockerEngineCompute",
    "DsvmCompute",
    "Experiment",
    "LocalCompute",
    "RemoteCompute",
    "Run",
    "RunConfiguration",
    "ScriptRunConfig",
    "SlurmCompute",
    "Workspace",
]
