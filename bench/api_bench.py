"""REST API benchmarks: real server, real Celery worker, real HTTP client.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portalbench \
    REDIS_URL=redis://127.0.0.1:6379/12 python bench/api_bench.py [--runs 10000]

Prints (a) submit -> first log line through the API's long-poll follow (what
the SDK's wait_for_completion does), next to the same figure through the run
page's websocket, on the local target with a cached snapshot; (b) GET of the
run list in a workspace with N runs (default 10,000): p50 server time and the
query count for page sizes 10, 50 and 200. Figures, not a timed test.
"""

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import requests  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402
from run_bench import PRINT_ONE, Bench  # noqa: E402  (sets Django up)

from portal import tokens  # noqa: E402
from runs.models import Experiment, Run, RunStatus  # noqa: E402


def api_first_line(bench, target, n):
    token = tokens.token_create(user=bench.user, workspace=bench.workspace, name="bench").plaintext
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    base = f"http://127.0.0.1:{bench.port}/api/v1/workspaces/{bench.workspace.slug}"
    snapshot = bench.snapshot(PRINT_ONE)
    body = {
        "experiment": "bench",
        "target": target.name,
        "snapshot": snapshot.sha256,
        "script": "train.py",
        "environment": {"kind": "user", "interpreter": "python3"},
    }
    session.post(f"{base}/runs/", json=body).raise_for_status()  # warm: snapshot on the target
    times = []
    for _ in range(n):
        started = time.perf_counter()
        run = session.post(f"{base}/runs/", json=body)
        run.raise_for_status()
        after = -1
        while True:
            page = session.get(
                f"{base}/runs/{run.json()['id']}/logs/", params={"after": after, "timeout": 20}
            ).json()
            if any("first line" in c["text"] for c in page["chunks"]):
                times.append(time.perf_counter() - started)
                break
            after = page["last_seq"]
    return times


def run_list(bench, count):
    experiment, _ = Experiment.objects.get_or_create(workspace=bench.workspace, name="bench-list")
    have = Run.objects.filter(workspace=bench.workspace).count()
    snapshot = bench.snapshot("print(1)\n")
    now = timezone.now()
    Run.objects.bulk_create(
        [
            Run(
                workspace=bench.workspace,
                experiment=experiment,
                snapshot=snapshot,
                script="train.py",
                status=RunStatus.COMPLETED,
                created_at=now,
                ended_at=now,
            )
            for _ in range(max(0, count - have))
        ],
        batch_size=2000,
    )
    with connection.cursor() as cursor:  # as autovacuum would after a bulk load
        cursor.execute("ANALYZE runs_run")
    token = tokens.token_create(user=bench.user, workspace=bench.workspace, name="bench-list").plaintext
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_HOST="127.0.0.1")
    url = f"/api/v1/workspaces/{bench.workspace.slug}/runs/"
    figures = {}
    for size in (10, 50, 200):
        client.get(url, {"limit": size})  # warm
        times = []
        for _ in range(30):
            started = time.perf_counter()
            with CaptureQueriesContext(connection) as queries:
                response = client.get(url, {"limit": size})
            times.append(time.perf_counter() - started)
            assert response.status_code == 200 and len(response.json()["results"]) == size
        figures[size] = (statistics.median(times) * 1000, len(queries.captured_queries))
    return Run.objects.filter(workspace=bench.workspace).count(), figures


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--first-line", type=int, default=15)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    bench = Bench(args)
    try:
        target = bench.local_target()
        ws_times = asyncio.run(bench.first_line_latency(target, n=args.first_line))
        api_times = api_first_line(bench, target, args.first_line)
        total, figures = run_list(bench, args.runs)
    finally:
        bench.close()
    print(f"submit -> first log line, local target, {args.first_line} runs each (median / max):")
    print(
        f"  websocket (run page) : {statistics.median(ws_times) * 1000:7.1f} ms / {max(ws_times) * 1000:7.1f} ms"
    )
    print(
        f"  API long-poll (SDK)  : {statistics.median(api_times) * 1000:7.1f} ms / {max(api_times) * 1000:7.1f} ms"
    )
    print(f"GET /runs/ in a workspace with {total} runs (30 requests per size, in-process server time):")
    for size, (p50, queries) in figures.items():
        print(f"  limit={size:<4} p50 {p50:6.1f} ms   {queries} queries")


if __name__ == "__main__":
    main()
