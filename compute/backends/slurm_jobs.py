"""Runs on a Slurm cluster: the run contract of runner.py, with Slurm starting the job.

The run folder is made exactly as on every other kind (LAUNCH_PREPARE), on the
cluster's shared filesystem; then ``sbatch`` queues ``batch.sh`` instead of
starting ``job.sh`` detached. On the first allocated node ``batch.sh`` marks a
requeued attempt and runs ``job.sh``, which builds the environment and hands
the interpreter to ``launcher.sh``: ``srun`` starts it on every allocated node
with the variables distributed training reads.

    batch.sh     the batch step: attempt marks, MASTER_ADDR/PORT, then job.sh
    launcher.sh  srun (--label when there are several processes), then per task:
                 RANK, WORLD_SIZE, LOCAL_RANK, NODE_RANK; ranks above 0 work in
                 ranks/<rank>/ (the snapshot linked, outputs/ their own) and
                 write metrics there: the run's metrics are rank 0's
    slurm.out    what Slurm itself says about the job (preemption, time limit)
    attempt      1, then 2 after a requeue, ...

The state of all of a target's runs comes from ONE ``squeue`` per poll (all
jobs, so the queue position is known too), plus the run folders' files; a job
that left the queue without an exit code is looked up in ONE ``sacct`` call
for all such jobs, where accounting works, and in its ``slurm.out``.
"""

import re

from .base import BackendError, LaunchSpec, RunState
from .runner import (
    DIGEST_FUNCTIONS,
    LAUNCH_PREPARE,
    RunnerMixin,
    parse_exit_code,
    parse_run_lines,
    split_run_dir,
)

# Slurm's own arguments come first, then LAUNCH_PREPARE's.
SBATCH_PREFIX = r"""
partition="$1"; nodes="$2"; ppn="$3"; batch="$4"; launcher="$5"
shift 5
umask 077  # a shared filesystem: the run's files are its user's alone
"""

SBATCH_START = r"""
command -v sbatch >/dev/null 2>&1 || fail "sbatch is not on the PATH of the login node: is this a Slurm cluster?"
printf '%s' "$batch" > "$rd/batch.sh"
printf '%s' "$launcher" > "$rd/launcher.sh"
set -- "$rd/batch.sh" "$rd" "$wd" "$envkind" "$envarg" "$envdigest" "$script" "$@"
if [ -n "$partition" ]; then set -- "--partition=$partition" "$@"; fi
out=$(sbatch --parsable --job-name="portal-$key" --chdir="$rd" --output="$rd/slurm.out" \
  --open-mode=append --requeue --nodes="$nodes" --ntasks-per-node="$ppn" "$@" 2>&1)
rc=$?
jobid=$(printf '%s\n' "$out" | tail -n 1 | cut -d';' -f1 | tr -cd 0-9)
if [ $rc -ne 0 ] || [ -z "$jobid" ]; then
  msg=$(printf '%s\n' "$out" | grep -v '^$' | tail -n 1 | sed 's/^sbatch: error: //' | head -c 300)
  fail "Slurm refused the job${partition:+ (partition $partition)}: ${msg:-sbatch exit code $rc}"
fi
echo "$jobid" > "$rd/launch.pid"
echo "pid=$jobid"; echo "start="
echo "launched=now"
"""

SLURM_LAUNCH = SBATCH_PREFIX + DIGEST_FUNCTIONS + LAUNCH_PREPARE + SBATCH_START

# The batch step, on the first allocated node. Arguments: those of job.sh.
BATCH = r"""#!/bin/sh
rd="$1"
attempt=$(( ${SLURM_RESTART_COUNT:-0} + 1 ))
if [ "$attempt" -gt 1 ]; then
  preempted=$(grep -c 'DUE TO PREEMPTION' "$rd/slurm.out" 2>/dev/null)
  if [ "${preempted:-0}" -ge $((attempt - 1)) ]; then why="Preempted by a higher-priority job"
  else why="Slurm requeued the job (its node failed or it was requeued)"; fi
  printf '%s\n' "$why — requeued (attempt $attempt)." >> "$rd/system.log"
  for f in stdout.log stderr.log; do
    printf '──── attempt %s: the lines above are from attempt %s, which was stopped (%s) ────\n' \
      "$attempt" "$((attempt - 1))" "$why" >> "$rd/$f"
  done
  rm -f "$rd/exit_code" "$rd/failure" "$rd/phase"
fi
echo "$attempt" > "$rd/attempt"
MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" 2>/dev/null | head -n 1)
MASTER_PORT=$(( 20000 + ${SLURM_JOB_ID:-0} % 20000 ))
export MASTER_ADDR MASTER_PORT
exec /bin/sh "$rd/job.sh" "$@"
"""

# Wraps the interpreter (job.sh runs `sh launcher.sh python script args`).
LAUNCHER = r"""#!/bin/sh
rd="$PORTAL_RUN_DIR"
if [ "$1" = --rank ]; then
  shift
  RANK=${SLURM_PROCID:-0}; WORLD_SIZE=${SLURM_NTASKS:-1}
  LOCAL_RANK=${SLURM_LOCALID:-0}; NODE_RANK=${SLURM_NODEID:-0}
  export RANK WORLD_SIZE LOCAL_RANK NODE_RANK
  if [ "$RANK" != 0 ]; then
    own="$rd/ranks/$RANK"
    mkdir -p "$own/outputs"
    for f in "$rd/src"/* "$rd/src"/.[!.]*; do
      [ -e "$f" ] || continue
      case "${f##*/}" in outputs) ;; *) ln -sfn "$f" "$own/${f##*/}" ;; esac
    done
    cd "$own" || exit 1
    PORTAL_METRICS_FILE="$own/metrics.jsonl"; export PORTAL_METRICS_FILE
  fi
  exec "$@"
fi
if [ "${SLURM_NTASKS:-1}" -gt 1 ]; then
  exec srun --label --kill-on-bad-exit=1 /bin/sh "$0" --rank "$@"
fi
exec srun --kill-on-bad-exit=1 /bin/sh "$0" --rank "$@"
"""

# One squeue for every job (queue lines "q <id>|<state>|<reason>|<partition>|<name>|<priority>"),
# then per run "<index> key=value" lines and the log sizes, as runner.POLL; then
# ONE sacct for the runs that left the queue without an exit code.
SLURM_POLL = r"""
runs="$1"; shift
q=$(squeue -h -a -o '%i|%T|%r|%P|%j|%Q' 2>&1) || {
  echo "squeue-failed=$(printf '%s\n' "$q" | tail -n 1 | head -c 300)"; exit 0; }
printf '%s\n' "$q" | sed -n 's/^ *\([0-9]\)/q \1/p'
cd "$runs" 2>/dev/null || { n=0; while [ $# -ge 2 ]; do echo "$n missing=1"; n=$((n+1)); shift 2; done; exit 0; }
n=0; names=""; lost=""
while [ $# -ge 2 ]; do
  key=$1; job=$2; shift 2
  if [ ! -d "$key" ]; then echo "$n missing=1"; n=$((n+1)); continue; fi
  [ -f "$key/exit_code" ] && echo "$n exit=$(head -c 32 "$key/exit_code" | tr -cd '0-9-')"
  [ -f "$key/failure" ] && echo "$n failure=$(head -c 1000 "$key/failure" | head -n 1 | tr -d '\r')"
  [ -f "$key/phase" ] && echo "$n phase=$(head -c 16 "$key/phase" | tr -cd 'a-z')"
  [ -f "$key/env_result" ] && echo "$n env=$(head -c 200 "$key/env_result" | tr -cd 'a-z0-9 ')"
  [ -f "$key/attempt" ] && echo "$n attempt=$(head -c 8 "$key/attempt" | tr -cd '0-9')"
  [ -f "$key/canceled" ] && echo "$n canceled=1"
  if [ -f "$key/slurm.out" ]; then
    # What Slurm said when it stopped the job (time limit, preemption), and how many
    # times: a requeued job's earlier attempts said it too.
    said=$(grep -o '\*\*\* JOB [0-9]* ON [^ ]* CANCELLED AT [^ ]* .*\*\*\*' "$key/slurm.out" | tail -n 1 | head -c 300)
    [ -n "$said" ] && echo "$n slurm=$said" && echo "$n stops=$(grep -c 'CANCELLED AT' "$key/slurm.out")"
  fi
  if [ ! -f "$key/exit_code" ]; then  # left the queue without an exit code: ask sacct
    case "$job" in
      ''|*[!0-9]*) ;;
      *) printf '%s\n' "$q" | grep -q "^ *$job|" || lost="$lost${lost:+,}$job" ;;
    esac
  fi
  names="$names $key/stdout.log $key/stderr.log $key/system.log $key/metrics.jsonl"
  n=$((n+1))
done
[ -n "$names" ] && stat -c 'size %n=%s' $names 2>/dev/null
if [ -n "$lost" ] && command -v sacct >/dev/null 2>&1; then
  sacct -n -X -P -j "$lost" -o JobID,State,ExitCode 2>/dev/null | sed 's/^/a /'
fi
exit 0
"""

SLURM_CANCEL = r"""
rd="$1"; job="$2"
echo 1 > "$rd/canceled" 2>/dev/null
case "$job" in ''|*[!0-9]*) echo nojob; exit 0 ;; esac
scancel "$job" && echo canceled
"""

# outputs/ of rank 0, and of every other rank that wrote one, as outputs/rank-<n>/.
SLURM_PACK_OUTPUTS = r"""
rd="$1"
cd "$rd/src" 2>/dev/null || exit 0
set --
if [ -d outputs ] && [ ! -L outputs ]; then set -- outputs; fi
ranks=""
for d in "$rd"/ranks/*/outputs; do
  [ -d "$d" ] && [ -n "$(ls -A "$d" 2>/dev/null)" ] || continue
  r=${d%/outputs}; r=${r##*/}
  case "$r" in *[!0-9]*) continue ;; esac
  ranks="$ranks $r/outputs"
done
[ $# -gt 0 ] || [ -n "$ranks" ] || exit 0
# Rank folders are digits: splitting $ranks on spaces is safe.
tar -czf "$rd/outputs.tar.gz" "$@" -C "$rd/ranks" --transform 's,^\([0-9][0-9]*\)/outputs,outputs/rank-\1,' $ranks \
  && echo "packed=$(wc -c < "$rd/outputs.tar.gz" | tr -cd 0-9)"
"""

# squeue states in which the job is still Slurm's to run.
ACTIVE_STATES = {
    "PENDING",
    "CONFIGURING",
    "RUNNING",
    "COMPLETING",
    "SUSPENDED",
    "REQUEUED",
    "REQUEUE_FED",
    "REQUEUE_HOLD",
    "RESIZING",
    "SIGNALING",
    "STAGE_OUT",
    "STOPPED",
    "RESV_DEL_HOLD",
}
# States in which the job has not started its script (yet, or again after a requeue):
# CONFIGURING is a cloud node powering up for it.
WAITING_STATES = {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED"}
ATTEMPTS_MAX = 1000
JOB_LINE = re.compile(r"^q (\d+)\|([A-Z_]+)\|([^|]*)\|([^|]*)\|([^|]*)\|(\d*)$")
ENDED_BY_SLURM = {
    "TIMEOUT": "Slurm stopped the job: it reached its time limit",
    "NODE_FAIL": "Slurm stopped the job: its node failed",
    "OUT_OF_MEMORY": "Slurm stopped the job: it ran out of memory",
    "PREEMPTED": "Slurm stopped the job: it was preempted",
    "DEADLINE": "Slurm stopped the job: it reached its deadline",
    "BOOT_FAIL": "Slurm could not boot the job's node",
    "CANCELLED": "The job was cancelled in Slurm (scancel)",
    "FAILED": "Slurm reports the job failed before the script ended",
}


def why_ended(state: str, said: str) -> str:
    """The sentence for a job that left Slurm's queue without an exit code, from
    sacct's state (when accounting works) or from what Slurm wrote in slurm.out."""
    if "DUE TO TIME LIMIT" in said:
        state = "TIMEOUT"
    elif "DUE TO PREEMPTION" in said and not state:
        state = "PREEMPTED"
    elif "DUE TO NODE FAILURE" in said:
        state = "NODE_FAIL"
    state = state.split()[0] if state else ""
    if state in ENDED_BY_SLURM:
        return ENDED_BY_SLURM[state] + (f" ({said.strip('* ')})" if said else "") + "."
    if said:
        return f"Slurm ended the job: {said.strip('* ')}."
    return "The job left Slurm's queue without an exit code (killed, or lost by Slurm)."


def queue_positions(jobs: dict) -> dict[str, tuple[int, int]]:
    """{job id: (position, pending in its partition)} for every pending job, in
    Slurm's order (priority, then age): one sort per partition per poll."""
    by_partition: dict[str, list[tuple]] = {}
    for job in jobs.values():
        if job[1] == "PENDING":
            by_partition.setdefault(job[3], []).append(job)
    positions = {}
    for pending in by_partition.values():
        pending.sort(key=lambda j: (-int(j[5] or 0), int(j[0])))
        for i, job in enumerate(pending, 1):
            positions[job[0]] = (i, len(pending))
    return positions


def queue_note(job: tuple, positions: dict[str, tuple[int, int]]) -> str:
    """'Queued in `dedicated`, position 3 of 7 — Slurm says: Resources' for a waiting job."""
    job_id, job_state, reason, partition, _, _ = job
    if job_state == "CONFIGURING":
        return f"Nodes allocated in `{partition}`: Slurm is starting them"
    position, count = positions.get(job_id, (1, 1))  # requeued, not yet pending again
    why = f" — Slurm says: {reason}" if reason and reason != "None" else ""
    return f"Queued in `{partition}`, position {position} of {count}{why}"


class SlurmRunnerMixin(RunnerMixin):
    """The run contract through Slurm; the kind supplies runner.py's four primitives."""

    launch_script = SLURM_LAUNCH
    pack_outputs_script = SLURM_PACK_OUTPUTS
    poll_interval = 2.0

    def launch_prefix(self, spec: LaunchSpec) -> list[str]:
        if spec.nodes < 1 or spec.processes_per_node < 1:
            raise BackendError("A run needs at least one node and one process per node.")
        partition = spec.partition or self.default_partition
        if partition and not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", partition):
            raise BackendError(f"Not a partition name: {partition[:80]}")
        return [partition, str(spec.nodes), str(spec.processes_per_node), BATCH, LAUNCHER]

    @property
    def default_partition(self) -> str:
        return self.target.config.get("partition") or ""

    def poll(self, handles: list[dict], *, known: list[set] | None = None) -> list[RunState]:
        """One squeue for all of them (and one sacct for those that left the
        queue without an exit code); a target's runs share one runs folder."""
        states: list[RunState | None] = [None] * len(handles)
        by_folder: dict[str, list[int]] = {}
        for i, handle in enumerate(handles):
            folder, _ = split_run_dir(handle["run_dir"])
            by_folder.setdefault(folder, []).append(i)
        for folder, indexes in by_folder.items():
            args = [folder]
            for i in indexes:
                args += [split_run_dir(handles[i]["run_dir"])[1], str(handles[i].get("pid", ""))]
            out = self._check(SLURM_POLL, args, "Polling Slurm (squeue)", timeout=30)
            for i, state in zip(
                indexes, self._parse_slurm_poll(out, [handles[i] for i in indexes]), strict=True
            ):
                states[i] = state
        return states

    def _parse_slurm_poll(self, output: str, handles: list[dict]) -> list[RunState]:
        lines = output.splitlines()
        failed = next((line for line in lines if line.startswith("squeue-failed=")), None)
        if failed is not None:
            raise BackendError(f"squeue failed on the cluster: {failed.partition('=')[2] or 'no output'}")
        jobs = {}
        for line in lines:
            match = JOB_LINE.match(line)
            if match:
                jobs[match.group(1)] = match.groups()
        accounted: dict[str, str] = {}
        for line in lines:
            if line.startswith("a "):
                job_id, _, rest = line[2:].partition("|")
                accounted[job_id.strip()] = rest.partition("|")[0]
        found, sizes = parse_run_lines([line for line in lines if not line.startswith(("q ", "a "))], handles)
        positions = queue_positions(jobs)
        scaling = None  # what the cluster does about its queue: asked once per poll, not per run
        states = []
        for handle, f, s in zip(handles, found, sizes, strict=True):
            job = jobs.get(str(handle.get("pid", "")))
            alive = job is not None and job[1] in ACTIVE_STATES
            exit_code = parse_exit_code(f.get("exit"))
            if job is not None and not alive and exit_code is None and job[1] == "COMPLETED":
                alive = True  # Slurm says it ended well; its exit code file is not visible yet (NFS)
            state = RunState(
                alive=alive,
                exit_code=exit_code,
                phase=f.get("phase", ""),
                env_result=f.get("env", ""),
                failure=f.get("failure", ""),
                canceled=f.get("canceled") == "1",
                missing=f.get("missing") == "1",
                sizes=s or None,
                attempt=min(int(f["attempt"]), ATTEMPTS_MAX) if f.get("attempt", "").isdigit() else 0,
            )
            if alive and job[1] in WAITING_STATES:
                requeued = state.attempt >= 1  # an attempt started before: Slurm requeued the job
                state.phase = "queued"
                state.exit_code = None  # a requeued job's old exit code is not its end
                state.failure = ""
                if scaling is None:
                    scaling = self.scaling_note()
                state.note = queue_note(job, positions) + scaling
                if requeued:
                    state.attempt += 1
                    state.note = f"Requeued by Slurm (attempt {state.attempt}): {state.note[0].lower()}{state.note[1:]}"
            elif not alive and not state.canceled and not state.missing:
                stopped_this_attempt = int(f.get("stops") or 0) >= max(state.attempt, 1)
                if state.exit_code is None:
                    ended_as = job[1] if job is not None else accounted.get(str(handle.get("pid", "")), "")
                    state.failure = state.failure or why_ended(ended_as, f.get("slurm", ""))
                elif state.exit_code != 0 and f.get("slurm") and stopped_this_attempt:
                    # Slurm's signal reached the script first (exit 143): Slurm's reason, not the code
                    state.failure = why_ended("", f["slurm"])
            states.append(state)
        return states

    def scaling_note(self) -> str:
        """What the cluster is doing about the queue (a created cluster starting a node)."""
        return ""

    def cancel(self, handle: dict) -> None:
        self._check(
            SLURM_CANCEL, [handle["run_dir"], str(handle.get("pid", ""))], "Canceling the job (scancel)"
        )
