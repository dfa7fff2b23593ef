"""Running scripts on a target: one set of POSIX sh scripts for every kind.

A backend that can run scripts mixes in ``RunnerMixin`` and supplies four
primitives: ``_sh(script, args)`` (run ``/bin/sh -c script`` with arguments,
never spliced into the text), ``_put_snapshot(sha, archive)`` (make the
portal's archive readable on the target), ``_read(path, offset, limit)`` and
``_fetch(path, dest)``. Everything else, the run folder, the detached start,
the batched poll, cancel and output collection, is shared.

Each workspace has its own area on the target (``<workdir>/ws-<id>/``):

    snapshots/<sha256>/   extracted snapshots, verified against the portal's digest before use
    envs/<spec hash>/     built environments, verified against the digest recorded when built
    runs/<run key>/       one folder per run:
        src/            a copy of the snapshot, and the script's working directory
        lib/            the run's helpers (portal_run.py, the azureml shim), on PYTHONPATH
        run.env         the run's own variables (PORTAL_RUN_ID, ...), read by job.sh
        job.sh          the detached job (its own session and process group)
        phase           "env" while building the environment, then "running"
        stdout.log, stderr.log, system.log, metrics.jsonl  appended to, never rewritten
        exit_code       written when the script ends
        failure         why the job gave up before the script ran

Nothing a run can write is trusted: its pid comes from the launch (``$!``),
not from a file, and is signalled only while it still leads the session it
was started in; every small file is read with a byte cap and filtered to the
characters its value may hold, and only once the job has ended.
"""

import hashlib
import os
import re
import shlex
import tarfile
import threading
from pathlib import Path, PurePosixPath

from .base import BackendError, LaunchSpec, RunState

READ_LIMIT = 1024 * 1024
LOG_FILES = {
    "stdout": "stdout.log",
    "stderr": "stderr.log",
    "system": "system.log",
    "metrics": "metrics.jsonl",
}
RUN_KEY = re.compile(r"^[0-9a-f]{32}$")

# The content digest of a folder: sha256sum of every regular file, sorted,
# hashed again. tree_digest() computes the same from the portal's archive.
DIGEST_FUNCTIONS = r"""
digest() { (cd "$1" && find . -type f ! -path ./.ready -exec sha256sum {} + | LC_ALL=C sort | sha256sum | cut -c1-64); }
oddities() { (cd "$1" && find . ! -type f ! -type d | head -n 1); }
# Renamed away first (atomic), then removed: a run copying it meanwhile fails
# plainly instead of copying half a folder.
discard() { if mv -T "$1" "$1.discarded.$$" 2>/dev/null; then chmod -R u+w "$1.discarded.$$"; rm -rf "$1.discarded.$$"; fi; }
"""

# /proc/<pid>/stat after the command name: state ppid pgrp session ... starttime (20th).
STAT_FIELDS = r"""
stat_fields() { state=$1; sid=$4; start=${20}; }
"""

HAS_SNAPSHOT = (
    DIGEST_FUNCTIONS
    + r"""
d="$1/snapshots/$2"; want="$3"
[ -d "$d" ] || { echo missing; exit 0; }
if [ -n "$want" ] && command -v sha256sum >/dev/null 2>&1; then
  if [ "$(digest "$d")" != "$want" ] || [ -n "$(oddities "$d")" ]; then
    discard "$d"; echo changed; exit 0
  fi
fi
echo present
"""
)

EXTRACT_SNAPSHOT = r"""
wd="$1"; sha="$2"; archive="$3"; remove="$4"
d="$wd/snapshots/$sha"
if [ ! -d "$d" ]; then
  tmp="$d.tmp.$$"
  rm -rf "$tmp" && mkdir -p "$tmp" || exit 1
  if ! tar -xzf "$archive" -C "$tmp"; then rm -rf "$tmp"; exit 1; fi
  # Another run may have won the race: its copy is the same content. -T: never
  # move this copy inside the winner's (a plain mv would, when $d exists).
  mv -T "$tmp" "$d" 2>/dev/null || rm -rf "$tmp"
fi
[ "$remove" = yes ] && rm -f "$archive"
echo extracted
"""

# Creates the run folder once (mkdir is atomic: a run is never started
# twice, even when a second worker retries the launch), checks the copied
# snapshot against the portal's digest, then starts job.sh detached in a
# session of its own and reports its pid ($!) and start time.
LAUNCH_PREPARE = r"""
wd="$1"; key="$2"; sha="$3"; runenv="$4"; job="$5"; envkind="$6"; envarg="$7"; reqs="$8"; script="$9"
shift 9
# Then the build's variables (sh lines) and CA bundle, the helper files as
# (path under lib/, content) pairs, then the script's arguments.
tree="$1"; envdigest="$2"; buildenv="$3"; cabundle="$4"; nlib="$5"
shift 5
mkdir -p "$wd/runs" || { echo "failure=The working directory $wd cannot be written."; exit 0; }
wd=$(cd "$wd" && pwd)
rd="$wd/runs/$key"
if ! mkdir "$rd" 2>/dev/null; then
  echo "rundir=$rd"; echo "launched=already"
  read -r pid start < "$rd/launch.pid" 2>/dev/null
  echo "pid=$(printf '%s' "$pid" | tr -cd 0-9 | head -c 12)"; echo "start=$(printf '%s' "$start" | tr -cd 0-9 | head -c 24)"
  exit 0
fi
echo "rundir=$rd"
mkdir -p "$rd/src" "$rd/lib"
: > "$rd/stdout.log"; : > "$rd/stderr.log"; : > "$rd/system.log"; : > "$rd/metrics.jsonl"
while [ "$nlib" -gt 0 ]; do
  case "$1" in */*) mkdir -p "$rd/lib/${1%/*}" ;; esac
  printf '%s' "$2" > "$rd/lib/$1"
  shift 2; nlib=$((nlib-1))
done
(umask 077; printf '%s' "$runenv" > "$rd/run.env"; printf '%s' "$buildenv" > "$rd/build.env"
 if [ -n "$cabundle" ]; then printf '%s\n' "$cabundle" > "$rd/build-ca.pem"; fi)
printf '%s' "$job" > "$rd/job.sh"
fail() {
  printf '%s\n' "$1" >> "$rd/system.log"; printf '%s\n' "$1" > "$rd/failure"
  echo 1 > "$rd/exit_code"; echo "failure=$1"; exit 0
}
cp -R "$wd/snapshots/$sha/." "$rd/src/" || fail "The snapshot could not be copied into the run folder."
if [ -n "$tree" ] && command -v sha256sum >/dev/null 2>&1; then
  if [ "$(digest "$rd/src")" != "$tree" ] || [ -n "$(oddities "$rd/src")" ]; then
    discard "$wd/snapshots/$sha"
    fail "The snapshot on the target was changed after it was uploaded; it was removed. Submit the run again."
  fi
fi
case "$script" in
  /*|../*|*/../*) fail "The script path must be relative to the snapshot folder." ;;
esac
[ -f "$rd/src/$script" ] || fail "The script $script is not in the snapshot (looked in $rd/src)."
command -v setsid >/dev/null 2>&1 || fail "setsid (util-linux) is missing on the target: runs need it."
if [ "$envkind" = user ]; then
  command -v "$envarg" >/dev/null 2>&1 || fail "The interpreter $envarg was not found on the target."
elif [ "$envkind" = conda ]; then
  command -v conda >/dev/null 2>&1 || fail "conda is not installed on this target: use pip requirements, or install conda."
  printf '%s\n' "$reqs" > "$rd/environment.yml"
else
  printf '%s\n' "$reqs" > "$rd/requirements.txt"
fi
cd "$rd"
"""

# The start for kinds whose jobs run on the target itself.
START_DETACHED = r"""
setsid nohup /bin/sh "$rd/job.sh" "$rd" "$wd" "$envkind" "$envarg" "$envdigest" "$script" "$@" \
  > /dev/null 2>&1 < /dev/null &
pid=$!
# Wait (a few ms) until setsid has made the job a session leader, and note
# its start time: cancel signals this session only while both still match.
start=""; i=0
while [ -d /proc/self ] && [ $i -lt 600 ]; do
  st=""; read -r st < "/proc/$pid/stat" 2>/dev/null || break
  stat_fields ${st##*) }
  [ "$sid" = "$pid" ] && break
  start=""; i=$((i+1))
  [ $i -gt 200 ] && sleep 0.005  # setsid is usually there within the first, fork-free, reads
done
echo "$pid $start" > "$rd/launch.pid"
echo "pid=$pid"; echo "start=$start"
echo "launched=now"
"""

LAUNCH = DIGEST_FUNCTIONS + STAT_FIELDS + LAUNCH_PREPARE + START_DETACHED

# The detached job: environment (if system-managed), then the script. A
# cached environment is used only when its content still matches the digest
# the portal recorded when it was built; otherwise it is built again.
JOB = (
    DIGEST_FUNCTIONS
    + r"""
rd="$1"; wd="$2"; envkind="$3"; envarg="$4"; envdigest="$5"; script="$6"
shift 6
echo $$ > "$rd/pid"
say() { printf '%s\n' "$1" >> "$rd/system.log"; }
finish() { printf '%s\n' "$1" > "$rd/exit_code.tmp"; mv "$rd/exit_code.tmp" "$rd/exit_code"; exit 0; }
if [ "$envkind" = user ]; then
  py="$envarg"
else
  echo env > "$rd/phase"
  envs="$wd/envs"; envdir="$envs/$envarg"
  mkdir -p "$envs"
  # One build per spec hash at a time; the lock goes with the process if it is killed.
  if command -v flock >/dev/null 2>&1; then exec 9> "$envs/$envarg.lock"; flock 9; fi
  reuse=0
  if [ -f "$envdir/.ready" ]; then
    if [ -n "$envdigest" ] && command -v sha256sum >/dev/null 2>&1; then
      if [ "$(digest "$envdir")" = "$envdigest" ]; then reuse=1
      else say "The cached environment $envarg changed since it was built: building it again."; fi
    elif [ "$envdir/.ready" -nt "$rd/job.sh" ]; then
      reuse=1  # built by another run while this one waited for the lock
    else
      say "The cached environment $envarg cannot be verified: building it again."
    fi
  fi
  if [ $reuse = 1 ]; then
    say "Environment cache hit ($envarg)."
    echo "hit" > "$rd/env_result"
  else
    start=$(date +%s)
    chmod -R u+w "$envdir" 2>/dev/null; rm -rf "$envdir"
    # The package index settings hold for the build only (a subshell), not for the script.
    (
    [ -f "$rd/build.env" ] && . "$rd/build.env"
    if [ -s "$rd/build-ca.pem" ]; then
      PIP_CERT="$rd/build-ca.pem"; SSL_CERT_FILE="$rd/build-ca.pem"; REQUESTS_CA_BUNDLE="$rd/build-ca.pem"
      export PIP_CERT SSL_CERT_FILE REQUESTS_CA_BUNDLE
    fi
    if [ "$envkind" = conda ]; then
      say "Building the environment with conda${PORTAL_INDEX_NOTE:-}."
      conda env create --quiet -p "$envdir" -f "$rd/environment.yml" >> "$rd/system.log" 2>&1
    elif command -v uv >/dev/null 2>&1; then
      say "Building the environment with uv${PORTAL_INDEX_NOTE:-}."
      { uv venv --python python3 "$envdir" \
          && VIRTUAL_ENV="$envdir" uv pip install --compile-bytecode -r "$rd/requirements.txt"; } >> "$rd/system.log" 2>&1
    else
      say "Building the environment with pip${PORTAL_INDEX_NOTE:-}."
      { python3 -m venv "$envdir" && "$envdir/bin/python" -m pip install \
          --disable-pip-version-check -r "$rd/requirements.txt"; } >> "$rd/system.log" 2>&1
    fi
    )
    rc=$?
    if [ $rc -ne 0 ]; then
      rm -rf "$envdir"
      printf '%s\n' "The environment build failed (exit code $rc): see the system log above." > "$rd/failure"
      finish $rc
    fi
    built=$(digest "$envdir" 2>/dev/null)
    printf '%s\n' "$built" > "$envdir/.ready"
    chmod -R a-w "$envdir" 2>/dev/null
    echo "built $(( $(date +%s) - start )) $built" > "$rd/env_result"
    say "Environment built in $(( $(date +%s) - start )) s."
  fi
  exec 9>&-
  py="$envdir/bin/python"
fi
echo running > "$rd/phase"
. "$rd/run.env"
cd "$rd/src"
# -- system metrics: the sampler watches this job's process tree and appends
# "system" lines to metrics.jsonl until the job ends (runs/helper/portal_sampler.py).
sampler=""
if [ -f "$rd/lib/portal_sampler.py" ]; then
  "$py" -I "$rd/lib/portal_sampler.py" "$rd/metrics.jsonl" $$ > /dev/null 2>&1 < /dev/null &
  sampler=$!
fi
# -- end of system metrics
# A kind may wrap the interpreter: launcher.sh in the run folder (Slurm: srun on every node).
set -- "$py" "$script" "$@"
[ -f "$rd/launcher.sh" ] && set -- /bin/sh "$rd/launcher.sh" "$@"
PYTHONPATH="$rd/lib${PYTHONPATH:+:$PYTHONPATH}" PORTAL_RUN_DIR="$rd" PYTHONDONTWRITEBYTECODE=1 \
  PORTAL_METRICS_FILE="$rd/metrics.jsonl" PYTHONUNBUFFERED=1 \
  "$@" >> "$rd/stdout.log" 2>> "$rd/stderr.log" < /dev/null
rc=$?
[ -n "$sampler" ] && kill "$sampler" 2>/dev/null
finish $rc
"""
)

# Polls every run given (in the runs folder $1) in one command: per run
# "<index> key=value" lines, then the sizes of all their log files from one
# stat. The job's liveness is read before its files: a job seen dead here
# wrote its exit code before it died, so "dead and no exit code" is a kill.
# Arguments per run: key, pid, start time, and which of phase (p) and
# environment result (e) are still wanted.
POLL = (
    STAT_FIELDS
    + r"""
cd "$1" 2>/dev/null || { shift; n=0; while [ $# -ge 4 ]; do echo "$n missing=1"; n=$((n+1)); shift 4; done; exit 0; }
shift
n=0; names=""
while [ $# -ge 4 ]; do
  key=$1; pid=$2; want=$3; flags=$4; shift 4
  if [ ! -d "$key" ]; then echo "$n missing=1"; n=$((n+1)); continue; fi
  alive=0
  if [ -d /proc/self ]; then
    st=""
    if [ -n "$pid" ] && read -r st < "/proc/$pid/stat" 2>/dev/null; then
      stat_fields ${st##*) }
      if [ "$state" != Z ] && [ "$sid" = "$pid" ] && { [ -z "$want" ] || [ "$start" = "$want" ]; }; then alive=1; fi
    fi
  elif [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    alive=1
  fi
  echo "$n alive=$alive"
  if [ $alive = 0 ]; then
    [ -f "$key/exit_code" ] && echo "$n exit=$(head -c 32 "$key/exit_code" | tr -cd '0-9-')"
    [ -f "$key/failure" ] && echo "$n failure=$(head -c 1000 "$key/failure" | head -n 1 | tr -d '\r')"
  fi
  case "$flags" in *p*) [ -f "$key/phase" ] && echo "$n phase=$(head -c 16 "$key/phase" | tr -cd 'a-z')" ;; esac
  case "$flags" in *e*) [ -f "$key/env_result" ] && echo "$n env=$(head -c 200 "$key/env_result" | tr -cd 'a-z0-9 ')" ;; esac
  [ -f "$key/canceled" ] && echo "$n canceled=1"
  names="$names $key/stdout.log $key/stderr.log $key/system.log $key/metrics.jsonl"
  n=$((n+1))
done
# Run keys are hex: splitting $names on spaces is safe.
[ -n "$names" ] && stat -c 'size %n=%s' $names 2>/dev/null
exit 0
"""
)

# Signals the session the job was started in: its leader, if it is still the
# process that was launched (same pid, session and start time), or whatever
# is left of that session once the leader is gone (the kernel does not reuse
# a pid while a session of that id has members). A pid the run wrote into a
# file is never used.
CANCEL = (
    STAT_FIELDS
    + r"""
rd="$1"; pid="$2"; want="$3"
echo 1 > "$rd/canceled" 2>/dev/null
case "$pid" in ''|*[!0-9]*) echo nopid; exit 0 ;; esac
[ "$pid" -gt 1 ] || { echo nopid; exit 0; }
if [ -r "/proc/$pid/stat" ]; then
  read -r st < "/proc/$pid/stat" 2>/dev/null
  stat_fields ${st##*) }
  if [ "$sid" != "$pid" ] || { [ -n "$want" ] && [ "$start" != "$want" ]; }; then
    echo reused; exit 0  # that pid is another process now: the run's session is gone
  fi
fi
members() {
  for f in /proc/[0-9]*/stat; do
    read -r st < "$f" 2>/dev/null || continue
    p=${st%% *}
    stat_fields ${st##*) }
    [ "$sid" = "$pid" ] && [ "$state" != Z ] && printf '%s ' "$p"
  done
}
left=$(members)
[ -n "$left" ] || { echo gone; exit 0; }
kill -TERM $left 2>/dev/null
i=0
while [ -n "$(members)" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
left=$(members)
[ -n "$left" ] && kill -KILL $left 2>/dev/null
echo killed
"""
)

PACK_OUTPUTS = r"""
rd="$1"
cd "$rd/src" 2>/dev/null || exit 0
if [ -d outputs ] && [ ! -L outputs ]; then
  tar -czf "$rd/outputs.tar.gz" outputs && echo "packed=$(wc -c < "$rd/outputs.tar.gz" | tr -cd 0-9)"
fi
"""


HELPER_PATH = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$")
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


def helper_arguments(helpers: dict[str, str]) -> list[str]:
    """(path, content) pairs of the files to write under the run's lib/."""
    args = []
    for path, text in sorted(helpers.items()):
        if not HELPER_PATH.match(path) or ".." in path.split("/"):
            raise BackendError(f"Not a helper path: {path[:200]}")
        args += [path, text]
    return args


def run_env_script(env: dict[str, str]) -> str:
    """The run's own variables as the sh lines job.sh reads before the script."""
    lines = []
    for name, value in sorted(env.items()):
        if not ENV_NAME.match(name):
            raise BackendError(f"Not a variable name: {name[:100]}")
        lines.append(f"export {name}={shlex.quote(value)}\n")
    return "".join(lines)


def _fields(output: str) -> dict:
    fields = {}
    for line in output.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def parse_exit_code(text: str | None) -> int | None:
    """An exit code from a capped, filtered read; None when it is not one."""
    text = (text or "").strip()
    if not re.fullmatch(r"-?\d{1,10}", text):
        return None
    return int(text)


def split_run_dir(run_dir: str) -> tuple[str, str]:
    """(runs folder, run key) of a handle's run folder; refuses anything else."""
    path = PurePosixPath(run_dir)
    if not RUN_KEY.match(path.name):
        raise BackendError(f"Not a run folder: {run_dir[:200]}")
    return str(path.parent), path.name


def parse_run_lines(lines: list[str], handles: list[dict]) -> tuple[list[dict], list[dict]]:
    """A poll's per-run lines: ``<index> key=value`` (values capped) and
    ``size <key>/<log file>=<bytes>``; (fields, log sizes) per handle. Other lines are skipped."""
    found: list[dict] = [{} for _ in handles]
    sizes: list[dict] = [{} for _ in handles]
    keys = {split_run_dir(h["run_dir"])[1]: i for i, h in enumerate(handles)}
    by_file = {filename: name for name, filename in LOG_FILES.items()}
    for line in lines:
        if line.startswith("size "):
            path, _, size = line[5:].rpartition("=")
            key, _, filename = path.partition("/")
            if key in keys and filename in by_file and size.isdigit():
                sizes[keys[key]][by_file[filename]] = int(size)
            continue
        index, _, rest = line.partition(" ")
        name, sep, value = rest.partition("=")
        if sep and index.isdigit() and int(index) < len(handles):
            found[int(index)][name] = value[:1000]
    return found, sizes


def tree_digest(archive: Path) -> str:
    """The digest DIGEST_FUNCTIONS computes on the target for a folder
    extracted from ``archive`` (a snapshot tar.gz): kept next to the archive,
    since snapshots never change."""
    cached = archive.with_name(archive.name + ".digest")
    if cached.exists():
        return cached.read_text().strip()
    lines = []
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            if not member.isreg():
                continue
            name = "./" + member.name.removeprefix("./")
            digest = hashlib.sha256()
            with tar.extractfile(member) as f:
                for block in iter(lambda f=f: f.read(1 << 20), b""):
                    digest.update(block)
            if "\\" in name or "\n" in name:  # sha256sum escapes these names
                name = name.replace("\\", "\\\\").replace("\n", "\\n")
                lines.append(f"\\{digest.hexdigest()}  {name}\n".encode())
            else:
                lines.append(f"{digest.hexdigest()}  {name}\n".encode())
    result = hashlib.sha256(b"".join(sorted(lines))).hexdigest()
    tmp = cached.with_name(f"{cached.name}.{os.getpid()}.{threading.get_native_id()}")
    tmp.write_text(result)
    tmp.replace(cached)
    return result


class RunnerMixin:
    """The run contract on top of the four primitives."""

    can_run = True
    command_timeout = 60.0

    # ---- primitives each backend supplies ------------------------------------
    def _sh(self, script: str, args: list[str], *, timeout: float | None = None) -> tuple[int, str, str]:
        raise NotImplementedError

    def _put_snapshot(self, sha256: str, archive: Path) -> tuple[str, bool]:
        """(path of the archive on the target, whether to remove it after extracting)."""
        raise NotImplementedError

    def _read(self, path: str, offset: int, limit: int) -> bytes:
        raise NotImplementedError

    def _fetch(self, path: str, dest: Path) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release connections held for a monitor's lifetime."""

    # ---- shared ------------------------------------------------------------------
    @property
    def area(self) -> str:
        """This workspace's own folder on the target: runs of different
        workspaces never share snapshots, environments or run folders."""
        return f"{self.workdir.rstrip('/') or '/'}/ws-{self.target.workspace_id}"

    def _check(self, script: str, args: list[str], what: str, *, timeout: float | None = None) -> str:
        rc, out, err = self._sh(script, args, timeout=timeout)
        if rc != 0:
            detail = (err or out).strip().splitlines()[-1:] or ["no output"]
            raise BackendError(f"{what} failed on the target (exit code {rc}): {detail[0][:300]}")
        return out

    def ensure_snapshot(self, sha256: str, archive: Path, *, tree_digest: str = "") -> bool:
        """Make the snapshot present on the target; True when it had to be
        uploaded. A copy whose content no longer matches ``tree_digest`` is
        removed and uploaded again."""
        out = self._check(HAS_SNAPSHOT, [self.area, sha256, tree_digest], "Looking for the snapshot")
        if out.strip() == "present":
            return False
        self._check('mkdir -p "$1/snapshots"', [self.area], "Creating the snapshot folder")
        remote, remove = self._put_snapshot(sha256, archive)
        self._check(
            EXTRACT_SNAPSHOT,
            [self.area, sha256, remote, "yes" if remove else "no"],
            "Extracting the snapshot",
            timeout=600,
        )
        return True

    def launch(self, spec: LaunchSpec) -> dict:
        """Start the job detached; returns the handle. Launching an already
        launched run returns its handle and starts nothing."""
        out = self._check(
            self.launch_script, [*self.launch_prefix(spec), *self.launch_arguments(spec)], "Starting the run"
        )
        fields = _fields(out)
        if "rundir" not in fields:
            raise BackendError(f"Starting the run gave no run folder: {out.strip()[:200]}")
        return {
            "run_dir": fields["rundir"],
            "pid": fields.get("pid", ""),
            "start": fields.get("start", ""),
            "failure": fields.get("failure", ""),
            "already": fields.get("launched") == "already",
        }

    # The launch script, and what comes before the common arguments (the Slurm kind's own);
    # the script that packs outputs/ (Slurm's adds the other ranks').
    launch_script = LAUNCH
    pack_outputs_script = PACK_OUTPUTS

    def launch_prefix(self, spec: LaunchSpec) -> list[str]:
        return []

    def launch_arguments(self, spec: LaunchSpec) -> list[str]:
        """The arguments LAUNCH_PREPARE reads, in its order."""
        return [
            self.area,
            spec.key,
            spec.sha256,
            run_env_script(spec.env),
            JOB,
            spec.env_kind,
            spec.env_arg,
            spec.requirements,
            spec.script,
            spec.tree_digest,
            spec.env_digest,
            run_env_script(spec.build_env),
            spec.ca_bundle,
            str(len(spec.helpers)),
            *helper_arguments(spec.helpers),
            *spec.arguments,
        ]

    def poll(self, handles: list[dict], *, known: list[set] | None = None) -> list[RunState]:
        """All the runs in one command per runs folder (one for a target's
        runs of one workspace). ``known[i]`` names what the caller already has
        for run i ("phase" once running, "env" once the environment result
        arrived), so the poll skips reading those files."""
        known = known or [set() for _ in handles]
        states: list[RunState | None] = [None] * len(handles)
        by_folder: dict[str, list[int]] = {}
        for i, handle in enumerate(handles):
            folder, _ = split_run_dir(handle["run_dir"])
            by_folder.setdefault(folder, []).append(i)
        for folder, indexes in by_folder.items():
            args = [folder]
            for i in indexes:
                handle = handles[i]
                flags = ("" if "phase" in known[i] else "p") + ("" if "env" in known[i] else "e")
                args += [
                    split_run_dir(handle["run_dir"])[1],
                    str(handle.get("pid", "")),
                    str(handle.get("start", "")),
                    flags or "-",
                ]
            out = self._check(POLL, args, "Polling the runs", timeout=30)
            for i, state in zip(indexes, self._parse_poll(out, [handles[i] for i in indexes]), strict=True):
                states[i] = state
        return states

    @staticmethod
    def _parse_poll(output: str, handles: list[dict]) -> list[RunState]:
        found, sizes = parse_run_lines(output.splitlines()[: 20 * len(handles) + 10], handles)
        return [
            RunState(
                alive=f.get("alive") == "1",
                exit_code=parse_exit_code(f.get("exit")),
                phase=f.get("phase", ""),
                env_result=f.get("env", ""),
                failure=f.get("failure", ""),
                canceled=f.get("canceled") == "1",
                missing=f.get("missing") == "1",
                sizes=s or None,
            )
            for f, s in zip(found, sizes, strict=True)
        ]

    def read_logs(self, handle: dict, offsets: dict, sizes: dict | None = None) -> dict:
        """New bytes of each log file (and the metrics file) from the given offsets;
        with ``sizes`` from poll(), files that did not grow are not read at all."""
        data = {}
        for name, filename in LOG_FILES.items():
            offset = int(offsets.get(name, 0))
            if sizes is not None and name in sizes and sizes[name] <= offset:
                data[name] = b""
            else:
                data[name] = self._read(f"{handle['run_dir']}/{filename}", offset, READ_LIMIT)
        return data

    def cancel(self, handle: dict) -> None:
        """Kill the job's session: TERM, then KILL after 5 s."""
        self._check(
            CANCEL,
            [handle["run_dir"], str(handle.get("pid", "")), str(handle.get("start", ""))],
            "Canceling the run",
            timeout=30,
        )

    def fetch_outputs(self, handle: dict, dest: Path, *, max_bytes: int | None = None) -> bool:
        """Pack ./outputs on the target and bring the archive to ``dest``; False
        when there is none. An archive over ``max_bytes`` is not downloaded."""
        out = self._check(self.pack_outputs_script, [handle["run_dir"]], "Packing the outputs", timeout=600)
        packed = _fields(out).get("packed")
        if packed is None:
            return False
        if max_bytes is not None and packed.isdigit() and int(packed) > max_bytes:
            raise BackendError(
                f"The outputs archive is {int(packed) / 1e6:.0f} MB, over the "
                f"{max_bytes / 1e6:.0f} MB limit: outputs were not collected."
            )
        self._fetch(f"{handle['run_dir']}/outputs.tar.gz", dest)
        return True
