"""Following a cluster: its nodes and queue as Slurm reports them, on beat.

``observe(target, sh)`` works for every cluster (created or attached): one
round trip runs ``sinfo`` once and ``squeue`` once, and the portal's rows
follow (ComputeNode, NodeInterval, ClusterSample, ``target.observed``); the
target's page is pushed. ``reconcile(cluster, nodes)`` makes a created
cluster's containers follow Slurm's power decisions. ``follow(target)`` is
both, under a per-target lock so that two beats never act twice.
"""

import logging
import re
import uuid
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from .backends.base import BackendError
from .backends.slurm_conf import NodeSeen
from .live import push_cluster
from .models import ClusterSample, ComputeNode, NodeInterval, NodeState

log = logging.getLogger(__name__)

SEP = "|"
SINFO_FORMAT = SEP.join(["%N", "%T", "%P", "%c", "%m", "%G", "%E"])  # the reason last: it may hold "|"
SQUEUE_FORMAT = SEP.join(["%i", "%P", "%u", "%T", "%r", "%D", "%N", "%Q", "%j"])  # the name last
SPLIT = "--portal-squeue--"
OBSERVE = f'sinfo -h -N -o "$1" && echo {SPLIT} && squeue -h -a -o "$2"'
RUN_JOB = re.compile(r"^portal-([0-9a-f]{32})$")
LOCK_SECONDS = 120
UP_STATES = (NodeState.IDLE, NodeState.RUNNING, NodeState.PREPARING, NodeState.LEAVING)


@dataclass
class Node:
    name: str
    slurm_state: str
    partitions: list[str] = field(default_factory=list)
    cpus: float | None = None
    memory_mb: int | None = None
    gpus: int = 0
    reason: str = ""

    @property
    def seen(self) -> NodeSeen:
        return NodeSeen(self.name, self.slurm_state)

    @property
    def state(self) -> NodeState:
        return node_state(self.slurm_state)


# ---- parsing (pure) -------------------------------------------------------------


def node_state(slurm_state: str) -> NodeState:
    """Slurm's node state with its suffixes (``#`` powering up, ``%``/``!`` powering
    down, ``~`` powered off, ``*`` not responding) as the portal shows it."""
    text = slurm_state.lower()
    base = text.rstrip("*~#%!$@^-+")
    if base.startswith(("down", "drained", "fail", "inval", "future")):
        return NodeState.UNUSABLE
    if "~" in text:
        return NodeState.OFF
    if "*" in text:
        return NodeState.UNUSABLE
    if "#" in text or base in ("powering_up", "unknown"):
        return NodeState.PREPARING
    if "%" in text or "!" in text or base.startswith(("draining", "powering_down")):
        return NodeState.LEAVING
    if base.startswith(("alloc", "mix", "completing")):
        return NodeState.RUNNING
    if base == "idle":
        return NodeState.IDLE
    return NodeState.UNUSABLE


def parse_sinfo(text: str) -> list[Node]:
    """``sinfo -N`` prints a node once per partition: one Node each, partitions merged."""
    nodes: dict[str, Node] = {}
    for line in text.splitlines():
        parts = line.split(SEP, 6)
        if len(parts) != 7 or not parts[0].strip():
            continue
        name, state, partition, cpus, memory, gres, reason = (p.strip() for p in parts)
        node = nodes.setdefault(name, Node(name=name, slurm_state=state))
        partition = partition.rstrip("*")
        if partition and partition not in node.partitions:
            node.partitions.append(partition)
        node.cpus = _number(cpus, float)
        node.memory_mb = _number(memory, int)
        node.gpus = _gpus(gres)
        node.reason = "" if reason in ("none", "(null)") else reason[:300]
    for node in nodes.values():
        node.partitions.sort()
    return list(nodes.values())


def parse_squeue(text: str) -> list[dict]:
    jobs = []
    for line in text.splitlines():
        parts = line.split(SEP, 8)
        if len(parts) != 9:
            continue
        job_id, partition, user, state, reason, count, nodelist, priority, name = parts
        jobs.append(
            {
                "job": job_id.strip(),
                "name": name.strip(),
                "run": None,
                "user": user.strip(),
                "partition": partition.strip(),
                "state": state.strip(),
                "reason": "" if reason.strip() == "None" else reason.strip(),
                "nodes": _number(count, int) or 0,
                "nodelist": "" if nodelist.strip() in ("", "(null)") else nodelist.strip(),
                "priority": _number(priority, int) or 0,
                "position": None,
                "of": None,
            }
        )
    _number_pending(jobs)
    return jobs


def _number_pending(jobs: list[dict]) -> None:
    """Each pending job's place among its partition's pending jobs (priority, then age)."""
    by_partition: dict[str, list[dict]] = {}
    for job in jobs:
        if job["state"] == "PENDING":
            by_partition.setdefault(job["partition"], []).append(job)
    for pending in by_partition.values():
        pending.sort(key=lambda j: (-j["priority"], _number(j["job"].split("_")[0], int) or 0))
        for position, job in enumerate(pending, start=1):
            job["position"], job["of"] = position, len(pending)


def expand_hostlist(text: str) -> list[str]:
    """``node[1-3,5],head`` -> node1 node2 node3 node5 head."""
    names = []
    for match in re.finditer(r"([^,\[]+)(?:\[([^\]]*)\])?", text):
        stem, ranges = match.group(1), match.group(2)
        if ranges is None:
            names.append(stem)
            continue
        for part in ranges.split(","):
            first, _, last = part.partition("-")
            width = len(first)
            for index in range(int(first), int(last or first) + 1):
                names.append(f"{stem}{index:0{width}d}")
    return names


def _number(text: str, kind):
    try:
        return kind(text.strip().rstrip("+"))
    except ValueError:
        return None


def _gpus(gres: str) -> int:
    total = 0
    for item in gres.split(","):
        match = re.match(r"gpu(?::[^:(]+)?:(\d+)", item.strip())
        if match:
            total += int(match.group(1))
    return total


# ---- observe: the portal's rows follow Slurm ------------------------------------------


def observe(target, sh, *, now=None) -> list[Node]:
    """One look at the cluster through ``sh`` (the backend's ``_sh``): nodes and
    queue saved, node intervals and samples recorded, the page pushed."""
    rc, out, err = sh(OBSERVE, [SINFO_FORMAT, SQUEUE_FORMAT], timeout=30)
    if rc != 0 or SPLIT not in out:
        raise BackendError(f"sinfo/squeue failed on the cluster: {(err or out).strip()[:300]}")
    node_text, _, queue_text = out.partition(SPLIT)
    nodes = parse_sinfo(node_text)
    queue = parse_squeue(queue_text)
    _link_runs(target, queue)
    now = now or timezone.now()
    with transaction.atomic():
        nodes_changed = _save_nodes(target, nodes, queue, now)
        queue_changed = (target.observed or {}).get("queue") != queue
        target.observed = {"queue": queue, "at": now.isoformat()}
        target.save(update_fields=["observed", "updated_at"])
        # Pushed only when something moved: a beat every few seconds re-renders nothing.
        if nodes_changed or queue_changed:
            push_cluster(target)
        if nodes_changed:
            from dashboard.live import push_now

            push_now(target.workspace_id)
    return nodes


def _link_runs(target, queue: list[dict]) -> None:
    from runs.models import Run

    keys = {}
    for job in queue:
        match = RUN_JOB.match(job["name"])
        if match:
            keys[job["job"]] = uuid.UUID(match.group(1))
    runs = dict(Run.objects.filter(target=target, key__in=keys.values()).values_list("key", "pk"))
    for job in queue:
        key = keys.get(job["job"])
        job["run"] = runs.get(key) if key else None


def _save_nodes(target, nodes: list[Node], queue: list[dict], now) -> bool:
    """Whether a node's state, reason or run changed (or a node came or went)."""
    changed = False
    runs_on = {}
    for job in queue:
        if job["run"] and job["state"] in ("RUNNING", "CONFIGURING", "COMPLETING"):  # the nodes it holds
            for name in expand_hostlist(job["nodelist"]):
                runs_on[name] = job["run"]
    existing = {node.name: node for node in ComputeNode.objects.select_for_update().filter(target=target)}
    open_intervals = {i.node: i for i in NodeInterval.objects.filter(target=target, ended_at=None)}
    for node in nodes:
        state = node.state
        row = existing.pop(node.name, None) or ComputeNode(target=target, name=node.name)
        before = _shown(row)
        if row.pk is None or row.state != state:
            row.since = now
        row.state, row.slurm_state, row.reason = state, node.slurm_state, node.reason
        row.partitions, row.cpus, row.memory_mb, row.gpus = (
            node.partitions,
            node.cpus,
            node.memory_mb,
            node.gpus,
        )
        row.run_id = runs_on.get(node.name)
        if row.pk is None or _shown(row) != before:
            changed = True
            row.save()
        interval = open_intervals.pop(node.name, None)
        if state in UP_STATES and interval is None:
            NodeInterval.objects.create(
                target=target, node=node.name, started_at=now, cpus=node.cpus or 0, gpus=node.gpus
            )
        elif state not in UP_STATES and interval is not None:
            interval.ended_at = now
            interval.save(update_fields=["ended_at"])
    for row in existing.values():  # no longer in slurm.conf
        row.delete()
        changed = True
    for interval in open_intervals.values():
        interval.ended_at = now
        interval.save(update_fields=["ended_at"])
    counts: dict[str, int] = {}
    for node in nodes:
        counts[node.state.value] = counts.get(node.state.value, 0) + 1
    last = ClusterSample.objects.filter(target=target).order_by("-at").first()
    if last is None or last.counts != counts:
        ClusterSample.objects.create(target=target, at=now, counts=counts)
        changed = True
    return changed


def _shown(row: ComputeNode) -> tuple:
    return (
        row.state,
        row.slurm_state,
        row.reason,
        row.partitions,
        row.cpus,
        row.memory_mb,
        row.gpus,
        row.run_id,
    )


# ---- reconcile: a created cluster's containers follow Slurm --------------------------


def reconcile(target, cluster, nodes: list[Node]) -> list[str]:
    """Start, remove or mark down node containers (see CreatedCluster.reconcile);
    node rows get their container ids."""
    done = cluster.reconcile([node.seen for node in nodes])
    engine, _ = cluster._held()
    ids = {name: container.id for name, container in cluster.node_containers(engine).items()}
    for row in ComputeNode.objects.filter(target=target):
        if row.container_id != ids.get(row.name, ""):
            row.container_id = ids.get(row.name, "")
            row.save(update_fields=["container_id", "updated_at"])
    for action in done:
        log.info("Cluster %s: %s", target.pk, action)
    return done


# ---- the beat's work, one target at a time ---------------------------------------------


def follow(target) -> bool:
    """Observe (and for a created cluster, reconcile) unless another worker is at
    it; False when skipped. The backend's ``follow_cluster()`` does the work."""
    lock = f"cluster-follow-{target.pk}"
    if not cache.add(lock, "1", LOCK_SECONDS):
        return False
    try:
        backend = target.backend
        try:
            backend.follow_cluster()
        except BackendError as exc:
            log.info("Following cluster %s failed: %s", target.pk, exc.message)
        except Exception:  # what the cluster printed broke the portal: the next beat tries again
            log.exception("Following cluster %s failed", target.pk)
        finally:
            backend.close()
    finally:
        cache.delete(lock)
    return True
