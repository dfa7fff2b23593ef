"""SSH backend latency against a real sshd on loopback: prints medians.

    .venv/bin/python bench/ssh_commands.py [--rounds 30]

Starts its own sshd and test user (root needed), measures the portal's own
SSHBackend: connect + authenticate, one command on a reused connection, and
the whole preflight — with TCP_NODELAY (what the backend does) and without.
"""

import argparse
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("PORTAL_VAR_DIR", tempfile.mkdtemp(prefix="portal-bench-"))

import django  # noqa: E402

django.setup()

from compute.backends import preflight  # noqa: E402
from compute.backends.ssh import SSHBackend  # noqa: E402
from compute.models import ComputeTarget  # noqa: E402
from portal import crypto  # noqa: E402
from tests import servers  # noqa: E402

USER, PASSWORD = "portalbench", "bench-password-1"


class NagleBackend(SSHBackend):
    """The same backend with Nagle's algorithm left on (paramiko's default)."""

    @staticmethod
    def _open_socket(host, port, timeout):
        sock = SSHBackend._open_socket(host, port, timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
        return sock


def measure(backend_class, target, rounds):
    connects, commands, preflights = [], [], []
    for _ in range(rounds):
        started = time.perf_counter()
        with backend_class(target).session() as session:
            connects.append(time.perf_counter() - started)
            for _ in range(10):
                t = time.perf_counter()
                session.run("true", timeout=10)
                commands.append(time.perf_counter() - t)
            t = time.perf_counter()
            session.run(preflight.command_line("portal-bench"), timeout=60)
            preflights.append(time.perf_counter() - t)
    return {
        name: statistics.median(values) * 1000
        for name, values in (("connect+auth", connects), ("command", commands), ("preflight", preflights))
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    rounds = parser.parse_args().rounds
    folder = Path(tempfile.mkdtemp(prefix="portal-bench-sshd-"))
    folder.chmod(0o755)
    servers.ensure_user(USER, PASSWORD)
    server = servers.start_sshd(folder)
    try:
        target = ComputeTarget(
            name="bench",
            kind="ssh",
            host_key=server.host_key,
            config={"address": "127.0.0.1", "port": server.port, "username": USER, "workdir": "portal-bench"},
            encrypted_secrets={"password": crypto.encrypt(PASSWORD)},
        )
        fast = measure(SSHBackend, target, rounds)
        slow = measure(NagleBackend, target, rounds)
    finally:
        server.stop()
        servers.remove_user(USER)
    print(f"SSH backend on loopback, medians over {rounds} connections x 10 commands")
    print(f"{'':16}{'TCP_NODELAY':>14}{'Nagle on':>12}{'ratio':>8}")
    for name in fast:
        print(f"{name:16}{fast[name]:>11.1f} ms{slow[name]:>9.1f} ms{slow[name] / fast[name]:>7.1f}x")


if __name__ == "__main__":
    main()
