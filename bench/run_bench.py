"""Run benchmarks: real server, real Celery worker, real websocket client.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portalbench \
    REDIS_URL=redis://127.0.0.1:6379/12 python bench/run_bench.py [--ssh] [--runs 100]

Prints, for the local target (and an SSH target on a loopback sshd with --ssh,
root only): (a) submit -> first log line in a websocket client with a cached
environment, (b) print -> websocket latency p50 / p99 during a run, (c) log
lines per second sustained with zero lost, (d) trivial runs completed per
second over N runs. Figures, not a timed test.
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("PORTAL_VAR_DIR", tempfile.mkdtemp(prefix="portal-bench-"))
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")

import django  # noqa: E402

django.setup()

import websockets  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from compute.local_grant import local_target_grant  # noqa: E402
from compute.models import ComputeTarget, TargetState  # noqa: E402
from portal import crypto  # noqa: E402
from portal.services import workspace_create  # noqa: E402
from runs import services  # noqa: E402
from runs.models import Run, RunLogChunk  # noqa: E402
from tests import servers  # noqa: E402

ENV = {"kind": "user", "interpreter": "python3"}  # as root, local runs are the run user: not this venv
PRINT_ONE = "print('first line', flush=True)\n"
TIMESTAMPS = (
    "import time, sys\nfor i in range(300):\n    print(repr(time.time()), flush=True)\n    time.sleep(0.01)\n"
)
FLOOD = "import sys\nw = sys.stdout.write\nfor i in range({n}):\n    w(f'line {{i}}\\n')\n"


def wait(predicate, timeout=120, interval=0.005):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(interval)
    raise TimeoutError("benchmark step timed out")


class Bench:
    def __init__(self, args):
        self.args = args
        self.procs = []
        call_command("migrate", verbosity=0)
        call_command("setup_local_runner")  # as root, local runs execute as the run user
        from django.contrib.auth import get_user_model

        User = get_user_model()
        user = User.objects.filter(username="bench").first() or User.objects.create_user(
            "bench", password="x"
        )
        self.user = user
        self.workspace = user.workspaces.first() or workspace_create(
            name=f"Bench {time.time():.0f}", owner=user
        )
        client = Client()
        client.force_login(user)
        self.cookie = f"sessionid={client.cookies['sessionid'].value}"
        self.port = servers.free_port()
        env = {**os.environ, "PORTAL_URL": f"http://127.0.0.1:{self.port}"}  # runs reach the portal here
        log = open(Path(os.environ["PORTAL_VAR_DIR"]) / "bench-server.log", "w")  # noqa: SIM115
        self.procs.append(
            subprocess.Popen(
                [sys.executable, "manage.py", "serve", "--port", str(self.port)],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=log,
            )
        )
        self.procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "portal",
                    "worker",
                    "-P",
                    "threads",
                    "-c",
                    str(args.concurrency),
                    "--without-heartbeat",
                    "--without-mingle",
                    "--without-gossip",
                    "-l",
                    "WARNING",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=log,
            )
        )
        servers.wait_for_port(self.port, timeout=30)
        time.sleep(2)  # the worker connects to the broker

    def close(self):
        for proc in self.procs:
            proc.terminate()
            proc.wait(10)

    def local_target(self):
        target = local_target_grant(workspace=self.workspace)
        target.state = TargetState.SUCCEEDED
        target.save()
        return target

    def snapshot(self, source: str):
        from django.core.files.uploadedfile import SimpleUploadedFile

        return services.snapshot_create(
            workspace=self.workspace,
            files=[("bench/train.py", SimpleUploadedFile("train.py", source.encode()))],
        )

    def submit(self, target, snapshot):
        return services.run_submit(
            workspace=self.workspace,
            user=self.user,
            experiment_name="bench",
            snapshot=snapshot,
            script="train.py",
            arguments=[],
            target=target,
            environment=ENV,
        )

    async def first_line_latency(self, target, n=20):
        snapshot = await asyncio.to_thread(self.snapshot, PRINT_ONE)
        await asyncio.to_thread(self.submit, target, snapshot)  # warm: snapshot on the target
        times = []
        for _ in range(n):
            started = time.perf_counter()
            run = await asyncio.to_thread(self.submit, target, snapshot)
            async with websockets.connect(
                f"ws://127.0.0.1:{self.port}/ws/runs/{run.pk}/",
                additional_headers={"Origin": f"http://127.0.0.1:{self.port}", "Cookie": self.cookie},
            ) as ws:
                await ws.send(json.dumps({"after": -1}))
                while True:
                    frame = await ws.recv()
                    if frame.startswith("{") and any(
                        "first line" in c["text"] for c in json.loads(frame)["chunks"]
                    ):
                        times.append(time.perf_counter() - started)
                        break
        return times

    async def print_latency(self, target):
        snapshot = await asyncio.to_thread(self.snapshot, TIMESTAMPS)
        run = await asyncio.to_thread(self.submit, target, snapshot)
        delays = []
        async with websockets.connect(
            f"ws://127.0.0.1:{self.port}/ws/runs/{run.pk}/",
            additional_headers={"Origin": f"http://127.0.0.1:{self.port}", "Cookie": self.cookie},
        ) as ws:
            await ws.send(json.dumps({"after": -1}))
            while len(delays) < 250:
                frame = await asyncio.wait_for(ws.recv(), 30)
                now = time.time()
                if not frame.startswith("{"):
                    continue
                frame = json.loads(frame)
                if frame.get("reset_metrics"):  # the backfill: printed before the socket opened
                    continue
                for chunk in frame["chunks"]:
                    for line in chunk["text"].splitlines():
                        delays.append(now - float(line))
        return delays

    def throughput(self, target, n):
        run = self.submit(target, self.snapshot(FLOOD.format(n=n)))
        wait(lambda: Run.objects.get(pk=run.pk).is_terminal, timeout=600, interval=0.05)
        run.refresh_from_db()
        texts = RunLogChunk.objects.filter(run=run, stream="stdout").order_by("seq")
        text = "".join(texts.values_list("text", flat=True))
        lost = n - text.count("\n")
        assert text == "".join(f"line {i}\n" for i in range(n)), (
            f"lines lost or reordered ({run.status}: {run.error})"
        )
        times = list(texts.values_list("created_at", flat=True))
        span = (times[-1] - times[0]).total_seconds() or 1e-3
        script = (run.ended_at - run.running_at).total_seconds()
        return n / max(span, 1e-3), n / script, lost, run.status

    def trivial_runs(self, target, n):
        snapshot = self.snapshot("print('ok')\n")
        started = time.perf_counter()
        runs = [self.submit(target, snapshot).pk for _ in range(n)]
        wait(
            lambda: Run.objects.filter(pk__in=runs, status="Completed").count() == n,
            timeout=600,
            interval=0.05,
        )
        return n / (time.perf_counter() - started)

    def report(self, name, target):
        print(f"\n== {name} target ==", flush=True)
        first = asyncio.run(self.first_line_latency(target))
        print(
            "(a) submit -> first log line in a websocket client: "
            f"p50 {statistics.median(first) * 1000:.0f} ms, "
            f"min {min(first) * 1000:.0f} ms, max {max(first) * 1000:.0f} ms ({len(first)} runs)",
            flush=True,
        )
        delays = sorted(asyncio.run(self.print_latency(target)))
        p = lambda q: delays[min(len(delays) - 1, int(q * len(delays)))] * 1000  # noqa: E731
        print(
            f"(b) print -> websocket: p50 {p(0.5):.0f} ms, p99 {p(0.99):.0f} ms ({len(delays)} lines)",
            flush=True,
        )
        stored_rate, script_rate, lost, status = self.throughput(target, self.args.lines)
        print(
            f"(c) {self.args.lines} lines: stored at {stored_rate:,.0f} lines/s (script wrote at "
            f"{script_rate:,.0f} lines/s), lost {lost}, status {status}",
            flush=True,
        )
        rate = self.trivial_runs(target, self.args.runs)
        print(f"(d) {self.args.runs} trivial runs: {rate:.1f} runs/s completed", flush=True)


def ssh_target(bench):
    folder = Path(tempfile.mkdtemp(prefix="bench-sshd-"))
    folder.chmod(0o755)
    servers.ensure_user("portalbench", "bench-password-1")
    server = servers.start_sshd(folder / "sshd")
    target, _ = ComputeTarget.objects.update_or_create(
        workspace=bench.workspace,
        name="bench-ssh",
        defaults={
            "kind": "ssh",
            "state": TargetState.SUCCEEDED,
            "host_key": server.host_key,
            "config": {
                "address": "127.0.0.1",
                "port": server.port,
                "username": "portalbench",
                "workdir": "portal",
            },
            "encrypted_secrets": {"password": crypto.encrypt("bench-password-1")},
        },
    )
    return target, server


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ssh", action="store_true", help="also an SSH target on a loopback sshd (root)")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--lines", type=int, default=500_000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    bench = Bench(args)
    server = None
    try:
        bench.report("local", bench.local_target())
        if args.ssh:
            global ENV
            target, server = ssh_target(bench)
            ENV = {"kind": "user", "interpreter": "python3"}
            bench.report("ssh", target)
    finally:
        bench.close()
        if server:
            server.stop()
            servers.remove_user("portalbench")


if __name__ == "__main__":
    main()
