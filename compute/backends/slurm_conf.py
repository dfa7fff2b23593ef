"""slurm.conf for a created cluster: a pure function of its settings.

Nodes are ``node1`` … ``node<max>``; the first ``min`` are always on, the rest
are cloud nodes that Slurm's power saving powers up for queued jobs and down
after ``idle_seconds`` (the portal's reconciler starts and removes their
containers). Two partitions cover the same nodes so that jobs in
``dedicated`` preempt (requeue) jobs in ``lowpriority``; the cluster's
priority picks which one jobs land in when they name none.
"""

import math
from dataclasses import dataclass

HEAD = "head"
PARTITIONS = {"dedicated": 2, "lowpriority": 1}  # name -> PriorityTier
RESUME_PROGRAM = "/usr/local/sbin/portal-slurm-resume"
SUSPEND_PROGRAM = "/usr/local/sbin/portal-slurm-suspend"
SLURM_CONF = "/etc/slurm/slurm.conf"


@dataclass(frozen=True)
class ClusterShape:
    name: str  # ClusterName: lowercase letters, digits, dashes
    cpus: float  # per node (the node size)
    memory_mb: int
    min_nodes: int
    max_nodes: int
    idle_seconds: int
    priority: str = "dedicated"  # the default partition
    suspend_timeout: int = 30
    resume_timeout: int = 120


def node_name(index: int) -> str:
    return f"node{index}"


def node_names(count: int) -> list[str]:
    return [node_name(i) for i in range(1, count + 1)]


def _hostlist(first: int, last: int) -> str:
    return node_name(first) if first == last else f"node[{first}-{last}]"


def slurm_cpus(cpus: float) -> int:
    """Whole CPUs Slurm hands out: never more than the container's limit, at least one."""
    return max(1, math.floor(cpus))


def render(shape: ClusterShape) -> str:
    if shape.priority not in PARTITIONS:
        raise ValueError(f"priority must be one of {', '.join(PARTITIONS)}")
    if not 0 <= shape.min_nodes <= shape.max_nodes or shape.max_nodes < 1:
        raise ValueError("need 0 <= min_nodes <= max_nodes and max_nodes >= 1")
    lines = [
        f"ClusterName={shape.name}",
        f"SlurmctldHost={HEAD}",
        "AuthType=auth/munge",
        "SlurmUser=root",
        "SlurmdUser=root",
        "StateSaveLocation=/var/spool/slurmctld",
        "SlurmdSpoolDir=/var/spool/slurmd",
        "SlurmctldPidFile=/run/slurm/slurmctld.pid",
        "SlurmdPidFile=/run/slurm/slurmd.pid",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "MpiDefault=none",
        "MailProg=/bin/true",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core",
        "ReturnToService=2",
        "SlurmdTimeout=30",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        # Finished jobs stay readable with `sacct -c` without a database.
        "JobCompType=jobcomp/filetxt",
        "JobCompLoc=/var/log/slurm/jobcomp.log",
        "TreeWidth=65533",
        # cloud_reg_addrs: a re-created node registers its new address;
        # enable_configless: nodes fetch this file from the head.
        "SlurmctldParameters=cloud_reg_addrs,enable_configless",
        # The declared CPUs and memory count, not what slurmd sees of the host.
        "SlurmdParameters=config_overrides",
        # Without it powered-down cloud nodes are hidden from sinfo.
        "PrivateData=cloud",
        "PreemptType=preempt/partition_prio",
        "PreemptMode=REQUEUE",
        f"ResumeProgram={RESUME_PROGRAM}",
        f"SuspendProgram={SUSPEND_PROGRAM}",
        f"SuspendTime={int(shape.idle_seconds)}",
        f"SuspendTimeout={int(shape.suspend_timeout)}",
        f"ResumeTimeout={int(shape.resume_timeout)}",
        "ResumeRate=0",
        "SuspendRate=0",
    ]
    if shape.min_nodes:
        lines.append(f"SuspendExcNodes={_hostlist(1, shape.min_nodes)}")
    resources = f"CPUs={slurm_cpus(shape.cpus)} RealMemory={int(shape.memory_mb)}"
    if shape.min_nodes:
        lines.append(f"NodeName={_hostlist(1, shape.min_nodes)} {resources} State=UNKNOWN")
    if shape.max_nodes > shape.min_nodes:
        lines.append(f"NodeName={_hostlist(shape.min_nodes + 1, shape.max_nodes)} {resources} State=CLOUD")
    nodes = _hostlist(1, shape.max_nodes)
    for partition, tier in PARTITIONS.items():
        default = "YES" if partition == shape.priority else "NO"
        lines.append(
            f"PartitionName={partition} Nodes={nodes} Default={default} PriorityTier={tier} "
            "MaxTime=INFINITE State=UP"
        )
    return "\n".join(lines) + "\n"


# Powered-down or powering-down nodes (sinfo's state suffixes): their containers go.
POWERED_DOWN = ("~", "%", "!")
POWERING_UP = "#"
NOT_RESPONDING = "*"


@dataclass(frozen=True)
class NodeSeen:
    """One node as sinfo printed it (what reconcile needs)."""

    name: str
    slurm_state: str  # e.g. "idle#", "allocated", "down*"

    @property
    def base(self) -> str:
        return self.slurm_state.rstrip("*~#%!$@^-+")

    @property
    def powered_down(self) -> bool:
        return any(mark in self.slurm_state for mark in POWERED_DOWN)

    @property
    def registered(self) -> bool:
        """Up and answering: slurmd registered and no power change under way."""
        return self.base in ("idle", "mixed", "allocated", "completing") and self.base == self.slurm_state

    @property
    def down(self) -> bool:
        return self.base in ("down", "drained", "fail") or self.base.startswith("down")
