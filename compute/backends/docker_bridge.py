"""The Docker API carried over an attached SSH VM's paramiko connection.

The portal's own SSH transport (the VM's pinned host key and credentials)
opens one channel per HTTP connection; a tiny python3 program on the VM pipes
the channel to the engine's socket there.
"""

import shlex

import docker
from docker.transport.basehttpadapter import BaseHTTPAdapter
from docker.transport.sshconn import SSHConnection, SSHConnectionPool

# Bridges the API over the SSH channel's stdin/stdout to the engine's socket on
# the VM. python3 is on every VM that passed the preflight; socat may not be.
_DIAL_STDIO = r"""
import os, socket, sys, threading
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
def pump():
    while True:
        data = os.read(0, 65536)
        if not data:
            break
        s.sendall(data)
    s.shutdown(socket.SHUT_WR)
threading.Thread(target=pump, daemon=True).start()
while True:
    data = s.recv(65536)
    if not data:
        break
    os.write(1, data)
"""


class _BridgedConnection(SSHConnection):
    def __init__(self, transport, timeout, remote_socket):
        super().__init__(ssh_transport=transport, timeout=timeout)
        self.remote_socket = remote_socket

    def connect(self):
        channel = self.ssh_transport.open_session(timeout=self.timeout)
        channel.settimeout(self.timeout)
        channel.exec_command(shlex.join(["python3", "-c", _DIAL_STDIO, self.remote_socket]))
        self.sock = channel


class _BridgedPool(SSHConnectionPool):
    def __init__(self, transport, timeout, remote_socket):
        super().__init__(timeout=timeout, maxsize=4)
        self.ssh_transport = transport
        self.remote_socket = remote_socket

    def _new_conn(self):
        return _BridgedConnection(self.ssh_transport, self.timeout, self.remote_socket)


class _SSHAdapter(BaseHTTPAdapter):
    def __init__(self, transport, timeout, remote_socket):
        self.pool = _BridgedPool(transport, timeout, remote_socket)
        super().__init__()

    def get_connection(self, url, proxies=None):
        return self.pool

    def close(self):
        super().close()
        self.pool.close()


def bridged_client(transport, *, remote_socket: str, timeout: float, version: str) -> docker.DockerClient:
    """A Docker client whose every request goes over ``transport`` to ``remote_socket``."""
    client = docker.DockerClient(base_url="tcp://127.0.0.1:9", version=version, timeout=timeout)
    client.api.mount("http+docker://ssh", _SSHAdapter(transport, timeout, remote_socket))
    client.api._unmount("http://", "https://")
    client.api.base_url = "http+docker://ssh"
    return client
