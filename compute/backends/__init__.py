"""Compute backends: one module per kind, a plain registry, imported lazily."""

from importlib import import_module

# kind -> dotted path of its Backend class. Order is the order of the "+ Add" page.
BACKENDS = {
    "local": "compute.backends.local.LocalBackend",
    "ssh": "compute.backends.ssh.SSHBackend",
    "docker-vm": "compute.backends.docker_vm.DockerVMBackend",
    "container": "compute.backends.docker_instance.ContainerInstanceBackend",
    "docker": "compute.backends.docker_engine.DockerEngineBackend",
    "slurm": "compute.backends.slurm.SlurmBackend",
}


def get_backend(kind: str):
    try:
        path = BACKENDS[kind]
    except KeyError:
        raise LookupError(f"Unknown compute kind {kind!r}.") from None
    module, _, name = path.rpartition(".")
    return getattr(import_module(module), name)


def kind_label(kind: str) -> str:
    try:
        return get_backend(kind).label
    except LookupError:
        return kind


def addable_backends():
    """Backends a user can add from the "+ Add compute" page, in registry order."""
    return [cls for cls in map(get_backend, BACKENDS) if cls.modes]


def backends_by_mode() -> dict[str, list]:
    """{"create": [...], "attach": [...]}: the two columns of the "+ Add compute" page."""
    backends = addable_backends()
    return {mode: [b for b in backends if mode in b.modes] for mode in ("create", "attach")}


def runnable_kinds() -> list[str]:
    """Kinds whose targets run scripts (they implement the run contract)."""
    return [kind for kind in BACKENDS if get_backend(kind).can_run]


def cluster_kinds() -> list[str]:
    """Kinds whose targets have nodes the portal follows (clusters)."""
    return [kind for kind in BACKENDS if get_backend(kind).has_nodes]
