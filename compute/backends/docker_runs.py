"""Docker-enabled runs: the environment becomes an image (base image + the pip
spec, tagged by the spec hash, reused), and the run executes in a fresh
container of it on the engine that belongs to the run's target: this
machine's engine for the local computer, the engine reached through an SSH VM
for that VM, the target's own engine for container instances and created VMs.
"""

from ..models import ComputeTarget, TargetState
from . import docker as engines
from .base import BackendError
from .docker_instance import ContainerInstanceBackend
from .docker_vm import engine_of


def engine_for(target) -> ComputeTarget:
    """The engine a docker-enabled run on ``target`` uses."""
    if target.kind in ("docker-vm", "container"):
        return engine_of(target)
    engines_here = ComputeTarget.objects.filter(
        workspace_id=target.workspace_id,
        kind="docker",
        state__in=[TargetState.SUCCEEDED, TargetState.UNREACHABLE],
    )
    if target.kind == "local":
        engine = engines_here.filter(config__endpoint__startswith="unix://").first()
    elif target.kind == "ssh":
        engine = engines_here.filter(config__ssh_target=target.name).first()
    else:
        engine = None
    if engine is None:
        raise BackendError(
            f"Use Docker needs a Docker engine on {target.name}: attach it first "
            "(Add compute → Use existing → Docker engine"
            + (", through this VM)." if target.kind == "ssh" else ", unix:// socket).")
            if target.kind in ("local", "ssh")
            else f"Use Docker is not available on {target.kind_label} targets.",
            permanent=True,
        )
    return engine


def run_backend_key(target, environment: dict) -> tuple:
    """Runs with equal keys go through one backend (one connection, one batched poll)."""
    docker = environment.get("docker")
    if not docker and not (target.kind == "container" and environment.get("kind") == "pip"):
        return (target.pk,)
    return (target.pk, environment.get("base_image", ""), environment.get("hash", ""))


def backend_for_run(target, environment: dict):
    """The backend a run executes through: the target's own, or containers of
    the environment's image when the run uses Docker. A container instance
    builds pip environments into images too (its containers do not last)."""
    docker = environment.get("docker")
    if not docker and not (target.kind == "container" and environment.get("kind") == "pip"):
        return target.backend
    base = environment.get("base_image") if docker else target.config["image"]
    if environment.get("kind") == "pip":
        return DockerRunBackend(
            target, base_image=base, requirements=environment["requirements"], spec_hash=environment["hash"]
        )
    return DockerRunBackend(target, base_image=base, requirements=None, spec_hash="")


class DockerRunBackend(ContainerInstanceBackend):
    """Runs of ``target`` in containers of an environment image on its engine.
    Without requirements the base image itself is used."""

    builds_images = True

    def __init__(self, target, *, base_image: str, requirements: str | None, spec_hash: str):
        super().__init__(target)
        self.engine_target = engine_for(target)
        self.base_image = base_image
        self.requirements = requirements
        self.tag = base_image if requirements is None else engines.env_image_tag(base_image, spec_hash)
        limits = (
            {k: target.config[k] for k in ("cpus", "memory_gb", "gpus")}
            if target.kind == "container"
            else {"cpus": 0, "memory_gb": 0, "gpus": 0}
        )
        self._run_config = {**limits, "image": self.tag}

    @property
    def run_config(self):
        return self._run_config

    def _engine_target(self):
        return self.engine_target

    def prepare_image(self, on_line) -> str:
        """Build the environment image unless it exists: "hit", "built", or
        "base" when the base image is used as it is."""
        engine, _ = self._engine_only()
        if self.requirements is None:
            engine.require_image(self.base_image)
            return "base"
        from compute import package_index

        return engine.build_env_image(
            base=self.base_image,
            requirements=self.requirements,
            tag=self.tag,
            on_line=on_line,
            index=package_index.for_target(self.target),
        )
