"""Python SDK for the self-hosted compute portal, with the cloud ML SDK's names.

Code written for ``azureml`` runs with its imports changed to ``portal_sdk``::

    from portal_sdk.core import Workspace, Experiment, ScriptRunConfig
    from portal_sdk.core.runconfig import RunConfiguration
"""

__version__ = "0.1.0"

from . import core  # noqa: E402  (``portal_sdk.core.runconfig.X`` after ``import portal_sdk``)
from .core import (  # noqa: E402
    DEFAULT_CPU_IMAGE,
    DEFAULT_GPU_IMAGE,
    AmlCompute,
    BatchAiCompute,
    ClusterCompute,
    ComputeTarget,
    CondaDependencies,
    ContainerInstanceCompute,
    DockerEngineCompute,
    DsvmCompute,
    Experiment,
    LocalCompute,
    RemoteCompute,
    Run,
    RunConfiguration,
    ScriptRunConfig,
    SlurmCompute,
    Workspace,
)
from .exceptions import (  # noqa: E402
    ActivityFailedException,
    AuthenticationException,
    ComputeTargetException,
    ExperimentExecutionException,
    NotFoundError,
    PortalError,
    SnapshotException,
    UserErrorException,
)

__all__ = [
    "DEFAULT_CPU_IMAGE",
    "DEFAULT_GPU_IMAGE",
    "ActivityFailedException",
    "AmlCompute",
    "AuthenticationException",
    "BatchAiCompute",
    "ClusterCompute",
    "ComputeTarget",
    "ComputeTargetException",
    "CondaDependencies",
    "ContainerInstanceCompute",
    "DockerEngineCompute",
    "DsvmCompute",
    "Experiment",
    "ExperimentExecutionException",
    "LocalCompute",
    "NotFoundError",
    "PortalError",
    "RemoteCompute",
    "Run",
    "RunConfiguration",
    "ScriptRunConfig",
    "SlurmCompute",
    "SnapshotException",
    "UserErrorException",
    "Workspace",
    "core",
]
