"""Usage dashboard benchmark: 100,000 generated runs (with their allocations,
over 60 days) and 1,000 node up-intervals in one workspace on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portalbench \
    REDIS_URL=redis://127.0.0.1:6379/12 python bench/dashboard_bench.py [--runs 100000] [--repeat 15]

Prints, for the 24 h, 7 d and 30 d ranges: the p50 server time of
GET /dashboard/ (every figure, rendered) and of the usage-by-user CSV, and
their query counts. Aim: under 200 ms for 30 days. Figures, not a timed test.
"""

import argparse
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from compute.models import ComputeNode, ComputeTarget, NodeInterval, NodeState, TargetState  # noqa: E402
from portal.models import Membership, Role, Workspace  # noqa: E402
from runs.models import Experiment, Run, RunAllocation, RunStatus, Snapshot, SystemSample  # noqa: E402

SLUG = "dashboard-bench"
BATCH = 5000


def generate(n_runs: int, n_intervals: int):
    if Workspace.objects.filter(slug=SLUG).exists():
        sys.exit("The bench's workspace exists already: run it on a fresh database (dropdb, createdb).")
    workspace = Workspace.objects.create(name="Dashboard bench", slug=SLUG)
    users = []
    for i in range(20):
        user, _ = get_user_model().objects.get_or_create(username=f"bench-user-{i}")
        Membership.objects.create(
            workspace=workspace, user=user, role=Role.OWNER if i == 0 else Role.CONTRIBUTOR
        )
        users.append(user)
    experiments = [Experiment.objects.create(workspace=workspace, name=f"exp-{i}") for i in range(40)]
    targets = [
        ComputeTarget.objects.create(
            workspace=workspace,
            name=f"target-{i}",
            kind="slurm" if i < 2 else "ssh",
            state=TargetState.SUCCEEDED,
            capabilities={"cpus": 16, "gpus": [{}] * (i % 3)},
        )
        for i in range(10)
    ]
    snapshot = Snapshot.objects.create(workspace=workspace, sha256="b" * 64, file_count=1, size_bytes=1)
    rnd = random.Random(14)  # noqa: S311 - generated data, not secrets
    now = timezone.now()
    span = 60 * 24 * 3600
    outcomes = [RunStatus.COMPLETED] * 8 + [RunStatus.FAILED, RunStatus.CANCELED]
    errors = ["The script exited with code 1.", "CUDA out of memory", "The environment build failed"]
    made = 0
    while made < n_runs:
        runs, starts = [], []
        for _ in range(min(BATCH, n_runs - made)):
            start = now - timedelta(seconds=rnd.uniform(0, span))
            hours = rnd.expovariate(1 / 1.5)
            end = min(now, start + timedelta(hours=hours))
            status = rnd.choice(outcomes) if end < now else RunStatus.RUNNING
            target = rnd.choice(targets)
            runs.append(
                Run(
                    workspace=workspace,
                    experiment=rnd.choice(experiments),
                    snapshot=snapshot,
                    script="train.py",
                    target=target,
                    status=status,
                    created_by=rnd.choice(users),
                    queued_at=start - timedelta(seconds=rnd.expovariate(1 / 60)),
                    running_at=start,
                    ended_at=end if status != RunStatus.RUNNING else None,
                    error=rnd.choice(errors) if status == RunStatus.FAILED else "",
                    partition=rnd.choice(["", "gpu"]) if target.kind == "slurm" else "",
                    node_count=rnd.choice([1, 1, 1, 2, 4]) if target.kind == "slurm" else 1,
                )
            )
            starts.append((start, end if status != RunStatus.RUNNING else None))
        runs = Run.objects.bulk_create(runs)
        allocations, samples = [], []
        for run, (start, end) in zip(runs, starts, strict=True):
            gpus = len(run.target.capabilities["gpus"]) * run.node_count
            allocations.append(
                RunAllocation(
                    workspace=workspace,
                    run=run,
                    target=run.target,
                    user=run.created_by,
                    experiment=run.experiment,
                    started_at=start,
                    ended_at=end,
                    cpus=16.0 * run.node_count,
                    gpus=gpus,
                    node_count=run.node_count,
                    hourly_price=Decimal("2.5") if gpus else None,
                    partition=run.partition,
                    waited_seconds=(start - run.queued_at).total_seconds(),
                )
            )
            if rnd.random() < 0.1:
                for k in range(4):
                    samples.append(
                        SystemSample(
                            run=run,
                            at=start + timedelta(minutes=k + 1),
                            seconds=60,
                            cpu_cores=rnd.uniform(0, 16),
                            rss_bytes=2**30,
                            gpu_used=rnd.uniform(0, gpus) if gpus else None,
                            cpus_held=16.0 * run.node_count,
                            gpus_held=gpus,
                        )
                    )
        RunAllocation.objects.bulk_create(allocations)
        SystemSample.objects.bulk_create(samples)
        made += len(runs)
        print(f"  {made} runs", end="\r", flush=True)
    intervals = []
    for i in range(n_intervals):
        target = targets[i % 2]
        start = now - timedelta(seconds=rnd.uniform(0, span))
        end = start + timedelta(hours=rnd.expovariate(1 / 6))
        intervals.append(
            NodeInterval(
                target=target,
                node=f"node-{i % 16}",
                started_at=start,
                ended_at=None if end > now else end,
                cpus=16,
                gpus=1,
            )
        )
    NodeInterval.objects.bulk_create(intervals)
    for target in targets[:2]:
        for i in range(16):
            ComputeNode.objects.create(
                target=target, name=f"node-{i}", state=rnd.choice(list(NodeState.values))
            )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print()
    return workspace, users[0]


def measure(client: Client, url: str, repeat: int) -> tuple[float, int]:
    client.get(url)  # warm
    times, queries = [], 0
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.status_code
        queries = len(captured)
    return statistics.median(times) * 1000, queries


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--intervals", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--reuse", action="store_true", help="measure the data an earlier run generated")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Run it on PostgreSQL: DATABASE_URL=postgres://...")
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    if args.reuse:
        workspace = Workspace.objects.get(slug=SLUG)
        owner = Membership.objects.get(workspace=workspace, role=Role.OWNER).user
    else:
        workspace, owner = generate(args.runs, args.intervals)
    print(
        f"Generated {args.runs} runs, {RunAllocation.objects.filter(workspace=workspace).count()} allocations, "
        f"{SystemSample.objects.filter(run__workspace=workspace).count()} system samples, "
        f"{NodeInterval.objects.filter(target__workspace=workspace).count()} node intervals "
        f"({time.perf_counter() - started:.0f} s)"
    )
    client = Client(HTTP_HOST="localhost")
    client.force_login(owner)
    print(f"{'range':>6} {'page p50 ms':>12} {'queries':>8} {'CSV p50 ms':>11} {'queries':>8}")
    for name in ("24h", "7d", "30d"):
        page_ms, page_q = measure(client, f"/dashboard/?range={name}", args.repeat)
        csv_ms, csv_q = measure(client, f"/dashboard/export/usage-by-user.csv?range={name}", args.repeat)
        print(f"{name:>6} {page_ms:12.1f} {page_q:8d} {csv_ms:11.1f} {csv_q:8d}")


if __name__ == "__main__":
    main()
