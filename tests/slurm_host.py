"""A real one-node Slurm cluster on this machine, for the "attach existing
cluster" tests: the portal reaches it through the loopback sshd (tests/conftest.py
``ssh_env``) exactly as it reaches a real cluster's login node.

Self-contained and idempotent: writes /etc/slurm/slurm.conf (the Slurm
commands a login shell runs read it there; sshd passes no SLURM_CONF), makes
the munge key once, starts munged, slurmctld and slurmd unless they answer.
Three partitions over the node: ``debug`` (the default, no time limit),
``short`` (a one-minute limit, for the time-limit test) and ``high``, whose
jobs preempt the others' (requeued). Accounting is off,
as on many small clusters; finished jobs are in jobcomp/filetxt (``sacct -c``).
"""

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

STATE = Path(os.environ.get("PORTAL_TEST_SLURM_DIR", "/var/tmp/portal-test-slurm"))
CONF = Path("/etc/slurm/slurm.conf")
PARTITIONS = ("debug", "short")


def slurm_conf(host: str, cpus: int, memory_mb: int) -> str:
    return f"""# Written by the portal's tests (tests/slurm_host.py).
ClusterName=portaltest
SlurmctldHost={host}
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SlurmUser=root
SlurmdUser=root
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={STATE}/jobcomp.txt
MinJobAge=30
OverTimeLimit=0
KillWait=5
StateSaveLocation={STATE}/state
SlurmdSpoolDir={STATE}/spool
SlurmctldPidFile={STATE}/slurmctld.pid
SlurmdPidFile={STATE}/slurmd.pid
SlurmctldLogFile={STATE}/slurmctld.log
SlurmdLogFile={STATE}/slurmd.log
NodeName={host} CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP PriorityTier=1
PartitionName=short Nodes=ALL MaxTime=1 State=UP PriorityTier=1
PartitionName=high Nodes=ALL MaxTime=INFINITE State=UP PriorityTier=2
"""


def _answers() -> bool:
    result = subprocess.run(["sinfo", "-h", "-o", "%P %t"], capture_output=True, text=True, timeout=10)
    return result.returncode == 0 and "debug" in result.stdout and "idle" in result.stdout + "mix alloc"


def ensure_running(timeout: float = 60) -> str:
    """Start the cluster unless it runs; returns the node's name."""
    if not shutil.which("slurmctld"):
        raise RuntimeError("Slurm is not installed: apt-get install slurm-wlm munge (scripts/test.sh does).")
    host = socket.gethostname()
    cpus = os.cpu_count() or 1
    memory_mb = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20 * 0.8)
    text = slurm_conf(host, cpus, memory_mb)
    for folder in (STATE / "state", STATE / "spool"):
        folder.mkdir(parents=True, exist_ok=True)
    changed = not CONF.exists() or CONF.read_text() != text
    if changed:
        CONF.parent.mkdir(parents=True, exist_ok=True)
        CONF.write_text(text)
    _ensure_munge()
    if not changed and _running("slurmctld") and _running("slurmd") and _answers():
        return host
    subprocess.run(["pkill", "-x", "slurmd"], check=False)
    subprocess.run(["pkill", "-x", "slurmctld"], check=False)
    time.sleep(0.5)
    subprocess.run(["slurmctld", "-i"], check=True, capture_output=True)
    subprocess.run(["slurmd"], check=True, capture_output=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _answers():
            subprocess.run(["scontrol", "update", f"nodename={host}", "state=resume"], capture_output=True)
            return host
        time.sleep(0.5)
    raise RuntimeError("Slurm did not come up: " + (STATE / "slurmctld.log").read_text()[-2000:])


def _running(name: str) -> bool:
    return subprocess.run(["pgrep", "-x", name], capture_output=True).returncode == 0


def _ensure_munge() -> None:
    key = Path("/etc/munge/munge.key")
    if not key.exists():
        subprocess.run(["mungekey", "-c", "-f", "-k", str(key)], check=True, capture_output=True)
    shutil.chown(key, "munge", "munge")
    key.chmod(0o400)
    for folder in (Path("/run/munge"), Path("/var/log/munge"), Path("/var/lib/munge")):
        folder.mkdir(parents=True, exist_ok=True)
        shutil.chown(folder, "munge", "munge")
    if subprocess.run(["munge", "-n"], capture_output=True).returncode == 0:
        return
    subprocess.run(["runuser", "-u", "munge", "--", "munged"], check=True, capture_output=True)
    deadline = time.monotonic() + 10
    while subprocess.run(["munge", "-n"], capture_output=True).returncode != 0:
        if time.monotonic() > deadline:
            raise RuntimeError("munged did not start")
        time.sleep(0.1)


def drain_jobs() -> None:
    """Cancel every job left by a test that failed midway."""
    subprocess.run(["scancel", "--full", "--quiet", "-u", "root"], capture_output=True)
