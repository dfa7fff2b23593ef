"""Running scripts on a target: one set of POSIX sh scripts for every kind.

A backend that can run scripts mixes in ``RunnerMixin`` and supplies four
primitives: ``_sh(script, args)`` (run ``/bin/sh -c script`` with arguments,
never spliced into the text), ``_put_snapshot(sha, archive)`` (make the
portal's archive readable on the target), ``_read(path, offset, limit)`` and ``_fetch(path,
dest)``. Everything else, the run folder, the detached start, polling,
cancel and output collection, is shared.

Run folder on the target (``<workdir>/runs/<run key>/``):

    src/            the snapshot, and the script's working directory
    lib/            portal_run.py, on PYTHONPATH
    job.sh          the detached job (its own session and process group)
    pid             the job's pid (= its process group and session id)
    phase           "env" while building the environment, then "running"
    stdout.log, stderr.log, system.log, metrics.jsonl  appended to, never rewritten
    exit_code       written when the script ends
    failure         why the job gave up before the script ran
"""

from dataclasses import dataclass
from pathlib import Path

from .base import BackendError

READ_LIMIT = 1024 * 1024
LOG_FILES = {
    "stdout": "stdout.log",
    "stderr": "stderr.log",
    "system": "system.log",
    "metrics": "metrics.jsonl",
}

HAS_SNAPSHOT = r"""
[ -d "$1/snapshots/$2" ] && echo present || echo missing
"""

EXTRACT_SNAPSHOT = r"""
wd="$1"; sha="$2"; archive="$3"; remove="$4"
d="$wd/snapshots/$sha"
if [ ! -d "$d" ]; then
  tmp="$d.tmp.$$"
  rm -rf "$tmp" && mkdir -p "$tmp" || exit 1
  if ! tar -xzf "$archive" -C "$tmp"; then rm -rf "$tmp"; exit 1; fi
  # Another run may have won the race: its copy is the same content.
  mv "$tmp" "$d" 2>/dev/null || rm -rf "$tmp"
fi
[ "$remove" = yes ] && rm -f "$archive"
echo extracted
"""

# Creates the run folder once (mkdir is atomic: a run is never started
# twice, even when a second worker retries the launch), then starts job.sh
# detached and waits for its pid file.
LAUNCH = r"""
wd="$1"; key="$2"; sha="$3"; helper="$4"; job="$5"; envkind="$6"; envarg="$7"; reqs="$8"; script="$9"
shift 9
mkdir -p "$wd/runs" || { echo "failure=The working directory $wd cannot be written."; exit 0; }
wd=$(cd "$wd" && pwd)
rd="$wd/runs/$key"
if ! mkdir "$rd" 2>/dev/null; then echo "rundir=$rd"; echo "launched=already"; exit 0; fi
echo "rundir=$rd"
mkdir -p "$rd/src" "$rd/lib"
: > "$rd/stdout.log"; : > "$rd/stderr.log"; : > "$rd/system.log"; : > "$rd/metrics.jsonl"
printf '%s' "$helper" > "$rd/lib/portal_run.py"
printf '%s' "$job" > "$rd/job.sh"
fail() {
  printf '%s\n' "$1" >> "$rd/system.log"; printf '%s\n' "$1" > "$rd/failure"
  echo 1 > "$rd/exit_code"; echo "failure=$1"; exit 0
}
cp -R "$wd/snapshots/$sha/." "$rd/src/" || fail "The snapshot could not be copied into the run folder."
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
setsid nohup /bin/sh "$rd/job.sh" "$rd" "$wd" "$envkind" "$envarg" "$script" "$@" \
  > /dev/null 2>&1 < /dev/null &
i=0
while [ ! -s "$rd/pid" ] && [ $i -lt 1000 ]; do sleep 0.005; i=$((i+1)); done
echo "pid=$(cat "$rd/pid" 2>/dev/null)"
echo "launched=now"
"""

# The detached job: environment (if system-managed), then the script.
JOB = r"""
rd="$1"; wd="$2"; envkind="$3"; envarg="$4"; script="$5"
shift 5
echo $$ > "$rd/pid.tmp" && mv "$rd/pid.tmp" "$rd/pid"
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
  if [ -f "$envdir/.ready" ]; then
    say "Environment cache hit ($envarg)."
    echo "hit" > "$rd/env_result"
  else
    start=$(date +%s)
    rm -rf "$envdir"
    if [ "$envkind" = conda ]; then
      say "Building the environment with conda."
      conda env create --quiet -p "$envdir" -f "$rd/environment.yml" >> "$rd/system.log" 2>&1
    elif command -v uv >/dev/null 2>&1; then
      say "Building the environment with uv."
      { uv venv --python python3 "$envdir" \
          && VIRTUAL_ENV="$envdir" uv pip install -r "$rd/requirements.txt"; } >> "$rd/system.log" 2>&1
    else
      say "Building the environment with pip."
      { python3 -m venv "$envdir" && "$envdir/bin/python" -m pip install \
          --disable-pip-version-check -r "$rd/requirements.txt"; } >> "$rd/system.log" 2>&1
    fi
    rc=$?
    if [ $rc -ne 0 ]; then
      rm -rf "$envdir"
      printf '%s\n' "The environment build failed (exit code $rc): see the system log above." > "$rd/failure"
      finish $rc
    fi
    touch "$envdir/.ready"
    echo "built $(( $(date +%s) - start ))" > "$rd/env_result"
    say "Environment built in $(( $(date +%s) - start )) s."
  fi
  exec 9>&-
  py="$envdir/bin/python"
fi
echo running > "$rd/phase"
cd "$rd/src"
PYTHONPATH="$rd/lib${PYTHONPATH:+:$PYTHONPATH}" PORTAL_RUN_DIR="$rd" \
  PORTAL_METRICS_FILE="$rd/metrics.jsonl" PYTHONUNBUFFERED=1 \
  "$py" "$script" "$@" >> "$rd/stdout.log" 2>> "$rd/stderr.log" < /dev/null
finish $?
"""

POLL = r"""
rd="$1"
[ -d "$rd" ] || { echo "missing=1"; exit 0; }
# Liveness first, files second: a job seen dead here wrote its exit code
# before it died, so "dead and no exit code" really means killed.
pid=$(cat "$rd/pid" 2>/dev/null)
alive=0
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
  alive=1
  # A zombie nobody reaped is not alive.
  if [ -r "/proc/$pid/stat" ] && grep -q ') Z' "/proc/$pid/stat"; then alive=0; fi
fi
echo "alive=$alive"
[ -f "$rd/exit_code" ] && echo "exit=$(cat "$rd/exit_code")"
[ -f "$rd/phase" ] && echo "phase=$(cat "$rd/phase")"
[ -f "$rd/env_result" ] && echo "env=$(cat "$rd/env_result")"
[ -f "$rd/failure" ] && echo "failure=$(head -n 1 "$rd/failure")"
[ -f "$rd/canceled" ] && echo "canceled=1"
# File sizes, so the reader skips files that did not grow (one fork with GNU stat).
cd "$rd" && { stat -c 'size_%n=%s' stdout.log stderr.log system.log metrics.jsonl 2>/dev/null \
  || for f in stdout.log stderr.log system.log metrics.jsonl; do echo "size_$f=$(wc -c < "$f")"; done; }
"""

CANCEL = r"""
rd="$1"
echo 1 > "$rd/canceled"
pid=$(cat "$rd/pid" 2>/dev/null) || exit 0
[ -n "$pid" ] || exit 0
group_alive() {
  for p in $(ps -e -o pid= -o pgid= 2>/dev/null | awk -v g="$pid" '$2 == g {print $1}'); do
    if [ -r "/proc/$p/stat" ] && grep -q ') Z' "/proc/$p/stat"; then continue; fi
    return 0
  done
  return 1
}
kill -TERM "-$pid" 2>/dev/null
i=0
while group_alive && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
kill -KILL "-$pid" 2>/dev/null
echo killed
"""

PACK_OUTPUTS = r"""
rd="$1"
cd "$rd/src" 2>/dev/null || exit 0
if [ -d outputs ]; then
  tar -czf "$rd/outputs.tar.gz" outputs && echo packed
fi
"""


@dataclass
class RunState:
    """What poll() found in the run folder."""

    alive: bool = False
    exit_code: int | None = None
    phase: str = ""
    env_result: str = ""
    failure: str = ""
    canceled: bool = False
    missing: bool = False
    sizes: dict | None = None  # file name -> bytes, when the target reported them

    @property
    def ended(self) -> bool:
        return self.exit_code is not None or not self.alive


def _fields(output: str) -> dict:
    fields = {}
    for line in output.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


class RunnerMixin:
    """launch / read_logs / poll / cancel / fetch_outputs on top of the primitives."""

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
    def _check(self, script: str, args: list[str], what: str, *, timeout: float | None = None) -> str:
        rc, out, err = self._sh(script, args, timeout=timeout)
        if rc != 0:
            detail = (err or out).strip().splitlines()[-1:] or ["no output"]
            raise BackendError(f"{what} failed on the target (exit code {rc}): {detail[0]}")
        return out

    def ensure_snapshot(self, sha256: str, archive: Path) -> bool:
        """Make the snapshot present on the target; True when it had to be uploaded."""
        out = self._check(HAS_SNAPSHOT, [self.workdir, sha256], "Looking for the snapshot")
        if out.strip() == "present":
            return False
        self._check('mkdir -p "$1/snapshots"', [self.workdir], "Creating the snapshot folder")
        remote, remove = self._put_snapshot(sha256, archive)
        self._check(
            EXTRACT_SNAPSHOT,
            [self.workdir, sha256, remote, "yes" if remove else "no"],
            "Extracting the snapshot",
            timeout=600,
        )
        return True

    def launch(
        self,
        *,
        key: str,
        sha256: str,
        script: str,
        arguments: list[str],
        env_kind: str,
        env_arg: str,
        requirements: str,
        helper: str,
    ) -> dict:
        """Start the job detached; returns the handle. Launching an already
        launched run returns its handle and starts nothing."""
        out = self._check(
            LAUNCH,
            [self.workdir, key, sha256, helper, JOB, env_kind, env_arg, requirements, script, *arguments],
            "Starting the run",
        )
        fields = _fields(out)
        if "rundir" not in fields:
            raise BackendError(f"Starting the run gave no run folder: {out.strip()[:200]}")
        return {
            "run_dir": fields["rundir"],
            "pid": fields.get("pid", ""),
            "failure": fields.get("failure", ""),
            "already": fields.get("launched") == "already",
        }

    def poll(self, handle: dict) -> RunState:
        fields = _fields(self._check(POLL, [handle["run_dir"]], "Polling the run", timeout=30))
        code = fields.get("exit")
        return RunState(
            alive=fields.get("alive") == "1",
            exit_code=int(code) if code not in (None, "") and code.lstrip("-").isdigit() else None,
            phase=fields.get("phase", ""),
            env_result=fields.get("env", ""),
            failure=fields.get("failure", ""),
            canceled=fields.get("canceled") == "1",
            missing=fields.get("missing") == "1",
            sizes={
                name: int(fields[f"size_{filename}"])
                for name, filename in LOG_FILES.items()
                if fields.get(f"size_{filename}", "").strip().isdigit()
            }
            or None,
        )

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
        """Kill the job's whole process group: TERM, then KILL after 5 s."""
        self._check(CANCEL, [handle["run_dir"]], "Canceling the run", timeout=30)

    def fetch_outputs(self, handle: dict, dest: Path) -> bool:
        """Pack ./outputs on the target and bring the archive to ``dest``; False when there is none."""
        out = self._check(PACK_OUTPUTS, [handle["run_dir"]], "Packing the outputs", timeout=600)
        if "packed" not in out:
            return False
        self._fetch(f"{handle['run_dir']}/outputs.tar.gz", dest)
        return True
