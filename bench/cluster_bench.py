"""Cluster benchmark: a created Slurm cluster (real Slurm 22.05 in podman
containers, max 4 nodes of the "small" size, min 0), a real server and Celery
worker (run_bench's Bench), the beat's cluster follow every second; trivial
runs submitted in batches.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portalbench \
    REDIS_URL=redis://127.0.0.1:6379/12 python bench/cluster_bench.py [--runs 100] [--small 10]

Figures, per batch (a small one first, then the big one, on the same cluster):

- total: first submit -> last run ended;
- scale-up delay: first submit -> the first node running (its container up and
  registered with Slurm: idle or allocated in sinfo), and -> all 4 running;
- scale-down delay: last run ended -> every node powered down and its container
  gone (the cluster's idle seconds are part of it);
- Slurm command calls per minute while runs were in flight, counted in the head
  container by wrappers around squeue, sacct and sinfo: the run engine polls
  all of a cluster's jobs with one squeue per tick, so the rate does not grow
  with the number of runs.
"""

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: E402
from django.db import close_old_connections  # noqa: E402
from run_bench import Bench, wait  # noqa: E402  (sets up Django)

from compute import services as compute_services  # noqa: E402
from compute import tasks  # noqa: E402
from compute.models import ComputeNode, ComputeTarget, NodeState, Origin, TargetState  # noqa: E402
from runs import services  # noqa: E402
from runs.models import UNFINISHED, Run, RunStatus  # noqa: E402
from tests import podman, slurm  # noqa: E402

# Counts each call of a Slurm command in the head: a line per call in /tmp/slurm-calls.
WRAP = r"""
for cmd in squeue sacct sinfo; do
  real=$(command -v $cmd)
  [ -f "$real.real" ] && continue
  mv "$real" "$real.real"
  printf '#!/bin/sh\necho "%s $(date +%%s.%%N)" >> /tmp/slurm-calls\nexec %s.real "$@"\n' "$cmd" "$real" > "$real"
  chmod 755 "$real"
done
: > /tmp/slurm-calls
"""


def follow_loop(stop: threading.Event) -> None:
    """What celery beat does every second: one follow task per cluster."""
    while not stop.wait(1.0):
        close_old_connections()
        tasks.follow_clusters()


def states(target) -> list[str]:
    return list(ComputeNode.objects.filter(target=target).values_list("state", flat=True))


def batch(bench, target, cluster, snapshot, count: int) -> dict:
    cluster._sh(": > /tmp/slurm-calls", [])
    started = time.monotonic()
    runs = [
        services.run_submit(
            workspace=bench.workspace,
            user=bench.user,
            experiment_name="cluster-bench",
            snapshot=snapshot,
            script="train.py",
            arguments=[],
            target=target,
            environment={"kind": "user", "interpreter": "python3"},
        ).pk
        for _ in range(count)
    ]
    first_up = all_up = None
    up = (NodeState.IDLE, NodeState.RUNNING)
    while True:
        now = time.monotonic()
        seen = states(target)
        if first_up is None and any(s in up for s in seen):
            first_up = now - started
        if all_up is None and sum(s in up for s in seen) >= 4:
            all_up = now - started
        left = Run.objects.filter(pk__in=runs, status__in=UNFINISHED).count()
        if not left:
            break
        if now - started > 1800:
            raise TimeoutError("the batch did not finish in 30 minutes")
        time.sleep(0.2)
    ended = time.monotonic()
    total = ended - started
    _, calls, _ = cluster._sh("cat /tmp/slurm-calls", [])
    wait(
        lambda: all(s == NodeState.OFF for s in states(target)) and not nodes_on_engine(target),
        timeout=600,
        interval=0.5,
    )
    scale_down = time.monotonic() - ended
    counts = {"squeue": 0, "sacct": 0, "sinfo": 0}
    for line in calls.splitlines():
        name, _, at = line.partition(" ")
        counts[name] = counts.get(name, 0) + 1
    outcomes = list(Run.objects.filter(pk__in=runs).values_list("status", flat=True))
    return {
        "runs": count,
        "completed": outcomes.count(RunStatus.COMPLETED),
        "total_s": total,
        "per_run_s": total / count,
        "first_node_running_s": first_up,
        "all_4_running_s": all_up,
        "scale_down_s": scale_down,
        "squeue_per_min": counts["squeue"] / (total / 60),
        "sacct_per_min": counts["sacct"] / (total / 60),
        "sinfo_per_min": counts["sinfo"] / (total / 60),
    }


def nodes_on_engine(target) -> list[str]:
    return [thing for thing in slurm.cluster_things(target.config["cluster_id"]) if "-node" in thing]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--small", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    podman.ensure_config()
    slurm.ensure_slurm_image()
    folder = Path(tempfile.mkdtemp(prefix="portal-bench-podman-"))
    folder.chmod(0o755)
    engine_service = podman.PodmanService(folder)
    bench = Bench(args)
    stop = threading.Event()
    target = None
    try:
        ComputeTarget.objects.create(
            workspace=bench.workspace,
            name=f"bench-engine-{int(time.time())}",
            kind="docker",
            origin=Origin.ATTACHED,
            state=TargetState.SUCCEEDED,
            config={"endpoint": engine_service.url},
        )
        engine = ComputeTarget.objects.filter(workspace=bench.workspace, kind="docker").latest("pk")
        created = time.monotonic()
        target = compute_services.target_add(
            workspace=bench.workspace,
            user=bench.user,
            kind="slurm",
            name=f"bench-hpc-{int(time.time()) % 100000}",
            config={
                "mode": "create",
                "engine": engine.name,
                "size": "small",
                "min_nodes": 0,
                "max_nodes": 4,
                "idle_seconds": 30,
                "priority": "dedicated",
                "image": slurm.SLURM_IMAGE,
            },
        )
        wait(lambda: ComputeTarget.objects.get(pk=target.pk).state != TargetState.CREATING, timeout=300)
        target.refresh_from_db()
        if target.state != TargetState.SUCCEEDED:
            raise SystemExit(f"The cluster was not created: {target.last_error}")
        print(f"cluster created in {time.monotonic() - created:.1f} s (head only: min 0)")
        threading.Thread(target=follow_loop, args=(stop,), daemon=True).start()
        cluster = target.backend.cluster
        rc, _, err = cluster._sh(WRAP, [])
        if rc != 0:
            raise SystemExit(f"The call counters could not be installed: {err}")
        snapshot = services.snapshot_create(
            workspace=bench.workspace,
            files=[("proj/train.py", SimpleUploadedFile("train.py", b"print('trivial')\n"))],
        )
        results = [batch(bench, target, cluster, snapshot, n) for n in (args.small, args.runs)]
    finally:
        stop.set()
        if target is not None:
            from compute import lifecycle

            lifecycle.target_request_delete(target=ComputeTarget.objects.get(pk=target.pk), user=bench.user)
            wait(lambda: not ComputeTarget.objects.filter(pk=target.pk).exists(), timeout=300)
        bench.close()
        engine_service.stop()
    keys = list(results[0])
    print("\n| figure | " + " | ".join(f"{r['runs']} runs" for r in results) + " |")
    print("|---|" + "---|" * len(results))
    for key in keys[1:]:
        values = [r[key] for r in results]
        cells = [f"{v:.2f}" if isinstance(v, float) else str(v) for v in values]
        print(f"| {key} | " + " | ".join(cells) + " |")
    per_run = [r["per_run_s"] for r in results]
    print(f"\nmedian seconds per run over the batches: {statistics.median(per_run):.2f}")


if __name__ == "__main__":
    main()
