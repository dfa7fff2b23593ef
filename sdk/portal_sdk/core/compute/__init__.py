"""The kinds of compute target, with the cloud SDK's class names.

Each ``provisioning_configuration()`` / ``attach_configuration()`` builds the
portal's request for one kind; names that only make sense in a cloud (a
region, a resource group) are accepted and ignored.

==========================  ==============  ====================================
class                       portal kind     how
==========================  ==============  ====================================
RemoteCompute               ssh             attach a VM over SSH
DsvmCompute                 docker-vm       create a VM (a container) on an engine
ContainerInstanceCompute    container       create: a fresh container per run
DockerEngineCompute         docker          attach a Docker engine
ClusterCompute / AmlCompute slurm           create a cluster on an engine (*)
BatchAiCompute              slurm           the 2018 name of the same (*)
SlurmCompute                slurm           attach a Slurm cluster (*)
LocalCompute                local           granted by an administrator
==========================  ==============  ====================================

(*) The portal has no cluster kind yet: these build the request, and the portal
answers that it does not know the kind.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...exceptions import ComputeTargetException, NotFoundError, PortalError
from ..compute_target import (
    ComputeTarget,
    ComputeTargetAttachConfiguration,
    ComputeTargetProvisioningConfiguration,
    LocalCompute,
    TargetConfiguration,
)
from . import sizes

if TYPE_CHECKING:
    from ..workspace import Workspace

ENGINE_KIND = "docker"
USABLE_STATES = ("Succeeded", "Unreachable")


# ---- what needs the workspace: the engine, the size, the image ----------------------------


def default_engine(workspace: Workspace) -> dict[str, Any]:
    """The workspace's only usable Docker engine target (its payload)."""
    try:
        targets = workspace._client.get(workspace.api("computes/"))
    except PortalError as exc:
        raise ComputeTargetException(exc.message, status=exc.status) from exc
    engines = [t for t in targets if t.get("kind") == ENGINE_KIND]
    usable = [t for t in engines if t.get("state") in USABLE_STATES]
    if len(usable) == 1:
        return usable[0]
    if not usable:
        raise ComputeTargetException(
            f"Workspace {workspace.name} has no usable Docker engine"
            + (f" ({', '.join(t['name'] + ': ' + t.get('state', '') for t in engines)})" if engines else "")
            + ": attach one first (DockerEngineCompute), or pass engine=."
        )
    raise ComputeTargetException(
        f"Workspace {workspace.name} has several Docker engines ({', '.join(t['name'] for t in usable)}): "
        "pass engine= to choose one."
    )


def _engine_payload(workspace: Workspace, name: str) -> dict[str, Any]:
    try:
        return workspace._client.get(workspace.api(f"computes/{name}/"))
    except NotFoundError:
        raise ComputeTargetException(f"No Docker engine named {name!r} in {workspace.name}.") from None
    except PortalError as exc:
        raise ComputeTargetException(exc.message, status=exc.status) from exc


def resolve_engine(workspace: Workspace, config: TargetConfiguration) -> None:
    """engine= given, or the workspace's only engine; then the image and the size on it."""
    engine = _engine_payload(workspace, config.engine) if config.engine else default_engine(workspace)
    config.fields["engine"] = engine["name"]
    if not config.fields.get("image"):
        config.fields["image"] = default_image(engine)
    if config.vm_size:
        config.fields.update(sizes.resolve(workspace, config.kind, engine["name"], config.vm_size))


def resolve_cluster_engine(workspace: Workspace, config: TargetConfiguration) -> None:
    """engine= given, or the workspace's only engine; then the node size on it (a
    cluster's image is the portal's Slurm node image unless one was given)."""
    engine = _engine_payload(workspace, config.engine) if config.engine else default_engine(workspace)
    config.fields["engine"] = engine["name"]
    if config.vm_size:
        config.fields.update(sizes.resolve(workspace, config.kind, engine["name"], config.vm_size))


def default_image(engine: dict[str, Any]) -> str:
    """DEFAULT_CPU_IMAGE when the engine has it (or says nothing), else its first Python image."""
    from ..runconfig import DEFAULT_CPU_IMAGE

    images = (engine.get("capabilities") or {}).get("images") or (engine.get("config") or {}).get("images")
    if not images or DEFAULT_CPU_IMAGE in images:
        return DEFAULT_CPU_IMAGE
    python = [i for i in images if "python" in i]
    return (python or list(images))[0]


def _read_key(private_key_file: str | os.PathLike | None) -> str | None:
    if not private_key_file:
        return None
    try:
        return Path(private_key_file).expanduser().read_text()
    except OSError as exc:
        raise ComputeTargetException(f"Cannot read the private key file {private_key_file}: {exc}.") from None


def _ssh_fields(
    *,
    address: str,
    ssh_port: int,
    username: str,
    password: str | None,
    private_key_file: str | os.PathLike | None,
    private_key_passphrase: str | None,
    known_hosts_line: str | None,
    private_key: str | None = None,
) -> dict[str, Any]:
    if password and (private_key_file or private_key):
        raise ComputeTargetException("Give a password or a private key, not both.")
    return {
        "address": address,
        "port": int(ssh_port),
        "username": username,
        "password": password or None,
        "private_key": private_key or _read_key(private_key_file),
        "passphrase": private_key_passphrase or None,
        "known_hosts": known_hosts_line or None,
    }


# ---- the kinds ------------------------------------------------------------------------------


class RemoteCompute(ComputeTarget):
    """An existing Linux machine reached over SSH (attached; the portal never creates it)."""

    _kinds = ("ssh",)
    _type = "VirtualMachine"

    @staticmethod
    def attach_configuration(
        address: str,
        ssh_port: int = 22,
        username: str = "",
        password: str | None = None,
        private_key_file: str | os.PathLike | None = None,
        private_key_passphrase: str | None = None,
        *,
        private_key: str | None = None,
        workdir: str | None = None,
        host_key_fingerprint: str | None = None,
        known_hosts_line: str | None = None,
        **_cloud_only: Any,
    ) -> ComputeTargetAttachConfiguration:
        """The machine at ``address``: log in with a password or a private key.

        On first contact the portal shows the machine's host key: pass its
        ``host_key_fingerprint`` ("SHA256:...") to confirm it from here, or a
        ``known_hosts_line`` to pin it up front; with neither, a person confirms
        it on the target's page."""
        fields = _ssh_fields(
            address=address,
            ssh_port=ssh_port,
            username=username,
            password=password,
            private_key_file=private_key_file,
            private_key_passphrase=private_key_passphrase,
            known_hosts_line=known_hosts_line,
            private_key=private_key,
        )
        fields["workdir"] = workdir
        return ComputeTargetAttachConfiguration(
            kind="ssh", fields=fields, host_key_fingerprint=host_key_fingerprint
        )

    @staticmethod
    def attach(
        workspace: Workspace,
        name: str,
        username: str,
        address: str,
        ssh_port: int = 22,
        password: str | None = None,
        private_key_file: str | os.PathLike | None = None,
        private_key_passphrase: str | None = None,
        **kwargs: Any,
    ) -> ComputeTarget:
        """The 2018 form: attach in one call (same as ComputeTarget.attach with attach_configuration())."""
        config = RemoteCompute.attach_configuration(
            address=address,
            ssh_port=ssh_port,
            username=username,
            password=password,
            private_key_file=private_key_file,
            private_key_passphrase=private_key_passphrase,
            **kwargs,
        )
        return ComputeTarget.attach(workspace, name, config)


class DsvmCompute(ComputeTarget):
    """A VM the portal creates: a long-lived container on one of your Docker engines."""

    _kinds = ("docker-vm",)
    _type = "VirtualMachine"

    @staticmethod
    def provisioning_configuration(
        vm_size: str = "",
        ssh_port: int | None = None,
        *,
        engine: str | None = None,
        image: str | None = None,
        cpu_cores: float | None = None,
        memory_gb: float | None = None,
        gpus: int | None = None,
        idle_minutes: int | None = None,
        **_cloud_only: Any,
    ) -> ComputeTargetProvisioningConfiguration:
        """A VM of ``vm_size`` (a name from the portal's size catalogue, or a cloud size
        such as "Standard_D2_v2", matched to the nearest size the engine offers), or of
        explicit ``cpu_cores``/``memory_gb``/``gpus``. ``engine`` defaults to the
        workspace's only Docker engine, ``image`` to DEFAULT_CPU_IMAGE."""
        return _container_limits(
            "docker-vm",
            vm_size=vm_size,
            engine=engine,
            image=image,
            cpu_cores=cpu_cores,
            memory_gb=memory_gb,
            gpus=gpus,
            extra={"idle_minutes": idle_minutes},
        )

    @staticmethod
    def create(
        workspace: Workspace, name: str, provisioning_configuration: TargetConfiguration
    ) -> ComputeTarget:
        return ComputeTarget.create(workspace, name, provisioning_configuration)


class ContainerInstanceCompute(ComputeTarget):
    """Every run in a fresh container with these limits, on one of your Docker engines."""

    _kinds = ("container",)
    _type = "ContainerInstance"

    @staticmethod
    def provisioning_configuration(
        cpu_cores: float = 1,
        memory_gb: float = 2,
        gpus: int = 0,
        *,
        engine: str | None = None,
        image: str | None = None,
        vm_size: str = "",
        **_cloud_only: Any,
    ) -> ComputeTargetProvisioningConfiguration:
        return _container_limits(
            "container",
            vm_size=vm_size,
            engine=engine,
            image=image,
            cpu_cores=cpu_cores,
            memory_gb=memory_gb,
            gpus=gpus,
        )

    @staticmethod
    def create(
        workspace: Workspace, name: str, provisioning_configuration: TargetConfiguration
    ) -> ComputeTarget:
        return ComputeTarget.create(workspace, name, provisioning_configuration)


def _container_limits(
    kind: str,
    *,
    vm_size: str,
    engine: str | None,
    image: str | None,
    cpu_cores: float | None,
    memory_gb: float | None,
    gpus: int | None,
    extra: dict[str, Any] | None = None,
) -> ComputeTargetProvisioningConfiguration:
    fields: dict[str, Any] = {"image": image, **(extra or {})}
    if not vm_size:
        fields.update({"cpus": cpu_cores or 1, "memory_gb": memory_gb or 2, "gpus": gpus or 0})
    return ComputeTargetProvisioningConfiguration(
        kind=kind, fields=fields, engine=engine, vm_size=vm_size or None, resolvers=[resolve_engine]
    )


class DockerEngineCompute(ComputeTarget):
    """A Docker engine (this machine's socket, tcp:// with TLS, or through an attached VM)."""

    _kinds = ("docker",)
    _type = "DockerEngine"

    @staticmethod
    def attach_configuration(
        endpoint: str = "",
        *,
        ssh_target: str = "",
        remote_socket: str = "",
        tls_ca: str | None = None,
        tls_cert: str | None = None,
        tls_key: str | None = None,
    ) -> ComputeTargetAttachConfiguration:
        return ComputeTargetAttachConfiguration(
            kind="docker",
            fields={
                "endpoint": endpoint,
                "ssh_target": ssh_target or None,
                "remote_socket": remote_socket or None,
                "tls_ca": tls_ca,
                "tls_cert": tls_cert,
                "tls_key": tls_key,
            },
        )


class ClusterCompute(ComputeTarget):
    """A cluster the portal creates: a Slurm head and nodes as containers on an engine,
    scaled between ``min_nodes`` and ``max_nodes`` by Slurm's power saving."""

    _kinds = ("slurm",)
    _type = "BatchAI"  # what the 2018 snippets compare ``ct.type`` with

    @staticmethod
    def provisioning_configuration(
        vm_size: str = "",
        vm_priority: str = "dedicated",
        min_nodes: int = 0,
        max_nodes: int = 4,
        idle_seconds_before_scaledown: int | None = None,
        *,
        engine: str | None = None,
        image: str | None = None,
        **_cloud_only: Any,
    ) -> ComputeTargetProvisioningConfiguration:
        if vm_priority not in ("dedicated", "lowpriority"):
            raise ComputeTargetException('vm_priority is "dedicated" or "lowpriority".')
        if not 0 <= int(min_nodes) <= int(max_nodes) or int(max_nodes) < 1:
            raise ComputeTargetException("Give 0 <= min_nodes <= max_nodes, and max_nodes >= 1.")
        fields: dict[str, Any] = {
            "mode": "create",
            "priority": vm_priority,
            "min_nodes": int(min_nodes),
            "max_nodes": int(max_nodes),
        }
        if idle_seconds_before_scaledown is not None:
            fields["idle_seconds"] = int(idle_seconds_before_scaledown)
        if image:
            fields["image"] = image  # else the portal's Slurm node image
        return ComputeTargetProvisioningConfiguration(
            kind="slurm",
            fields=fields,
            engine=engine,
            vm_size=vm_size or None,
            resolvers=[resolve_cluster_engine],
        )

    @staticmethod
    def create(
        workspace: Workspace, name: str, provisioning_configuration: TargetConfiguration
    ) -> ComputeTarget:
        return ComputeTarget.create(workspace, name, provisioning_configuration)


AmlCompute = ClusterCompute


class BatchAiCompute(ClusterCompute):
    """The 2018 name of a created cluster."""

    @staticmethod
    def provisioning_configuration(
        vm_size: str = "",
        vm_priority: str = "dedicated",
        autoscale_enabled: bool = False,
        cluster_min_nodes: int | None = None,
        cluster_max_nodes: int | None = None,
        **kwargs: Any,
    ) -> ComputeTargetProvisioningConfiguration:
        """Without autoscale the cluster keeps ``cluster_max_nodes`` (or min) nodes."""
        high = cluster_max_nodes or cluster_min_nodes or 1
        low = (cluster_min_nodes or 0) if autoscale_enabled else high
        return ClusterCompute.provisioning_configuration(
            vm_size=vm_size, vm_priority=vm_priority, min_nodes=low, max_nodes=high, **kwargs
        )


class SlurmCompute(ClusterCompute):
    """An existing Slurm cluster, reached through its login node over SSH."""

    @staticmethod
    def attach_configuration(
        address: str,
        ssh_port: int = 22,
        username: str = "",
        password: str | None = None,
        private_key_file: str | os.PathLike | None = None,
        private_key_passphrase: str | None = None,
        partition: str | None = None,
        *,
        host_key_fingerprint: str | None = None,
        known_hosts_line: str | None = None,
    ) -> ComputeTargetAttachConfiguration:
        fields = _ssh_fields(
            address=address,
            ssh_port=ssh_port,
            username=username,
            password=password,
            private_key_file=private_key_file,
            private_key_passphrase=private_key_passphrase,
            known_hosts_line=known_hosts_line,
        )
        return ComputeTargetAttachConfiguration(
            kind="slurm",
            fields={"mode": "attach", **fields, "partition": partition},
            host_key_fingerprint=host_key_fingerprint,
        )


__all__ = [
    "AmlCompute",
    "BatchAiCompute",
    "ClusterCompute",
    "ComputeTarget",
    "ComputeTargetAttachConfiguration",
    "ComputeTargetException",
    "ComputeTargetProvisioningConfiguration",
    "ContainerInstanceCompute",
    "DockerEngineCompute",
    "DsvmCompute",
    "LocalCompute",
    "RemoteCompute",
    "SlurmCompute",
]
