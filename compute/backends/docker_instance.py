"""Container instance: every run gets a fresh container with these limits."""

from . import docker as engines
from .base import Backend
from .docker_forms import ContainerLimitsForm
from .docker_vm import engine_of


class ContainerInstanceForm(ContainerLimitsForm):
    def to_target(self):
        return {"name": self.cleaned_data["name"], "config": self.limits()}


class ContainerInstanceBackend(Backend):
    kind = "container"
    label = "Container instance"
    description = "Each run in a fresh container with fixed CPU, memory and GPU limits, removed afterwards."
    icon = "box"
    modes = ("create",)

    @classmethod
    def config_form(cls):
        return ContainerInstanceForm

    @property
    def workdir(self) -> str:
        return "/portal"

    def connect(self, progress=lambda step: None):
        return engines.connect(engine_of(self.target), progress)

    @classmethod
    def summary(cls, capabilities):
        return (
            f"Check passed: engine {capabilities['engine']} reachable, image {capabilities['image']} present; "
            f"each run gets {capabilities['cpus']:g} CPUs, {capabilities['memory_mb'] / 1024:g} GB memory, "
            f"{capabilities['gpu_count']} GPUs."
        )

    def provision(self, progress):
        """Nothing to make up front: containers come with runs."""

    def check(self, progress):
        config = self.target.config
        with self.connect(progress) as engine:
            progress(f"Looking for the image {config['image']}")
            engine.require_image(config["image"])
            info = engine.info()
        return {
            "engine": config["engine"],
            "engine_version": info["engine_version"],
            "image": config["image"],
            "cpus": config["cpus"],
            "memory_mb": int(config["memory_gb"] * 1024),
            "gpu_count": config["gpus"],
            "gpus": [],
            "os": info["os"],
            "arch": info["arch"],
        }

    def deprovision(self, progress):
        """Remove what runs left behind (containers kept after a failure)."""
        try:
            engine_target = engine_of(self.target)
        except Exception:
            return
        with engines.connect(engine_target, progress) as engine:
            for container in engine.labelled(self.target.pk):
                progress(f"Removing the kept container {container.name}")
                engine.remove(container)
