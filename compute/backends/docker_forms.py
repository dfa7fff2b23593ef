"""The form shared by the kinds that put containers on an attached engine."""

from django import forms

from ..forms import TargetForm
from .docker_engine import DockerEngineBackend, usable_engines


class ContainerLimitsForm(TargetForm):
    engine = forms.ChoiceField(help_text="An attached Docker engine that passed its check.")
    cpus = forms.FloatField(label="CPU cores", min_value=0.1, initial=1)
    memory_gb = forms.FloatField(label="Memory (GB)", min_value=0.1, initial=2)
    gpus = forms.IntegerField(label="GPUs", min_value=0, initial=0)
    image = forms.CharField(
        label="Base image",
        max_length=255,
        help_text="An image present on the engine (never pulled). It needs python3 to run scripts.",
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
        if images and not self.is_bound:
            self.fields["image"].initial = images[0]

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
            self.add_error(
                "image", f"{image} is not on {engine.name} (images are never pulled): build or load it first."
            )
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
