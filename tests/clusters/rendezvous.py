"""A distributed job in pure Python: every rank connects to rank 0 at
MASTER_ADDR:MASTER_PORT and sends its rank; rank 0 answers the sum to all."""

import os
import socket
import time
from pathlib import Path

from portal_run import Run

rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
addr, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
print(
    f"rank {rank} of {world} on node {os.environ['NODE_RANK']} local {os.environ['LOCAL_RANK']}", flush=True
)
Path("outputs").mkdir(exist_ok=True)
Path("outputs/rank.txt").write_text(f"{rank}\n")
if rank == 0:
    server = socket.create_server(("", port))
    peers = [server.accept()[0] for _ in range(world - 1)]
    total = sum(int(peer.recv(16)) for peer in peers)
    for peer in peers:
        peer.sendall(str(total).encode())
else:
    for _ in range(200):
        try:
            peer = socket.create_connection((addr, port))
            break
        except OSError:
            time.sleep(0.1)
    peer.sendall(str(rank).encode())
    total = int(peer.recv(16))
print(f"rank {rank} agrees: sum {total}", flush=True)
Run.get_context().log("sum", total, step=rank)
