"""A created Slurm cluster: a head and node containers on an attached Docker engine.

What it makes, all named ``portal-cl-<cluster id>-…`` and labelled with the
cluster id (``io.portal.cluster``) so that deleting removes exactly that:

    network   portal-cl-<id>            private bridge; containers reach each other by hostname
    volumes   portal-cl-<id>-munge      /etc/munge: the cluster's munge key, made by the head
              portal-cl-<id>-shared     /shared (1777) on every container: the run folders
    head      portal-cl-<id>-head       slurmctld (hostname "head"), slurm.conf in /etc/slurm
    nodes     portal-cl-<id>-node<N>    slurmd, configless from the head, with the size's limits

Slurm decides when cloud nodes power up and down (slurm_conf.py); the
reconciler (compute/clusters.py, on beat) calls ``reconcile()`` to make the
containers follow. The run primitives (``_sh``, ``_put_snapshot``, ``_read``,
``_fetch``) run in the head through ``docker exec``; ``/shared`` is the workdir.
"""

import logging
import secrets
import time

from ..models import NodeSize
from . import docker as engines
from . import slurm_conf
from .base import BackendError
from .docker_exec import ContainerExecMixin
from .docker_vm import engine_of
from .slurm_conf import POWERING_UP, NodeSeen

log = logging.getLogger(__name__)

DEFAULT_IMAGE = "localhost/portal-slurm:22.05"
CLUSTER_LABEL = "io.portal.cluster"
SHARED = "/shared"
START = "/usr/local/sbin/portal-slurm-start"
HEAD_MEMORY_GB = 1.0
# Replaces slurm.conf at once (a reader never sees half a file).
WRITE_CONF = (
    'printf "%s" "$1" > /etc/slurm/slurm.conf.new && mv /etc/slurm/slurm.conf.new /etc/slurm/slurm.conf'
)
READY_TIMEOUT = 60.0  # seconds for slurmctld to answer, and for the minimum nodes to register


class CreatedCluster(ContainerExecMixin):
    """The created cluster of a ``slurm`` target in create mode."""

    workdir = SHARED
    command_timeout = 60.0

    def __init__(self, target):
        self.target = target

    # ---- names --------------------------------------------------------------------
    @property
    def config(self) -> dict:
        return self.target.config

    @property
    def cluster_id(self) -> str:
        return self.config.get("cluster_id", "")

    @property
    def prefix(self) -> str:
        return f"portal-cl-{self.cluster_id}"

    @property
    def network_name(self) -> str:
        return self.prefix

    @property
    def munge_volume(self) -> str:
        return f"{self.prefix}-munge"

    @property
    def shared_volume(self) -> str:
        return f"{self.prefix}-shared"

    @property
    def head_name(self) -> str:
        return f"{self.prefix}-head"

    def node_container_name(self, node: str) -> str:
        return f"{self.prefix}-{node}"

    @property
    def label(self) -> str:
        return f"{CLUSTER_LABEL}={self.cluster_id}"

    @property
    def area(self) -> str:
        """The workspace's folder on the shared volume (as runner.py's)."""
        return f"{SHARED}/ws-{self.target.workspace_id}"

    @property
    def image(self) -> str:
        return self.config.get("image") or DEFAULT_IMAGE

    # ---- the shape: size and node counts --------------------------------------------
    def node_size(self) -> dict:
        """The size each node gets: fixed at creation (editing the catalogue later changes nothing)."""
        if self.config.get("node"):
            return self.config["node"]
        name = self.config.get("size", "")
        size = (
            NodeSize.objects.filter(workspace_id=self.target.workspace_id, name=name).first()
            or NodeSize.objects.filter(workspace=None, name=name).first()
        )
        if size is None:
            raise BackendError(f"The node size {name!r} is not in the catalogue.", permanent=True)
        return {"cpus": size.cpu_cores, "memory_gb": size.memory_gb, "gpus": size.gpus}

    def shape(self, **changes) -> slurm_conf.ClusterShape:
        size = self.node_size()
        values = {
            "min_nodes": int(self.config.get("min_nodes", 0)),
            "max_nodes": int(self.config.get("max_nodes", 1)),
            "idle_seconds": int(self.config.get("idle_seconds", 300)),
            "priority": self.config.get("priority") or "dedicated",
            **changes,
        }
        return slurm_conf.ClusterShape(
            name=f"c{self.target.pk}",
            cpus=size["cpus"],
            memory_mb=int(size["memory_gb"] * 1024),
            suspend_timeout=int(self.config.get("suspend_timeout", 30)),
            **values,
        )

    def _conf(self, shape: slurm_conf.ClusterShape) -> str:
        try:
            return slurm_conf.render(shape)
        except ValueError as exc:
            raise BackendError(f"This cluster cannot be made: {exc}.", permanent=True) from None

    def static_nodes(self) -> list[str]:
        return slurm_conf.node_names(int(self.config.get("min_nodes", 0)))

    def declared_nodes(self) -> list[str]:
        return slurm_conf.node_names(int(self.config.get("max_nodes", 1)))

    # ---- create ---------------------------------------------------------------------
    def provision(self, progress) -> None:
        if self.cluster_id:  # a retry: what an earlier try made goes first
            self.deprovision(progress)
        self._remember(cluster_id=f"{self.target.pk}-{secrets.token_hex(3)}")
        engine_target = engine_of(self.target)
        size = self.node_size()
        conf = self._conf(self.shape())  # refuses impossible shapes before anything is made
        self._remember(node=size)
        with engines.connect(engine_target, progress) as engine:
            try:
                self._create(engine, progress, conf)
            except BackendError:
                progress("Creating failed: removing what was made")
                self._remove_all(engine, lambda step: None)
                raise

    def _create(self, engine, progress, conf: str) -> None:
        progress(f"Looking for the Slurm image {self.image}")
        engine.require_image(self.image)
        labels = {CLUSTER_LABEL: self.cluster_id}
        progress(f"Creating the private network {self.network_name}")
        engine.create_network(self.network_name, labels=labels)
        progress("Creating the munge key volume")
        engine.create_volume(self.munge_volume, labels=labels)
        progress(f"Creating the shared volume ({SHARED} on every node)")
        engine.create_volume(self.shared_volume, labels=labels)
        progress("Starting the head (slurmctld)")
        head = self._container(
            engine,
            "head",
            self.head_name,
            [START, "head"],
            cpus=0,
            memory_gb=HEAD_MEMORY_GB,
            environment={"PORTAL_SLURM_CONF": conf},  # written to /etc/slurm/slurm.conf on first start
        )
        engine.start(head)
        self._wait_for_controller(engine, head, progress)
        for node in self.static_nodes():
            self.start_node(engine, node, progress)
        if self.static_nodes():
            self._wait_for_nodes(engine, head, self.static_nodes(), progress)

    def _container(
        self,
        engine,
        hostname: str,
        name: str,
        command: list[str],
        *,
        cpus,
        memory_gb,
        gpus=0,
        environment=None,
    ):
        return engine.create(
            owner=self.target.pk,
            name=name,
            image=self.image,
            command=command,
            cpus=cpus,
            memory_gb=memory_gb,
            gpus=gpus,
            labels={CLUSTER_LABEL: self.cluster_id, "io.portal.cluster.role": hostname},
            hostname=hostname,
            network=self.network_name,
            mounts={self.munge_volume: "/etc/munge", self.shared_volume: SHARED},
            environment=environment,
        )

    def start_node(self, engine, node: str, progress=lambda step: None):
        """Create and start a node's container (slurmd registers itself with the head)."""
        size = self.node_size()
        progress(f"Starting {node}: {size['cpus']:g} CPUs, {size['memory_gb']:g} GB memory")
        stale = engine.container(self.node_container_name(node), missing_ok=True)
        if stale is not None:
            engine.remove(stale)
        container = self._container(
            engine,
            node,
            self.node_container_name(node),
            [START, "node", node],
            cpus=size["cpus"],
            memory_gb=size["memory_gb"],
            gpus=size.get("gpus", 0),
        )
        try:
            engine.start(container)
        except BackendError:
            engine.remove(container)
            raise
        return container

    def _wait_for_controller(self, engine, head, progress) -> None:
        progress("Waiting for slurmctld to answer")
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            rc, out, _ = engine.exec(head, ["scontrol", "ping"], timeout=15)
            if rc == 0 and "UP" in out:
                return
            head.reload()
            if head.status != "running":
                raise BackendError(f"The head stopped while starting: {self._tail_log(head)}")
            if time.monotonic() > deadline:
                raise BackendError(f"slurmctld did not answer within {READY_TIMEOUT:.0f} s.")
            time.sleep(0.5)

    def _wait_for_nodes(self, engine, head, nodes: list[str], progress) -> None:
        progress(f"Waiting for {', '.join(nodes)} to register with the head")
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            rc, out, _ = engine.exec(
                head, ["sinfo", "-h", "-N", "-o", "%N %T", "-n", ",".join(nodes)], timeout=15
            )
            states = dict(line.split(None, 1) for line in out.splitlines() if " " in line)
            seen = [NodeSeen(n, states.get(n, "unknown")) for n in nodes]
            if rc == 0 and all(node.registered for node in seen):
                return
            if time.monotonic() > deadline:
                raise BackendError(
                    f"The nodes did not register within {READY_TIMEOUT:.0f} s: "
                    + ", ".join(f"{n} {states.get(n, 'unknown')}" for n in nodes)
                )
            time.sleep(0.5)

    def _tail_log(self, container) -> str:
        try:
            text = container.logs(tail=5).decode(errors="replace")
        except Exception:  # noqa: BLE001 - a best-effort hint in an error message
            return "no log"
        return " / ".join(line for line in text.splitlines() if line.strip())[-400:]

    # ---- delete ---------------------------------------------------------------------
    def deprovision(self, progress) -> None:
        if not self.cluster_id:
            progress("Nothing was made: nothing to remove")
            return
        try:
            engine_target = engine_of(self.target)
        except BackendError:
            progress("The engine was detached: nothing left to remove")
            return
        with engines.connect(engine_target, progress) as engine:
            head = engine.container(self.head_name, missing_ok=True)
            if head is not None and head.status == "running":
                progress("Draining the nodes: no new jobs start")
                engine.exec(
                    head,
                    ["scontrol", "update", "nodename=ALL", "state=drain", "reason=cluster deleted"],
                    timeout=15,
                )
            self._remove_all(engine, progress)
            left = (
                engine.with_label(self.label)
                + engine.volumes_with(self.label)
                + engine.networks_with(self.label)
            )
            if left:
                raise BackendError(
                    f"{len(left)} things of the cluster are still on the engine: "
                    + ", ".join(sorted(thing.name for thing in left))
                )

    def _remove_all(self, engine, progress) -> None:
        containers = engine.with_label(self.label)
        # Nodes before the head: slurmctld sees them go.
        for container in sorted(containers, key=lambda c: c.name == self.head_name):
            progress(f"Removing the container {container.name}")
            engine.remove(container)
        for volume in engine.volumes_with(self.label):
            progress(f"Removing the volume {volume.name}")
            engine.remove_volume(volume)
        for network in engine.networks_with(self.label):
            progress(f"Removing the network {network.name}")
            engine.remove_network(network)

    # ---- resize ---------------------------------------------------------------------
    def resize(self, progress, *, min_nodes: int, max_nodes: int, idle_seconds: int) -> None:
        """New minimum, maximum and idle seconds on a running cluster: slurm.conf is
        rewritten in the head; the nodes (configless) get it on ``scontrol reconfigure``.
        A changed node list needs slurmctld restarted (Slurm 22.05 cannot add nodes
        on reconfigure): the head container restarts, its state files kept."""
        old = self.shape()
        new = self.shape(min_nodes=min_nodes, max_nodes=max_nodes, idle_seconds=idle_seconds)
        conf = self._conf(new)
        with engines.connect(engine_of(self.target), progress) as engine:
            head = engine.container(self.head_name)
            progress("Writing the new slurm.conf in the head")
            rc, _, err = engine.exec(head, ["/bin/sh", "-c", WRITE_CONF, "sh", conf], timeout=15)
            if rc != 0:
                raise BackendError(f"Writing slurm.conf in the head failed: {err.strip()[:300]}")
            if (old.min_nodes, old.max_nodes) != (new.min_nodes, new.max_nodes):
                progress("Restarting slurmctld for the new node list")
                engine.restart(head)
                self._wait_for_controller(engine, head, progress)
            progress("scontrol reconfigure")
            rc, out, err = engine.exec(head, ["scontrol", "reconfigure"], timeout=30)
            if rc != 0:
                raise BackendError(f"scontrol reconfigure failed: {(err or out).strip()[:300]}")
        self._remember(min_nodes=min_nodes, max_nodes=max_nodes, idle_seconds=idle_seconds)

    # ---- reconcile: containers follow Slurm's power states ---------------------------
    def node_containers(self, engine) -> dict:
        """{node name: container} for the node containers on the engine."""
        found = {}
        for container in engine.with_label(self.label):
            role = (container.labels or {}).get("io.portal.cluster.role", "")
            if role.startswith("node"):
                found[role] = container
        return found

    def reconcile(self, nodes: list[NodeSeen]) -> list[str]:
        """One pass: start what Slurm powers up (and static nodes without a container),
        remove what it powered down or no longer declares, mark nodes whose container
        died down with the reason. Returns what it did, in words."""
        done = []
        seen = {node.name: node for node in nodes}
        static = set(self.static_nodes())
        declared = set(self.declared_nodes())
        engine, head = self._held()
        containers = self.node_containers(engine)
        for name, container in containers.items():
            node = seen.get(name)
            if name not in declared or (node is not None and node.powered_down):
                engine.remove(container)
                done.append(f"removed {name}'s container (powered down)")
            elif container.status in ("exited", "dead", "stopped"):
                code = container.attrs.get("State", {}).get("ExitCode")
                reason = f"container exited (code {code})"
                log.info("%s's container exited (code %s): %s", name, code, self._tail_log(container))
                if node is not None and not node.down:
                    self._scontrol(engine, head, f"nodename={name}", "state=down", f"reason={reason}")
                    done.append(f"marked {name} down: {reason}")
                engine.remove(container)
        for name, node in seen.items():
            if name in containers or name not in declared:
                continue
            wanted = POWERING_UP in node.slurm_state or (name in static and not node.powered_down)
            if wanted:
                self.start_node(engine, name)
                done.append(f"started {name}'s container")
            elif name not in static and node.down:
                # A cloud node whose container died: powered down (its jobs requeued), then
                # made usable again, so that Slurm powers it up anew when jobs need it.
                state = "resume" if node.powered_down else "power_down_force"
                self._scontrol(engine, head, f"nodename={name}", f"state={state}")
                done.append(f"{state} {name} (its container is gone)")
        return done

    def _scontrol(self, engine, head, *args: str) -> None:
        rc, out, err = engine.exec(head, ["scontrol", "update", *args], timeout=15)
        if rc != 0:
            raise BackendError(f"scontrol update {' '.join(args)} failed: {(err or out).strip()[:300]}")

    def follow(self) -> list[str]:
        """One beat: observe the nodes and queue, then reconcile the containers
        (``SlurmBackend.follow_cluster`` in create mode). What reconcile did, in words."""
        from compute import clusters

        nodes = clusters.observe(self.target, self._sh)
        return clusters.reconcile(self.target, self, nodes)

    # ---- the run primitives (docker_exec.py) run in the head ---------------------------
    def _open_engine(self):
        return engines.open_engine(engine_of(self.target))

    def _exec_container(self, engine):
        head = engine.container(self.head_name)
        if head.status != "running":
            raise BackendError(f"The cluster's head is {head.status}, not running: {self._tail_log(head)}")
        return head

    def _remember(self, **values) -> None:
        """Saved at once: a delete after a failed create must find what was made."""
        self.target.config = {**self.target.config, **values}
        type(self.target).objects.filter(pk=self.target.pk).update(config=self.target.config)
