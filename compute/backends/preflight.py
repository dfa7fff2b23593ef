"""The preflight every target runs: one POSIX sh script, parsed here.

It takes the working directory as its only argument ($1), so nothing the user
typed is ever spliced into the script text.
"""

import re
import shlex

from .base import BackendError

MIN_FREE_DISK_MB = 200
# What a target may answer: anything else is ignored, every value is capped.
MAX_LINES = 5000
VERSION = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,4}")
TEXT_KEYS = {"os", "distro", "arch", "conda", "docker", "uv", "gpu_error"}
NUMBER_KEYS = {"cpus", "memory_kb", "disk_free_kb"}
VALUE_CHARS = 200
MAX_PYTHONS = 16
MAX_GPUS = 64

SCRIPT = r"""
wd="$1"
run_limited() { if command -v timeout >/dev/null 2>&1; then timeout "$@"; else shift; "$@"; fi; }
echo "os=$(uname -s 2>/dev/null)"
if [ -r /etc/os-release ]; then echo "distro=$(. /etc/os-release; echo "${PRETTY_NAME:-}")"; fi
echo "arch=$(uname -m 2>/dev/null)"
echo "cpus=$(getconf _NPROCESSORS_ONLN 2>/dev/null || nproc 2>/dev/null)"
[ -r /proc/meminfo ] && awk '/^MemTotal:/ {print "memory_kb=" $2}' /proc/meminfo
if mkdir -p -- "$wd" 2>/dev/null && [ -w "$wd" ]; then
  echo "workdir=ok"
  df -Pk -- "$wd" 2>/dev/null | awk 'NR==2 {print "disk_free_kb=" $4}'
else
  echo "workdir=not-writable"
fi
for p in python3 python3.14 python3.13 python3.12 python3.11 python3.10 python3.9 python3.8; do
  path=$(command -v "$p" 2>/dev/null) || continue
  v=$(run_limited 10 "$path" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null) && echo "python=$path $v"
done
if command -v conda >/dev/null 2>&1; then echo "conda=$(run_limited 10 conda --version 2>/dev/null)"; fi
if command -v docker >/dev/null 2>&1; then echo "docker=$(run_limited 5 docker --version 2>/dev/null)"; fi
if command -v uv >/dev/null 2>&1; then echo "uv=$(run_limited 5 uv --version 2>/dev/null)"; fi
if command -v nvidia-smi >/dev/null 2>&1; then
  if out=$(run_limited 15 nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader,nounits 2>&1); then
    printf '%s\n' "$out" | while IFS= read -r line; do [ -n "$line" ] && echo "gpu=$line"; done
  else
    echo "gpu_error=$(printf '%s' "$out" | head -n 1)"
  fi
fi
echo "preflight=done"
"""


def command(workdir: str) -> list[str]:
    return ["/bin/sh", "-c", SCRIPT, "preflight", workdir]


def command_line(workdir: str) -> str:
    return shlex.join(command(workdir))


def parse(output: str, *, workdir: str) -> dict:
    """Capabilities from the script's output; raises BackendError for a
    target that cannot run anything (no python3, workdir not writable, disk full)."""
    caps: dict = {"pythons": [], "gpus": [], "workdir": workdir}
    done = writable = False
    for line in output.splitlines()[:MAX_LINES]:
        key, sep, value = line.partition("=")
        if not sep:
            continue
        value = value.strip()[:VALUE_CHARS]
        if key == "python":
            path, _, version = value.partition(" ")
            if (
                VERSION.fullmatch(version)
                and len(caps["pythons"]) < MAX_PYTHONS
                and all(p["path"] != path for p in caps["pythons"])
            ):
                caps["pythons"].append({"path": path, "version": version})
        elif key == "gpu" and len(caps["gpus"]) < MAX_GPUS:
            name, memory, driver = ([*(s.strip() for s in value.split(",")), "", ""])[:3]
            caps["gpus"].append({"name": name, "memory_mb": _int(memory), "driver": driver})
        elif key in NUMBER_KEYS:
            caps[key] = _int(value)
        elif key == "preflight":
            done = value == "done"
        elif key == "workdir":
            writable = value == "ok"
        elif key in TEXT_KEYS:
            caps[key] = value
    if not done:
        raise BackendError("The preflight did not finish: the target's shell ended early.")
    for kb, mb in (("memory_kb", "memory_mb"), ("disk_free_kb", "disk_free_mb")):
        if kb in caps:
            value = caps.pop(kb)
            caps[mb] = value // 1024 if value is not None else None
    if not writable:
        raise BackendError(
            f"The working directory {workdir} cannot be created or written to.", permanent=True
        )
    if not caps["pythons"]:
        raise BackendError(
            "No python3 found on the target's PATH: install Python 3 or fix PATH for this user.",
            permanent=True,
        )
    free = caps.get("disk_free_mb")
    if free is not None and free < MIN_FREE_DISK_MB:
        raise BackendError(
            f"Disk full: only {free} MB free in {workdir} (at least {MIN_FREE_DISK_MB} MB needed).",
            permanent=True,
        )
    return caps


def _int(value: str):
    value = (value or "").strip()
    if not value.isdigit() or len(value) > 15:
        return None
    return int(value)
