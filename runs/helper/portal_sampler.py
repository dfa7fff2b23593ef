"""Samples a run's process tree into its metrics file while the run is active.

job.sh starts it beside the script (``python -I portal_sampler.py METRICS
ROOT_PID``); it appends one line a sample, which the portal's monitor reads
with the rest of the metrics file (runs/system_samples.py stores them):

    {"type": "system", "time": 1700000000.0, "seconds": 5.0, "cpu": 1.93,
     "rss": 123456789, "read": 0, "write": 4096, "procs": 3,
     "gpus": [{"index": 0, "util": 3.0, "memory_mb": 812.0, "total_mb": 16384.0}]}

cpu is the cores the tree kept busy on average over ``seconds``; read and
write are the bytes it read and wrote meanwhile; gpus come from nvidia-smi
where it is installed (the devices in CUDA_VISIBLE_DEVICES when that is set).
It ends when the process it watches ends. Standard library only.
"""

import json
import os
import shutil
import subprocess
import sys
import time

FIRST_SECONDS = 2.0  # short runs get samples too
EVERY_SECONDS = 5.0
FAST_FOR = 60.0  # seconds of sampling every FIRST_SECONDS before slowing down
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def processes() -> dict[int, tuple[int, int, int]]:
    """pid -> (parent pid, CPU ticks used, resident pages) for every process we can read."""
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                text = f.read()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2 :].split()
        try:  # after the name: state ppid ... utime(12) stime(13) ... rss(22)
            found[int(name)] = (int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[21]))
        except (IndexError, ValueError):
            continue
    return found


def tree(root: int, table: dict, skip: int) -> list[int]:
    """``root`` and its descendants, without the sampler (``skip``) and its children."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid == skip or pid not in table:
            continue
        out.append(pid)
        todo += children.get(pid, [])
    return out


def io_bytes(pid: int) -> tuple[int, int]:
    read = write = 0
    try:
        with open(f"/proc/{pid}/io") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key == "read_bytes":
                    read = int(value)
                elif key == "write_bytes":
                    write = int(value)
    except (OSError, ValueError):
        pass
    return read, write


def gpus(nvidia_smi: str | None) -> list[dict]:
    if not nvidia_smi:
        return []
    try:
        out = subprocess.run(
            [
                nvidia_smi,
                "--query-gpu=index,utilization.gpu,memory.used,memory.total",
                "--format=csv,noheader,nounits",
            ],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
    wanted = {v.strip() for v in visible.split(",")} if visible else None
    found = []
    for line in out.splitlines()[:64]:
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 4 or (wanted is not None and parts[0] not in wanted):
            continue
        try:
            found.append(
                {
                    "index": int(parts[0]),
                    "util": float(parts[1]),
                    "memory_mb": float(parts[2]),
                    "total_mb": float(parts[3]),
                }
            )
        except ValueError:
            continue
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


def main(metrics: str, root: int) -> None:
    me = os.getpid()
    nvidia_smi = shutil.which("nvidia-smi")
    fd = os.open(metrics, os.O_WRONLY | os.O_APPEND)
    seen: dict[int, tuple[int, int, int]] = {}  # pid -> (ticks, read, write) at the last sample
    last = time.monotonic()
    began = last
    while True:
        time.sleep(FIRST_SECONDS if time.monotonic() - began < FAST_FOR else EVERY_SECONDS)
        if not alive(root):
            return
        table = processes()
        pids = tree(root, table, me)
        now = time.monotonic()
        elapsed, last = now - last, now
        ticks = rss = read = write = 0
        current = {}
        for pid in pids:
            _, used, pages = table[pid]
            r, w = io_bytes(pid)
            before = seen.get(pid, (0, 0, 0))
            ticks += max(0, used - before[0])
            read += max(0, r - before[1])
            write += max(0, w - before[2])
            rss += pages * PAGE
            current[pid] = (used, r, w)
        seen = current
        line = {
            "type": "system",
            "time": time.time(),
            "seconds": round(elapsed, 3),
            "cpu": round(ticks / CLOCK_TICKS / elapsed, 4) if elapsed > 0 else 0.0,
            "rss": rss,
            "read": read,
            "write": write,
            "procs": len(pids),
            "gpus": gpus(nvidia_smi),
        }
        os.write(fd, (json.dumps(line) + "\n").encode())


if __name__ == "__main__" and len(sys.argv) == 3:
    main(sys.argv[1], int(sys.argv[2]))
