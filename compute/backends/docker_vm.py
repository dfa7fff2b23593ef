"""Create new VM: a long-lived container on an attached engine that then
behaves as a VM target (preflight and runs through ``docker exec``)."""

from django import forms
from django.conf import settings
from django.utils import timezone

from ..models import ComputeTarget
from . import docker as engines
from . import preflight
from .base import Backend, BackendError
from .docker_engine import DockerEngineBackend
from .docker_exec import ContainerExecMixin
from .docker_forms import ContainerLimitsForm, EngineSizes
from .runner import RunnerMixin

WORKDIR = "/portal"
# PID 1 of the VM: exits at once on SIGTERM so Stop is quick.
KEEP_ALIVE = ["/bin/sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"]


class DockerVMForm(ContainerLimitsForm):
    idle_minutes = forms.IntegerField(
        label="Idle shutdown (minutes)",
        required=False,
        min_value=1,
        help_text="Stop the VM after this many minutes without runs. Empty: never.",
    )

    def to_target(self):
        config = {**self.limits(), "workdir": WORKDIR}
        if self.cleaned_data.get("idle_minutes"):
            config["idle_minutes"] = self.cleaned_data["idle_minutes"]
        return {"name": self.cleaned_data["name"], "config": config}


def engine_of(target) -> ComputeTarget:
    engine = ComputeTarget.objects.filter(
        workspace_id=target.workspace_id, kind=DockerEngineBackend.kind, name=target.config.get("engine", "")
    ).first()
    if engine is None:
        raise BackendError(f"The engine {target.config.get('engine')} was detached.", permanent=True)
    return engine


class DockerVMBackend(EngineSizes, ContainerExecMixin, RunnerMixin, Backend):
    poll_interval = 0.25
    kind = "docker-vm"
    label = "Virtual machine (container)"
    description = "A new VM with CPU, memory and GPU limits, made on one of your Docker engines."
    icon = "hdd-rack"
    modes = ("create",)
    lifecycle = True
    can_run = True
    status_template = "compute/backends/_docker_vm_status.html"

    @classmethod
    def config_form(cls):
        return DockerVMForm

    @property
    def delete_consequence(self):
        return (
            f"The container on {self.target.config.get('engine')} is removed with every file inside it. "
            "This cannot be undone."
        )

    @property
    def workdir(self) -> str:
        return self.target.config.get("workdir") or WORKDIR

    @property
    def container_name(self) -> str:
        return f"portal-vm-{self.target.pk}-{self.target.name}"

    def connect(self, progress=lambda step: None):
        return engines.connect(engine_of(self.target), progress)

    def provision(self, progress):
        config = self.target.config
        with self.connect(progress) as engine:
            progress(f"Looking for the image {config['image']}")
            engine.require_image(config["image"])
            stale = engine.container(self.container_name, missing_ok=True)
            if stale is not None:  # a retry after a worker died mid-create
                engine.remove(stale)
            progress(
                f"Creating the container: {config['cpus']:g} CPUs, {config['memory_gb']:g} GB memory, "
                f"{config['gpus']} GPUs"
            )
            container = engine.create(
                owner=self.target.pk,
                name=self.container_name,
                image=config["image"],
                command=KEEP_ALIVE,
                cpus=config["cpus"],
                memory_gb=config["memory_gb"],
                gpus=config["gpus"],
            )
            self.target.config = {**config, "container": container.id}
            progress("Starting the container")
            try:
                engine.start(container)
            except BackendError:
                engine.remove(container)
                raise

    def check(self, progress):
        with self.connect(progress) as engine:
            container = self._container(engine)
            if container.status != "running":
                raise BackendError(f"The VM's container is {container.status}, not running.")
            progress("Preflight: OS, CPUs, memory, disk, Python, conda, docker, GPUs (docker exec)")
            _, out, _ = engine.exec(
                container, preflight.command(self.workdir), timeout=settings.PREFLIGHT_TIMEOUT
            )
            caps = preflight.parse(out, workdir=self.workdir)
        # The container sees the host's CPUs; its limits are what a run gets.
        caps.update(
            cpus=self.target.config["cpus"],
            memory_mb=int(self.target.config["memory_gb"] * 1024),
            engine=self.target.config["engine"],
            image=self.target.config["image"],
        )
        return caps

    def stop(self, progress):
        with self.connect(progress) as engine:
            progress("Stopping the container")
            engine.stop(self._container(engine), timeout=int(settings.DOCKER_TIMEOUT // 3))

    def start(self, progress):
        with self.connect(progress) as engine:
            progress("Starting the container")
            engine.start(self._container(engine))

    def deprovision(self, progress):
        if not self.target.config.get("container"):
            progress("No container was made: nothing to remove")
            return
        try:
            engine_target = engine_of(self.target)
        except BackendError:
            progress("The engine was detached: nothing left to remove")
            return
        with engines.connect(engine_target, progress) as engine:
            container = engine.container(self._container_ref(), missing_ok=True)
            if container is not None:
                progress("Removing the container and its files")
                engine.remove(container)

    def fetch_outputs(self, handle, dest, **kwargs):
        """A run just ended here: idle shutdown counts from now."""
        try:
            return super().fetch_outputs(handle, dest, **kwargs)
        finally:
            type(self.target).objects.filter(pk=self.target.pk).update(last_used_at=timezone.now())

    # ---- for the run primitives (docker_exec.py) ----------------------------------
    def _open_engine(self):
        return engines.open_engine(engine_of(self.target))

    def _exec_container(self, engine):
        return engine.container(self._container_ref())

    def _container_ref(self) -> str:
        return self.target.config.get("container") or self.container_name

    def _container(self, engine):
        return engine.container(self._container_ref())
