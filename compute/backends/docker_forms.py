"""The form shared by the kinds that put containers on an attached engine."""

import math

from django import forms

from ..forms import TargetForm
from . import docker as engines_sdk
from .base import BackendError
from .docker_engine import DockerEngineBackend, usable_engines

IMAGE_HELP = "An image present on the engine (never pulled). It needs python3 to run scripts."


class ContainerLimitsForm(TargetForm):
    engine = forms.ChoiceField(help_text="An attached Docker engine that passed its check.")
    cpus = forms.FloatField(label="CPU cores", min_value=0.1, initial=1)
    memory_gb = forms.FloatField(label="Memory (GB)", min_value=0.1, initial=2)
    gpus = forms.IntegerField(label="GPUs", min_value=0, initial=0)
    image = forms.CharField(
        label="Base image",
        max_length=255,
        help_text=IMAGE_HELP,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        engines = usable_engines(self.workspace)
        if self.instance is not None:  # a saved target keeps its engine, whatever its state now
            engines = engines | engines.model.objects.filter(
                workspace=self.workspace,
                kind=DockerEngineBackend.kind,
                name=self.instance.config.get("engine", ""),
            )
        self.engines = {engine.name: engine for engine in engines}
        self.fields["engine"].choices = [(name, name) for name in self.engines]
        if not self.engines:
            self.fields["engine"].help_text = "No engine yet: attach a Docker engine first."
        images = sorted({i for e in self.engines.values() for i in e.capabilities.get("images", [])})
        self.fields["image"].widget.attrs["list"] = "engine-images"
        self.image_choices = images
        python = python_image(images)
        if python:
            self.fields[
                "image"
            ].help_text = f"{IMAGE_HELP} {python} looks like a Python image: chosen for you."
        if images and not self.is_bound:
            self.fields["image"].initial = python or images[0]

    def clean(self):
        data = super().clean()
        engine = self.engines.get(data.get("engine"))
        if engine is None:
            return data
        caps = engine.capabilities
        if data.get("cpus") and caps.get("cpus") and data["cpus"] > caps["cpus"]:
            self.add_error("cpus", f"{engine.name} has {caps['cpus']} CPUs.")
        memory_mb = caps.get("memory_mb")
        if data.get("memory_gb") and memory_mb and data["memory_gb"] * 1024 > memory_mb:
            self.add_error("memory_gb", f"{engine.name} has {memory_mb / 1024:.1f} GB of memory.")
        if data.get("gpus") and not caps.get("gpu_runtime"):
            self.add_error("gpus", f"{engine.name} has no GPU runtime (nvidia): choose 0 GPUs.")
        image = data.get("image", "").strip()
        if image and caps.get("images") and image not in caps["images"]:
            problem = image_missing(engine, image)
            if problem:
                self.add_error("image", problem)
        return data

    def limits(self) -> dict:
        data = self.cleaned_data
        return {
            "engine": data["engine"],
            "cpus": data["cpus"],
            "memory_gb": data["memory_gb"],
            "gpus": data["gpus"],
            "image": data["image"].strip(),
        }


def python_image(images: list[str]) -> str:
    """The first image whose name says Python: scripts need python3 in the base image."""
    return next((image for image in images if "python" in image.lower()), "")


def image_missing(engine, image: str) -> str:
    """Why ``image`` cannot be used on ``engine``, or "" when it is there. The
    stored list is from the engine's last check: an image built since is looked
    up on the engine itself, and remembered."""
    try:
        with engines_sdk.connect(engine) as client:
            present = client.has_image(image)
    except BackendError as exc:
        return (
            f"{image} is not in {engine.name}'s image list from its last check, and the engine "
            f"cannot be asked now ({exc.message}). Re-check {engine.name} once it is reachable."
        )
    if not present:
        return f"{image} is not on {engine.name} (images are never pulled): build or load it first."
    engine.capabilities = {**engine.capabilities, "images": sorted({*engine.capabilities["images"], image})}
    engine.save(update_fields=["capabilities"])
    return ""


# The sizes each engine offers, like a cloud's VM sizes: general-purpose (2 GB per
# core) and memory-optimised (8 GB per core), plus the whole engine. An engine
# offers those its CPUs and memory hold, which is what the form accepts.
SIZE_CORES = (1, 2, 4, 8, 16, 32, 64)
SIZE_GB_PER_CORE = (2, 8)


def engine_sizes(form: ContainerLimitsForm) -> list[dict]:
    """Sizes on the engines the form offers (its ``engine`` choices), within each one's capabilities."""
    sizes = []
    for engine in form.engines.values():
        caps = engine.capabilities
        cores_max = caps.get("cpus") or 0
        memory_max = math.floor((caps.get("memory_mb") or 0) / 1024 * 2) / 2  # whole half-GBs
        shapes = [(c, c * g) for c in SIZE_CORES for g in SIZE_GB_PER_CORE]
        shapes = [(c, m) for c, m in shapes if c <= cores_max and m <= memory_max]
        if cores_max and memory_max and (cores_max, memory_max) not in shapes:
            shapes.append((cores_max, memory_max))
        gpu_counts = (0, 1) if caps.get("gpu_runtime") else (0,)
        for cores, memory in shapes:
            for gpus in gpu_counts:
                sizes.append(_size(engine.name, cores, memory, gpus))
    return sizes


def _size(engine: str, cores: int, memory_gb: float, gpus: int) -> dict:
    name = f"c{cores}-m{memory_gb:g}" + (f"-g{gpus}" if gpus else "")
    return {
        "name": name,
        "engine": engine,
        "cpu_cores": cores,
        "memory_gb": memory_gb,
        "gpus": gpus,
        "fields": {"engine": engine, "cpus": cores, "memory_gb": memory_gb, "gpus": gpus},
    }


class EngineSizes:
    """For kinds whose form is a ContainerLimitsForm: their sizes come from its engines."""

    @classmethod
    def sizes(cls, workspace) -> list[dict]:
        return engine_sizes(cls.config_form()(workspace=workspace))
