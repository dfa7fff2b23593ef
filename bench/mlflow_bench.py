"""MLflow tracking calls from inside a run, timed against the portal.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portalbench \
    REDIS_URL=redis://127.0.0.1:6379/12 python bench/mlflow_bench.py

A real run on the local target, in a pip environment with the mlflow client
(mlflow-skinny 3.17.2, built once and cached), makes 1,000 ``mlflow.log_metric``
calls and then ``log_batch`` calls of 1,000 metrics each, against the portal
served by ``manage.py serve`` with a real Celery worker. Prints ms per call and
per batch. The issue's anchor is MLflow's own tracking server on this machine:
about 53 ms per log_metric and 136 ms per 1,000-metric batch.
"""

import argparse
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run_bench import Bench, wait  # noqa: E402  (sets Django up)

from runs import services  # noqa: E402
from runs.models import Run, RunLogChunk  # noqa: E402

ENVIRONMENT = {"kind": "pip", "requirements": "mlflow-skinny==3.17.2\n"}
SCRIPT = """
import statistics, time
import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric

run = mlflow.start_run()
calls = {calls}
started = time.perf_counter()
for i in range(calls):
    mlflow.log_metric("per_call", float(i), step=i)
per_call = (time.perf_counter() - started) / calls
client = MlflowClient()
batches = []
for b in range({batches}):
    now = int(time.time() * 1000)
    metrics = [Metric(f"batch{{b}}", float(i), now, i) for i in range(1000)]
    started = time.perf_counter()
    client.log_batch(run.info.run_id, metrics=metrics)
    batches.append(time.perf_counter() - started)
import os, requests
session = requests.Session()
session.headers["Authorization"] = "Bearer " + os.environ["MLFLOW_TRACKING_TOKEN"]
url = os.environ["MLFLOW_TRACKING_URI"] + "/api/2.0/mlflow/runs/log-metric"
started = time.perf_counter()
for i in range(calls):
    body = {{"run_id": run.info.run_id, "key": "raw", "value": float(i), "step": i, "timestamp": int(time.time() * 1000)}}
    session.post(url, json=body).raise_for_status()
raw = (time.perf_counter() - started) / calls
print(f"BENCH per_call_ms={{per_call * 1000:.2f}} batch_ms={{statistics.median(batches) * 1000:.1f}} raw_ms={{raw * 1000:.2f}}", flush=True)
"""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    bench = Bench(args)
    try:
        target = bench.local_target()
        snapshot = bench.snapshot(SCRIPT.format(calls=args.calls, batches=args.batches))
        run = services.run_submit(
            workspace=bench.workspace,
            user=bench.user,
            experiment_name="bench-mlflow",
            snapshot=snapshot,
            script="train.py",
            arguments=[],
            target=target,
            environment=ENVIRONMENT,
        )
        started = time.monotonic()
        wait(lambda: Run.objects.get(pk=run.pk).is_terminal, timeout=900, interval=0.5)
        run.refresh_from_db()
        text = "".join(RunLogChunk.objects.filter(run=run).order_by("seq").values_list("text", flat=True))
        found = re.search(r"BENCH per_call_ms=([\d.]+) batch_ms=([\d.]+) raw_ms=([\d.]+)", text)
        if run.status != "Completed" or not found:
            print(f"The run ended {run.status}: {run.error}\n{text[-3000:]}")
            sys.exit(1)
        points = run.metrics.count()
    finally:
        bench.close()
    per_call, batch, raw = float(found.group(1)), float(found.group(2)), float(found.group(3))
    print(
        f"run {run.pk} ({time.monotonic() - started:.0f} s with the environment build), {points} points stored"
    )
    print(
        f"  mlflow.log_metric : {per_call:7.2f} ms per call   (MLflow's server: ~53 ms; {53 / per_call:.1f}x)"
    )
    print(f"  the same POST with requests, no mlflow client: {raw:7.2f} ms per call")
    print(f"  log_batch of 1,000: {batch:7.1f} ms per batch  (MLflow's server: ~136 ms; {136 / batch:.1f}x)")


if __name__ == "__main__":
    main()
