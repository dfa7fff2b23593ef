"""Container instance: every run gets a fresh container with these limits.

The run's container is made at launch (its name comes from the run key, so a
second launch of the same run finds it and starts nothing), the snapshot is
copied in, the shared run scripts of runner.py do the rest through ``docker
exec``. When the run ends the container is removed, or stopped and kept for
``DOCKER_KEEP_FAILED_MINUTES`` when it failed (a beat task removes it later).
"""

from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath

from django.conf import settings

from . import docker as engines
from .base import Backend, BackendError, RunState
from .docker_exec import ContainerExecMixin
from .docker_forms import ContainerLimitsForm, EngineSizes
from .docker_vm import KEEP_ALIVE, engine_of
from .runner import RunnerMixin

WORKDIR = "/portal"
OOM_EXIT = 137
# How many times the kernel's OOM killer struck in this container (cgroup v1 or v2).
OOM_KILLS = r"""
for f in /sys/fs/cgroup/memory/memory.oom_control /sys/fs/cgroup/memory.events; do
  [ -r "$f" ] && awk '$1 == "oom_kill" {print $2}' "$f" && exit 0
done
echo 0
"""


class ContainerInstanceForm(ContainerLimitsForm):
    def to_target(self):
        return {"name": self.cleaned_data["name"], "config": self.limits()}


def run_container_name(key: str) -> str:
    return f"portal-run-{key}"


class ContainerInstanceBackend(EngineSizes, ContainerExecMixin, RunnerMixin, Backend):
    kind = "container"
    label = "Container instance"
    description = "Each run in a fresh container with fixed CPU, memory and GPU limits, removed afterwards."
    icon = "box"
    modes = ("create",)
    can_run = True
    status_template = "compute/backends/_container_status.html"

    def __init__(self, target):
        super().__init__(target)
        self._snapshot = None
        self._last_state = None

    @classmethod
    def config_form(cls):
        return ContainerInstanceForm

    @property
    def delete_consequence(self):
        return (
            "The portal forgets this container instance and removes the containers kept from "
            f"failed runs on {self.target.config.get('engine')}."
        )

    @property
    def workdir(self) -> str:
        return WORKDIR

    def connect(self, progress=lambda step: None):
        return engines.connect(engine_of(self.target), progress)

    @property
    def run_config(self) -> dict:
        """Image and limits each run's container gets."""
        return self.target.config

    def _engine_target(self):
        return engine_of(self.target)

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
        except BackendError:
            return
        with engines.connect(engine_target, progress) as engine:
            for container in engine.labelled(self.target.pk):
                progress(f"Removing the kept container {container.name}")
                engine.remove(container)

    # ---- runs: one container each --------------------------------------------------
    def _open_engine(self):
        return engines.open_engine(self._engine_target())

    def _exec_container(self, engine):
        raise BackendError("No run container is selected.")

    def ensure_snapshot(self, sha256, archive, *, tree_digest=""):
        """The snapshot goes into the run's own container, made at launch."""
        self._snapshot = (sha256, archive, tree_digest)
        return True

    def launch(self, spec):
        engine, _ = self._engine_only()
        name = run_container_name(spec.key)
        existing = engine.container(name, missing_ok=True)
        if existing is not None:  # launched before: the run folder inside says so
            self._box = existing
            return super().launch(spec)
        config = self.run_config
        container = engine.create(
            owner=self.target.pk,
            name=name,
            image=config["image"],
            command=KEEP_ALIVE,
            cpus=config["cpus"],
            memory_gb=config["memory_gb"],
            gpus=config["gpus"],
            labels={engines.RUN_LABEL: spec.key},
        )
        try:
            engine.start(container)
            self._box = container
            if self._snapshot is None:
                raise BackendError("The snapshot was not prepared before the launch.")
            sha256, archive, digest = self._snapshot
            RunnerMixin.ensure_snapshot(self, sha256, archive, tree_digest=digest)
            return {**super().launch(spec), "container": name}
        except BackendError:
            engine.remove(container)
            raise

    poll_interval = 0.5

    def poll(self, handles, *, known=None):
        """One container per run: one exec each."""
        known = known or [set() for _ in handles]
        states = []
        for handle, seen in zip(handles, known, strict=True):
            try:
                self._select(handle)
            except BackendError as exc:
                if not exc.permanent:
                    raise
                states.append(RunState(missing=True))  # the container is gone
                continue
            state = super().poll([handle], known=[seen])[0]
            if state.exit_code == OOM_EXIT and not state.canceled and self._oom_killed():
                state.failure = (
                    f"killed: out of memory (the container's limit is {self.run_config['memory_gb']:g} GB)"
                )
            self._last_state = state
            states.append(state)
        return states

    def read_logs(self, handle, offsets, sizes=None):
        self._select(handle)
        return super().read_logs(handle, offsets, sizes)

    def cancel(self, handle):
        self._select(handle)
        super().cancel(handle)

    def fetch_outputs(self, handle, dest, **kwargs):
        """Outputs out, then the container goes (or is kept, stopped, after a failure)."""
        self._select(handle)
        try:
            return super().fetch_outputs(handle, dest, **kwargs)
        finally:
            self._dispose()

    def _dispose(self):
        engine, container = self._engine, self._box
        state = self._last_state
        failed = state is not None and not state.canceled and state.exit_code != 0
        self._box = None
        if failed:
            engine.stop(container, timeout=2)
        else:
            engine.remove(container)

    def _oom_killed(self) -> bool:
        rc, out, _ = self._sh(OOM_KILLS, [])
        return rc == 0 and out.strip().isdigit() and int(out.strip()) > 0

    def _engine_only(self):
        if self._engine is None:
            self._engine = self._open_engine()
        return self._engine, self._box

    def _select(self, handle):
        name = run_container_name(PurePosixPath(handle["run_dir"]).name)
        engine, box = self._engine_only()
        if box is None or box.name != name:
            self._box = engine.container(name)


def remove_expired_run_containers(engine_target, *, now=None) -> list[str]:
    """Remove run containers kept after a failure once their time is up."""
    now = now or datetime.now(UTC)
    keep = timedelta(minutes=settings.DOCKER_KEEP_FAILED_MINUTES)
    removed = []
    with engines.connect(engine_target) as engine:
        for container in engine.run_containers():
            finished = _parse_time(container.attrs.get("State", {}).get("FinishedAt", ""))
            if container.status == "exited" and finished and now - finished > keep:
                engine.remove(container)
                removed.append(container.name)
    return removed


def _parse_time(text: str):
    try:
        return datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None
