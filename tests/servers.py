"""Real servers for integration tests: OpenSSH on loopback, a host that hangs."""

import os
import pwd
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import uvicorn

SSHD = "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


def make_host_key(path: Path) -> str:
    """A new ed25519 host key; returns its public line "<type> <base64>"."""
    path.unlink(missing_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return " ".join(Path(f"{path}.pub").read_text().split()[:2])


@dataclass
class SSHServer:
    folder: Path
    port: int
    host_key: str  # public line of the host key
    process: subprocess.Popen | None = None
    config_extra: str = ""

    def start(self):
        config = self.folder / "sshd_config"
        config.write_text(
            f"""Port {self.port}
ListenAddress 127.0.0.1
HostKey {self.folder / "host_key"}
AuthorizedKeysFile {self.folder / "authorized_keys"}
PermitRootLogin no
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile {self.folder / "sshd.pid"}
Subsystem sftp internal-sftp
{self.config_extra}
"""
        )
        Path("/run/sshd").mkdir(exist_ok=True)
        self.process = subprocess.Popen([SSHD, "-D", "-f", str(config), "-E", str(self.folder / "sshd.log")])
        wait_for_port(self.port)
        return self

    def stop(self):
        if self.process:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def new_host_key(self):
        """Restart with a new host key, as after a reinstall."""
        self.stop()
        self.host_key = make_host_key(self.folder / "host_key")
        return self.start()


def start_sshd(folder: Path, config_extra: str = "") -> SSHServer:
    folder.mkdir(parents=True, exist_ok=True)
    host_key = make_host_key(folder / "host_key")
    (folder / "authorized_keys").touch()
    return SSHServer(folder, free_port(), host_key, config_extra=config_extra).start()


def ensure_user(name: str, password: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", name], check=True)
    subprocess.run(["chpasswd"], input=f"{name}:{password}", text=True, check=True)


def remove_user(name: str) -> None:
    subprocess.run(["userdel", "--remove", name], capture_output=True)


def restricted_bin(folder: Path) -> Path:
    """A PATH folder with every command of /usr/bin except Python."""
    folder.mkdir(parents=True, exist_ok=True)
    for entry in os.scandir("/usr/bin"):
        if not entry.name.startswith("python"):
            link = folder / entry.name
            if not link.exists():
                link.symlink_to(entry.path)
    return folder


class HangingServer:
    """Accepts TCP connections and never says a word (a wedged host)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self):
        self.sock.close()
        for conn in self.accepted:
            conn.close()


class LivePortal:
    """The ASGI app served by uvicorn in a thread; restart() drops every websocket."""

    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.start()

    def start(self):
        from channels.layers import channel_layers

        from portal.asgi import application

        # A fresh channel layer for every server: channels_redis binds its
        # receive lock to the loop of the first consumer that waits, and a
        # consumer still waiting when an earlier server's loop stopped would
        # leave that lock held, bound to a dead loop ("bound to a different
        # event loop" on every socket of the next server in this process).
        channel_layers.backends.clear()
        config = uvicorn.Config(
            application, host="127.0.0.1", port=self.port, lifespan="off", log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_for_port(self.port)

    def stop(self):
        self.server.should_exit = True
        self.thread.join(10)

    def restart(self):
        self.stop()
        self.start()
