"""Sweep benchmark: a real server and Celery worker (run_bench's Bench), one
sweep of trivial trials on the local target; and Ray Tune's figure for the
same sweep, when ``ray[tune]`` is installed in a throwaway venv (never in the
portal's requirements).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portalbench \
    REDIS_URL=redis://127.0.0.1:6379/12 python bench/sweep_bench.py \
        [--trials 200] [--concurrent 20] [--ray-python /tmp/raybench/bin/python]

A trivial trial sleeps ``--sleep`` seconds (0.1) and reports one metric. Its
*own run time* is what the trial measures itself, from the first line of its
code to its report (the interpreter's start is not in it: that is the
orchestrator's cost of a process per trial).

- wall: from the sweep's submit (``sweep_submit``; for Ray, ``Tuner.fit()``,
  after ``ray.init``) to its end (the sweep's ``ended_at``; ``fit()``
  returning).
- orchestration overhead per trial = (wall x concurrent - sum of the trials'
  own run times) / trials: the slot time per trial not spent inside a trial
  (sampling, queueing, starting and reaping the process, storing the metric,
  the sweep's steps). With no overhead at all it is 0; a sweep that never
  fills its slots pays for the idle ones here too.

Figures, not a timed test.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run_bench import Bench, wait  # noqa: E402  (sets up Django)

from runs.models import Metric, Run, Sweep, SweepState  # noqa: E402
from runs.sweeps.services import sweep_submit  # noqa: E402

TRIAL = textwrap.dedent(
    """
    import argparse, time
    started = time.perf_counter()
    from portal_run import Run
    parser = argparse.ArgumentParser()
    parser.add_argument("--x", type=float)
    parser.add_argument("--sleep", type=float)
    args = parser.parse_args()
    time.sleep(args.sleep)
    run = Run.get_context()
    run.log("own_seconds", time.perf_counter() - started)
    run.log("loss", (args.x - 0.5) ** 2)
    """
)

RAY_TRIAL = textwrap.dedent(
    """
    import json, sys, time
    import ray
    from ray import tune

    trials, concurrent, sleep = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])

    def trainable(config):
        started = time.perf_counter()
        time.sleep(sleep)
        tune.report({"loss": (config["x"] - 0.5) ** 2, "own_seconds": time.perf_counter() - started})

    ray.init(num_cpus=concurrent, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    tuner = tune.Tuner(
        trainable,
        param_space={"x": tune.uniform(0, 1)},
        tune_config=tune.TuneConfig(
            num_samples=trials, max_concurrent_trials=concurrent, metric="loss", mode="min"
        ),
        run_config=tune.RunConfig(verbose=0, storage_path=sys.argv[4]),
    )
    started = time.perf_counter()
    results = tuner.fit()
    wall = time.perf_counter() - started
    own = [r.metrics["own_seconds"] for r in results if r.metrics and "own_seconds" in r.metrics]
    print(json.dumps({"wall": wall, "own": own, "errors": results.num_errors}))
    """
)


def overhead(wall: float, own: list[float], concurrent: int, trials: int) -> float:
    return (wall * concurrent - sum(own)) / trials


def portal_sweep(bench: Bench, trials: int, concurrent: int, sleep: float) -> dict:
    target = bench.local_target()
    snapshot = bench.snapshot(TRIAL)
    started = time.time()
    parent = sweep_submit(
        workspace=bench.workspace,
        user=bench.user,
        experiment_name="sweep-bench",
        target=target,
        snapshot=snapshot,
        script="train.py",
        arguments=["--sleep", str(sleep)],
        environment={"kind": "user", "interpreter": "python3"},
        space={"--x": {"type": "uniform", "low": 0, "high": 1}},
        sampling="random",
        seed=1,
        primary_metric="loss",
        goal="minimize",
        max_total_runs=trials,
        max_concurrent_runs=concurrent,
    )
    sweep = wait(
        lambda: Sweep.objects.filter(pk=parent.pk).exclude(state=SweepState.RUNNING).first(),
        timeout=1800,
        interval=0.05,
    )
    wall = sweep.ended_at.timestamp() - started
    children = Run.objects.filter(parent=parent)
    own = list(Metric.objects.filter(run__parent=parent, name="own_seconds").values_list("value", flat=True))
    spans = [
        (c.running_at, c.ended_at) for c in children if c.running_at and c.ended_at
    ]  # the process's life as the portal saw it
    return {
        "state": sweep.state,
        "children": children.count(),
        "completed": children.filter(status="Completed").count(),
        "wall": wall,
        "own": own,
        "process": sum((e - s).total_seconds() for s, e in spans),
    }


def ray_sweep(python: str, trials: int, concurrent: int, sleep: float) -> dict | str:
    if not python or not Path(python).exists():
        return f"not measured: no Python with ray[tune] at {python!r}"
    check = subprocess.run([python, "-c", "import ray.tune"], capture_output=True, text=True)
    if check.returncode:
        return "not measured: ray[tune] does not import: " + check.stderr.strip().splitlines()[-1]
    with tempfile.TemporaryDirectory(prefix="raybench-") as folder:
        script = Path(folder) / "tune_bench.py"
        script.write_text(RAY_TRIAL)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "PYTHONPATH"))}
        done = subprocess.run(
            [python, str(script), str(trials), str(concurrent), str(sleep), str(Path(folder) / "results")],
            capture_output=True,
            text=True,
            env={**env, "RAY_DEDUP_LOGS": "0", "RAY_AIR_NEW_OUTPUT": "0"},
            timeout=1800,
        )
    if done.returncode:
        return f"not measured: the Ray Tune run failed: {done.stderr.strip()[-500:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--concurrent", type=int, default=20)
    parser.add_argument("--sleep", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, default=16, help="the Celery worker's threads")
    parser.add_argument(
        "--ray-python",
        default=os.environ.get("RAY_PYTHON", "/tmp/raybench/bin/python"),  # noqa: S108 - a throwaway venv
        help="a Python with ray[tune] installed (a throwaway venv)",
    )
    args = parser.parse_args()
    n, c = args.trials, args.concurrent
    print(f"{n} trivial trials (sleep {args.sleep} s), {c} concurrent, on {os.cpu_count()} CPUs")
    bench = Bench(args)
    try:
        portal = portal_sweep(bench, n, c, args.sleep)
    finally:
        bench.close()
    print(
        f"portal: sweep {portal['state']} with {portal['children']} children "
        f"({portal['completed']} completed)\n"
        f"  sweep start -> end:                 {portal['wall']:.1f} s\n"
        f"  trials' own run time (sum):         {sum(portal['own']):.1f} s "
        f"(processes as the portal saw them: {portal['process']:.1f} s)\n"
        f"  orchestration overhead per trial:   {overhead(portal['wall'], portal['own'], c, n):.3f} s"
    )
    ray = ray_sweep(args.ray_python, n, c, args.sleep)
    if isinstance(ray, str):
        print(f"ray tune: {ray}")
    else:
        print(
            f"ray tune: {len(ray['own'])} trials reported, {ray['errors']} errors\n"
            f"  fit() start -> end:                 {ray['wall']:.1f} s\n"
            f"  trials' own run time (sum):         {sum(ray['own']):.1f} s\n"
            f"  orchestration overhead per trial:   {overhead(ray['wall'], ray['own'], c, n):.3f} s"
        )


if __name__ == "__main__":
    main()
