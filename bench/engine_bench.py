"""Many concurrent runs on one worker process: the monitor service's figures.

    python bench/engine_bench.py --runs 200 --seconds 60            # local target, embedded default
    python bench/engine_bench.py --ssh --ssh-runs 50 --seconds 60   # + an SSH target on a loopback sshd (root)

The portal runs as `manage.py serve` on its embedded default (SQLite, the
Celery worker and the monitor service inside that one process). N runs each
print a timestamped line 10 times a second for S seconds; a websocket client
per run follows its log. Prints: lines stored and lost, print -> websocket
latency p50 / p99, the server process's CPU share while the runs are
active, and how long a target Re-check takes with the runs active against
an idle portal. With --ssh, the same on the SSH target and the number of
SSH commands the monitor ran per second (sshd's log), to show the batched poll.
"""

import argparse
import asyncio
import http.cookiejar
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
VAR = tempfile.mkdtemp(prefix="portal-engine-bench-")
for name in ("DATABASE_URL", "REDIS_URL"):
    os.environ.pop(name, None)  # the embedded default
os.environ.update(
    DJANGO_SETTINGS_MODULE="portal.settings",
    PORTAL_VAR_DIR=VAR,
    ALLOWED_HOSTS="127.0.0.1,localhost",
)

import django  # noqa: E402

django.setup()

import websockets  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from compute.models import ComputeTarget, TargetState  # noqa: E402
from runs import services  # noqa: E402
from runs.models import TERMINAL, Run, RunLogChunk  # noqa: E402
from tests import servers  # noqa: E402

# Prints 10 lines a second until the deadline (seconds since the epoch), then
# how many it printed: runs that start late still overlap the others.
TICKER = (
    "import time, sys\n"
    "deadline = float(sys.argv[1])\n"
    "i = 0\n"
    "while time.time() < deadline:\n"
    "    print(f'tick {i} {time.time()!r}', flush=True)\n"
    "    i += 1\n"
    "    time.sleep(0.1)\n"
    "print(f'done {i}', flush=True)\n"
)


def wait(predicate, timeout=300, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(interval)
    raise TimeoutError("benchmark step timed out")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(") ")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Portal:
    def __init__(self):
        call_command("migrate", verbosity=0)
        call_command("setup_local_runner")  # as root, local runs execute as the run user
        from django.contrib.auth import get_user_model

        from portal.services import workspace_create

        self.user = get_user_model().objects.create_user("bench", password="bench-password-1")
        self.workspace = workspace_create(name="Bench", owner=self.user)
        from compute.local_grant import local_target_grant

        local_target_grant(workspace=self.workspace)
        client = Client()
        client.force_login(self.user)
        self.session = client.cookies["sessionid"].value
        self.port = servers.free_port()
        self.log = open(Path(VAR) / "server.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--port", str(self.port)],
            cwd=ROOT,
            stdout=self.log,
            stderr=self.log,
        )
        servers.wait_for_port(self.port, timeout=60)
        jar = http.cookiejar.CookieJar()
        jar.set_cookie(
            http.cookiejar.Cookie(
                0,
                "sessionid",
                self.session,
                None,
                False,
                "127.0.0.1",
                False,
                False,
                "/",
                True,
                False,
                None,
                True,
                None,
                None,
                {},
            )
        )
        self.http = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        self.http.open(self.url("/compute/")).read()
        self.csrf = next(c.value for c in jar if c.name == "csrftoken")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self):
        self.proc.terminate()
        self.proc.wait(30)

    def local_target(self):
        target = wait(lambda: ComputeTarget.objects.filter(workspace=self.workspace, kind="local").first())
        ComputeTarget.objects.filter(pk=target.pk).update(state=TargetState.SUCCEEDED)
        target.refresh_from_db()
        return target

    def submit_many(self, target, n: int, deadline: float) -> list[Run]:
        """Submit through the server's own submit page (its broker is in-process):
        the snapshot once, then n runs of it."""
        from django.core.files.uploadedfile import SimpleUploadedFile

        snapshot = services.snapshot_create(
            workspace=self.workspace, files=[("b/train.py", SimpleUploadedFile("train.py", TICKER.encode()))]
        )
        before = set(Run.objects.values_list("pk", flat=True))
        form = urllib.parse.urlencode(
            {
                "target": target.pk,
                "experiment": "engine-bench",
                "script": "train.py",
                "arguments": repr(deadline),
                "environment": "user",
                "interpreter": "python3",
                "snapshot": snapshot.pk,
            }
        ).encode()
        for _ in range(n):
            request = urllib.request.Request(  # noqa: S310 - our own http:// URL
                self.url("/runs/new/"),
                data=form,
                method="POST",
                headers={"X-CSRFToken": self.csrf, "Referer": self.url("/runs/new/")},
            )
            self.http.open(request).read()
        runs = list(Run.objects.exclude(pk__in=before).order_by("pk"))
        assert len(runs) == n, f"{len(runs)} runs submitted of {n}"
        return runs

    def recheck_seconds(self, target) -> float:
        """POST Re-check as the page does; seconds until the check has finished."""
        before = ComputeTarget.objects.get(pk=target.pk).last_checked
        request = urllib.request.Request(  # noqa: S310 - our own http:// URL
            self.url(f"/compute/{target.name}/check/"),
            data=b"",
            method="POST",
            headers={"X-CSRFToken": self.csrf, "Referer": self.url("/compute/")},
        )
        started = time.monotonic()
        self.http.open(request).read()
        wait(
            lambda: (
                (t := ComputeTarget.objects.get(pk=target.pk)).last_checked != before
                and t.state != TargetState.ATTACHING
            ),
            interval=0.01,
        )
        return time.monotonic() - started


async def follow(port: int, session: str, run_id: int, latencies: list, deadline: float) -> int:
    """A websocket client on one run's page, from the start: collects print ->
    receive latencies of live pushes until the run's "done" line arrived."""
    seen = set()
    async with websockets.connect(
        f"ws://127.0.0.1:{port}/ws/runs/{run_id}/",
        additional_headers={"Cookie": f"sessionid={session}", "Origin": f"http://127.0.0.1:{port}"},
        max_size=None,
    ) as ws:
        await ws.send(json.dumps({"after": -1}))
        done = False
        while not done and time.time() < deadline:
            try:
                message = await asyncio.wait_for(ws.recv(), timeout=5)
            except TimeoutError:
                continue
            now = time.time()
            if not message.startswith("{"):
                continue
            frame = json.loads(message)
            live = not frame.get("reset_metrics")  # a backfill's lines were printed before the socket opened
            for chunk in frame.get("chunks", []):
                for line in chunk["text"].splitlines():
                    parts = line.split()
                    if len(parts) == 3 and parts[0] == "tick" and parts[1] not in seen:
                        seen.add(parts[1])
                        if live:
                            latencies.append(now - float(parts[2]))
                    done = done or (len(parts) == 2 and parts[0] == "done")
    return len(seen)


async def follow_all(portal, runs, latencies, deadline):
    return await asyncio.gather(
        *(follow(portal.port, portal.session, run.pk, latencies, deadline) for run in runs)
    )


def scenario(portal: Portal, target, n: int, seconds: int, label: str, sshd_log: Path | None = None):
    idle = statistics.median(portal.recheck_seconds(target) for _ in range(3))
    started = time.time()
    # Every run prints until the same moment: launches spread over time still overlap.
    launch_allowance = max(30, n / 1.5)
    deadline = started + launch_allowance + seconds
    runs = portal.submit_many(target, n, deadline)
    latencies: list[float] = []
    loop = asyncio.new_event_loop()
    task = loop.run_in_executor(
        None, lambda: asyncio.run(follow_all(portal, runs, latencies, deadline + 300))
    )
    ids = [r.pk for r in runs]
    wait(
        lambda: Run.objects.filter(pk__in=ids, status__in=["Running", *TERMINAL]).count() == n,
        timeout=launch_allowance + seconds,
    )
    all_running = time.time()
    failed = Run.objects.filter(pk__in=ids, status__in=TERMINAL).values_list("error", flat=True)
    print(f"[{label}] {n} runs launched {all_running - started:.0f} s after the first submit", flush=True)
    if failed:
        print(f"[{label}] {len(failed)} runs already ended: {sorted(set(failed))[:3]}", flush=True)
    cpu0, wall0 = cpu_seconds(portal.proc.pid), time.monotonic()
    ssh0 = sshd_log.read_text().count("req exec") if sshd_log else 0
    time.sleep(min(10, seconds / 4))
    busy = [portal.recheck_seconds(target) for _ in range(3)]
    time.sleep(max(0, deadline - time.time() - 1))
    cpu = (cpu_seconds(portal.proc.pid) - cpu0) / (time.monotonic() - wall0)
    ssh_rate = (
        (sshd_log.read_text().count("req exec") - ssh0) / (time.monotonic() - wall0) if sshd_log else None
    )
    counts = loop.run_until_complete(task)
    wait(lambda: Run.objects.filter(pk__in=ids, status__in=TERMINAL).count() == n, timeout=300)
    completed = Run.objects.filter(pk__in=ids, status="Completed").count()
    print(f"[{label}] runs completed: {completed} of {n}")
    printed = stored = 0
    for run in runs:
        text = "".join(RunLogChunk.objects.filter(run=run, stream="stdout").values_list("text", flat=True))
        lines = text.splitlines()
        printed += int(lines[-1].split()[1]) if lines and lines[-1].startswith("done ") else 0
        stored += len({line.split()[1] for line in lines if line.startswith("tick ")})
    latencies.sort()
    print(f"[{label}] lines printed {printed}, stored {stored} (lost: {printed - stored})")
    print(f"[{label}] lines received over websockets: {sum(counts)} of {printed}")
    print(
        f"[{label}] print -> websocket (live pushes, {len(latencies)} lines): p50 "
        f"{statistics.median(latencies) * 1000:.0f} ms, p99 {latencies[int(len(latencies) * 0.99)] * 1000:.0f} ms"
    )
    print(f"[{label}] server process CPU while all {n} ran: {cpu * 100:.0f}% of one core")
    print(
        f"[{label}] Re-check: idle {idle:.2f} s, with {n} active runs median {statistics.median(busy):.2f} s"
    )
    if ssh_rate is not None:
        print(f"[{label}] SSH commands per second while active (all {n} runs): {ssh_rate:.1f}")


def ssh_target(portal: Portal, folder: Path):
    from portal import crypto
    from tests.conftest import SSHEnv

    folder.chmod(0o755)
    env = SSHEnv(folder)
    # A second sshd on the same users and keys that logs every command (DEBUG1: "req exec").
    server = servers.start_sshd(folder / "counted", config_extra="LogLevel DEBUG1\n")
    (folder / "counted" / "authorized_keys").write_text((folder / "id_plain.pub").read_text())
    target = ComputeTarget.objects.create(
        workspace=portal.workspace,
        name="bench-ssh",
        kind="ssh",
        state=TargetState.SUCCEEDED,
        config={"address": "127.0.0.1", "port": server.port, "username": env.user, "workdir": "portal-runs"},
        encrypted_secrets={"private_key": crypto.encrypt(env.key)},
        host_key=server.host_key,
    )
    return env, server, target


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--ssh", action="store_true")
    parser.add_argument("--ssh-runs", type=int, default=50)
    parser.add_argument("--no-local", action="store_true", help="only the SSH scenario")
    args = parser.parse_args()
    portal = Portal()
    try:
        if not args.no_local:
            scenario(portal, portal.local_target(), args.runs, args.seconds, "local")
        if args.ssh:
            env, server, target = ssh_target(portal, Path(tempfile.mkdtemp(prefix="bench-ssh-")))
            try:
                scenario(
                    portal, target, args.ssh_runs, args.seconds, "ssh", sshd_log=server.folder / "sshd.log"
                )
            finally:
                server.stop()
                env.close()
    finally:
        portal.close()


if __name__ == "__main__":
    main()
