"""Clusters: real Slurm, attached over SSH or created as containers on a Docker engine.

One kind, ``slurm``, in two modes (``config["mode"]``): "attach" reaches an
existing cluster's login node over SSH (the VM kind's connection, host-key
pinning and credentials), "create" makes a cluster on an attached engine
(slurm_cluster.py). Either way Slurm queues, places, preempts and scales; the
portal submits with ``sbatch``, follows with ``squeue``/``sacct`` and cancels
with ``scancel`` (slurm_jobs.py), and never changes an attached cluster's
configuration.
"""

import shlex

from django.db.models import Count

from .base import Backend, BackendError
from .slurm_forms import DEFAULT_IMAGE, ClusterPages  # noqa: F401 (the image's name is the form's default)
from .slurm_jobs import SlurmRunnerMixin
from .ssh import SSHBackend

# Version, partitions, nodes, and whether accounting answers: read-only commands.
DISCOVER = r"""
wd="$1"
v=$(sinfo -V 2>&1) || { echo "nosinfo=$(printf '%s' "$v" | tail -n 1 | head -c 300)"; exit 0; }
echo "version=$(printf '%s' "$v" | head -n 1 | head -c 100)"
sinfo -h -a -o 'p %P|%a|%l|%D|%c|%m|%G' 2>&1 | head -n 200
sinfo -h -N -a -o 'n %N|%T|%c|%m|%G|%P|%E' 2>&1 | head -n 2000
if out=$(sacct -n -X -S now-1minutes 2>&1); then echo "sacct=yes"
else echo "sacct=no $(printf '%s' "$out" | tail -n 1 | head -c 200)"; fi
if mkdir -p "$wd" 2>/dev/null && [ -w "$wd" ]; then echo "workdir=$(cd "$wd" && pwd)"; else echo "workdir-unwritable=$wd"; fi
command -v python3 >/dev/null 2>&1 && echo "python=$(python3 -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>&1 | head -c 40)"
exit 0
"""


def parse_discovery(output: str) -> dict:
    """Capabilities of a cluster from DISCOVER's output; BackendError when it is not Slurm."""
    caps: dict = {"partitions": [], "nodes": [], "sacct": False}
    nodes: dict[str, dict] = {}
    for line in output.splitlines():
        if line.startswith("nosinfo="):
            raise BackendError(
                f"sinfo does not run on the login node ({line[8:] or 'not found'}): is this a Slurm cluster, "
                "and is Slurm on the PATH of a non-interactive shell?",
                permanent=True,
            )
        if line.startswith("version="):
            caps["slurm_version"] = (
                line[8:].removeprefix("slurm").strip().split()[-1] if line[8:].strip() else ""
            )
        elif line.startswith("p "):
            name, available, limit, count, cpus, memory, gres = (line[2:].split("|") + [""] * 7)[:7]
            caps["partitions"].append(
                {
                    "name": name.rstrip("*"),
                    "default": name.endswith("*"),
                    "available": available == "up",
                    "time_limit": limit,
                    "nodes": _int(count),
                    "cpus": cpus,
                    "memory_mb": memory,
                    "gres": "" if gres == "(null)" else gres,
                }
            )
        elif line.startswith("n "):
            name, state, cpus, memory, gres, partition, reason = (line[2:].split("|") + [""] * 7)[:7]
            node = nodes.setdefault(
                name,
                {
                    "name": name,
                    "state": state,
                    "cpus": _int(cpus),
                    "memory_mb": _int(memory),
                    "gres": "" if gres == "(null)" else gres,
                    "partitions": [],
                    "reason": "" if reason == "none" else reason,
                },
            )
            node["partitions"].append(partition.rstrip("*"))
        elif line.startswith("sacct="):
            caps["sacct"] = line[6:].startswith("yes")
            if not caps["sacct"]:
                caps["sacct_note"] = line[9:].strip()
        elif line.startswith("workdir="):
            caps["workdir"] = line[8:]
        elif line.startswith("workdir-unwritable="):
            raise BackendError(
                f"The working directory {line[19:]} cannot be created or written.", permanent=True
            )
        elif line.startswith("python="):
            caps["python"] = line[7:]
    caps["nodes"] = list(nodes.values())
    if not caps["partitions"]:
        raise BackendError(
            "Slurm answered but lists no partitions: runs would have nowhere to go.", permanent=True
        )
    return caps


def _int(text: str) -> int | None:
    text = text.strip().rstrip("+")
    return int(text) if text.isdigit() else None


class SlurmBackend(ClusterPages, Backend):
    """The kind as the registry, the "+ Add" page and the API see it; a target
    gets the class of its mode (AttachedSlurm or CreatedSlurm)."""

    kind = "slurm"
    label = "Cluster"
    description = (
        "A Slurm cluster: create one as containers on a Docker engine (it scales with its queue), "
        "or attach an existing one through its login node."
    )
    icon = "diagram-3"
    modes = ("create", "attach")
    secret_fields = {"password": "Password", "private_key": "Private key", "passphrase": "Key passphrase"}
    multiline_secrets = frozenset({"private_key"})
    can_run = True
    status_template = "compute/backends/_slurm_status.html"

    def __new__(cls, target=None):
        if cls is SlurmBackend and target is not None:
            cls = CreatedSlurm if creates_cluster(target.config) else AttachedSlurm
        return super().__new__(cls)

    @classmethod
    def config_form(cls):
        from .slurm_forms import SlurmConfigForm

        return SlurmConfigForm

    @classmethod
    def creates(cls, config: dict) -> bool:
        return creates_cluster(config)

    @classmethod
    def summary(cls, capabilities: dict) -> str | None:
        if "partitions" not in capabilities:
            return None
        parts = [p["name"] for p in capabilities["partitions"]]
        nodes = len(capabilities.get("nodes") or [])
        accounting = (
            "accounting on" if capabilities.get("sacct") else "no accounting (job states from squeue)"
        )
        return (
            f"Slurm {capabilities.get('slurm_version', '?')}: partitions {', '.join(parts)}; "
            f"{nodes} node{'s' if nodes != 1 else ''}; {accounting}."
        )

    @classmethod
    def sizes(cls, workspace) -> list[dict]:
        """The node sizes (catalogue: installation-wide and the workspace's own) each
        usable engine holds."""
        from ..models import NodeSize
        from .docker_engine import usable_engines

        catalogue = list(
            NodeSize.objects.filter(workspace__isnull=True) | NodeSize.objects.filter(workspace=workspace)
        )
        sizes = []
        for engine in usable_engines(workspace):
            caps = engine.capabilities
            for size in catalogue:
                if caps.get("cpus") and size.cpu_cores > caps["cpus"]:
                    continue
                if caps.get("memory_mb") and size.memory_gb * 1024 > caps["memory_mb"]:
                    continue
                if size.gpus and not caps.get("gpu_runtime"):
                    continue
                sizes.append(
                    {
                        "name": size.name,
                        "engine": engine.name,
                        "cpu_cores": size.cpu_cores,
                        "memory_gb": size.memory_gb,
                        "gpus": size.gpus,
                        "fields": {"engine": engine.name, "size": size.name},
                    }
                )
        return sizes

    has_nodes = True

    def follow_cluster(self) -> None:
        """An attached cluster is only observed: the portal never changes it."""
        from .. import clusters

        clusters.observe(self.target, self._sh)

    def queue_reason(self, run) -> str | None:
        return None  # a cluster takes every run at once: Slurm queues it (see the poll's note)

    def node_counts(self) -> dict[str, int]:
        return dict(self.target.nodes.values_list("state").annotate(n=Count("pk")).values_list("state", "n"))


def creates_cluster(config: dict) -> bool:
    return (config or {}).get("mode") == "create"


class AttachedSlurm(SlurmRunnerMixin, SlurmBackend, SSHBackend):
    """An existing cluster through its login node: SSH as for VMs, Slurm commands there."""

    kind = "slurm"
    label = "Cluster"
    modes = SlurmBackend.modes
    status_template = SlurmBackend.status_template
    poll_interval = 2.0

    def check(self, progress):
        with self.session(progress) as session:
            progress("Discovering Slurm: version, partitions, nodes, accounting")
            _, out, err = session.run(shlex.join(["/bin/sh", "-c", DISCOVER, "sh", self.workdir]), timeout=60)
        caps = parse_discovery(out)
        partition = self.target.config.get("partition") or ""
        names = [p["name"] for p in caps["partitions"]]
        if partition and partition not in names:
            raise BackendError(
                f"The partition {partition} does not exist on this cluster (it has: {', '.join(names)}).",
                permanent=True,
            )
        return caps

    @property
    def delete_consequence(self) -> str:
        return f"The portal forgets {self.target.name}; the cluster itself is not changed."


class CreatedSlurm(SlurmRunnerMixin, SlurmBackend):
    """A cluster the portal made on a Docker engine: head and nodes are containers."""

    kind = "slurm"
    label = "Cluster"
    lifecycle = False
    detachable = False
    poll_interval = 2.0

    @property
    def cluster(self):
        from .slurm_cluster import CreatedCluster

        if getattr(self, "_cluster", None) is None:
            self._cluster = CreatedCluster(self.target)
        return self._cluster

    @property
    def workdir(self) -> str:
        return self.cluster.workdir

    def provision(self, progress):
        self.cluster.provision(progress)

    def deprovision(self, progress):
        self.cluster.deprovision(progress)

    def resize(self, progress, *, min_nodes, max_nodes, idle_seconds):
        self.cluster.resize(progress, min_nodes=min_nodes, max_nodes=max_nodes, idle_seconds=idle_seconds)

    def check(self, progress):
        progress("Discovering Slurm in the head container")
        rc, out, err = self._sh(DISCOVER, [self.workdir], timeout=60)
        if rc != 0:
            raise BackendError(f"The head container did not answer: {(err or out).strip()[:300]}")
        return parse_discovery(out)

    @property
    def delete_consequence(self) -> str:
        return (
            f"The portal drains {self.target.name}, then removes its head and node containers, its network "
            "and its volumes (the shared folder with every run's files) from the engine. Its runs' logs, "
            "metrics and collected outputs stay in the portal."
        )

    def scaling_note(self) -> str:
        counts = self.node_counts()
        preparing = counts.get("preparing", 0)
        if not preparing:
            return ""
        up = sum(n for state, n in counts.items() if state not in ("off", "preparing", "unusable"))
        return f" — Slurm is starting a node ({up} → {up + preparing})"

    # ---- runner.py's primitives, through the head container ----------------------
    def _sh(self, script, args, *, timeout=None):
        return self.cluster._sh(script, args, timeout=timeout or self.command_timeout)

    def _put_snapshot(self, sha256, archive):
        return self.cluster._put_snapshot(sha256, archive)

    def _read(self, path, offset, limit):
        return self.cluster._read(path, offset, limit)

    def _fetch(self, path, dest):
        self.cluster._fetch(path, dest)

    def follow_cluster(self) -> None:
        self.cluster.follow()

    def close(self):
        if getattr(self, "_cluster", None) is not None:
            self._cluster.close()
