import uuid

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

experiment_name_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
    "Up to 64 letters, digits, dots, dashes and underscores, starting with a letter or digit.",
)


class RunStatus(models.TextChoices):
    NOT_STARTED = "NotStarted", "Not started"
    QUEUED = "Queued", "Queued"
    PREPARING = "Preparing", "Preparing"
    RUNNING = "Running", "Running"
    FINALIZING = "Finalizing", "Finalizing"
    CANCEL_REQUESTED = "CancelRequested", "Cancel requested"
    NOT_RESPONDING = "NotResponding", "Not responding"
    COMPLETED = "Completed", "Completed"
    FAILED = "Failed", "Failed"
    CANCELED = "Canceled", "Canceled"
    # A sweep's early-termination policy ended it: not a failure, not the user's cancel.
    EARLY_STOPPED = "EarlyStopped", "Stopped early"


TERMINAL = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELED, RunStatus.EARLY_STOPPED)
UNFINISHED = tuple(s for s in RunStatus.values if s not in TERMINAL)
# States in which a monitor must be attached (the reaper looks for these).
ACTIVE = (
    RunStatus.PREPARING,
    RunStatus.RUNNING,
    RunStatus.FINALIZING,
    RunStatus.CANCEL_REQUESTED,
    RunStatus.NOT_RESPONDING,
)


class Experiment(models.Model):
    workspace = models.ForeignKey("portal.Workspace", on_delete=models.CASCADE, related_name="experiments")
    name = models.CharField(max_length=64, validators=[experiment_name_validator])
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="experiment_name_unique")]

    def __str__(self):
        return self.name


class Snapshot(models.Model):
    """A content-addressed source folder; the archive lives at VAR_DIR/snapshots/<sha256>.tar.gz."""

    workspace = models.ForeignKey("portal.Workspace", on_delete=models.CASCADE, related_name="snapshots")
    sha256 = models.CharField(max_length=64)
    file_count = models.PositiveIntegerField()
    size_bytes = models.BigIntegerField()
    files = models.JSONField(default=list, blank=True)  # [[path, size], ...] largest first
    excluded = models.JSONField(default=list, blank=True)  # paths left out by ignore rules
    ignore_file = models.CharField(max_length=20, blank=True)  # ".amlignore", ".gitignore" or ""
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["workspace", "sha256"], name="snapshot_unique")]

    def __str__(self):
        return self.sha256[:12]

    @property
    def short(self) -> str:
        return self.sha256[:12]


class Run(models.Model):
    workspace = models.ForeignKey("portal.Workspace", on_delete=models.CASCADE, related_name="runs")
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="runs")
    # Names the run folder on the target: unique even across portals sharing a VM.
    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    snapshot = models.ForeignKey(Snapshot, on_delete=models.PROTECT, related_name="runs")
    script = models.CharField(max_length=500)
    arguments = models.JSONField(default=list, blank=True)
    # SET_NULL: detaching a target keeps its runs' history (detach is refused while runs are active).
    target = models.ForeignKey(
        "compute.ComputeTarget", null=True, on_delete=models.SET_NULL, related_name="runs"
    )
    # {"kind": "user", "interpreter": "python3"}, or {"kind": "pip" | "conda", "requirements": <the
    # requirements or environment file>, "hash": ...}; see runs.services.environment_spec
    environment = models.JSONField(default=dict, blank=True)
    # Clusters: nodes and processes per node (srun), the Slurm partition ("" = the target's default),
    # and the attempt (a job requeued after preemption or a node failure starts attempt 2).
    node_count = models.PositiveSmallIntegerField(default=1)
    processes_per_node = models.PositiveSmallIntegerField(default=1)
    partition = models.CharField(max_length=64, blank=True)
    attempt = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=20, choices=RunStatus.choices, default=RunStatus.NOT_STARTED)
    substep = models.CharField(max_length=200, blank=True)  # "Uploading snapshot", "Environment cache hit"
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    preparing_at = models.DateTimeField(null=True, blank=True)
    running_at = models.DateTimeField(null=True, blank=True)
    finalizing_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    stderr_tail = models.TextField(blank=True)
    # What failed (runs.failures): "script", "environment", "image", or empty (the portal's own message).
    failure_kind = models.CharField(max_length=20, blank=True)
    environment_note = models.CharField(max_length=200, blank=True)
    # Where the run lives on its target; set once the target has the run folder.
    handle = models.JSONField(default=dict, blank=True)
    # The monitor holding the run renews this; the reaper takes over expired leases.
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    unreachable_since = models.DateTimeField(null=True, blank=True)
    # Bytes already stored from each log file ({"stdout": n, "stderr": n, "system": n}).
    log_offsets = models.JSONField(default=dict, blank=True)
    metrics_offset = models.BigIntegerField(default=0)
    next_seq = models.BigIntegerField(default=0)
    # Bytes of output stored; past settings.RUN_LOG_MAX_BYTES the rest is not stored.
    log_bytes = models.BigIntegerField(default=0)
    log_truncated = models.BooleanField(default=False)
    # sha256 of the run's tracking token (runs.tracking_tokens): the token itself is only in its process.
    tracking_digest = models.CharField(max_length=64, blank=True)
    mlflow_runs = models.PositiveIntegerField(default=0)  # MLflow runs the script started beside the portal's
    # A sweep's child points at the sweep's parent run, with the trial's values ({"--alpha": 0.5}).
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    trial_params = models.JSONField(null=True, blank=True)
    # Set when a sweep's policy stops the run: its cancel then ends as EarlyStopped with this reason.
    stop_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["workspace", "status"]),
            models.Index(
                fields=["workspace", "-id"], name="run_workspace_newest"
            ),  # the run list, newest first
            models.Index(fields=["status", "lease_expires_at"]),
            # The usage dashboard: runs that ended, or started running, in a range.
            models.Index(fields=["workspace", "ended_at"], name="run_workspace_ended"),
            models.Index(fields=["workspace", "running_at"], name="run_workspace_running"),
        ]

    def __str__(self):
        return f"run {self.pk}"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def is_active(self) -> bool:
        return not self.is_terminal

    @property
    def can_cancel(self) -> bool:
        return self.status not in (*TERMINAL, RunStatus.CANCEL_REQUESTED)

    @property
    def duration(self):
        if not self.running_at:
            return None
        from django.utils import timezone

        return (self.ended_at or timezone.now()) - self.running_at

    @property
    def command_display(self) -> str:
        import shlex

        return shlex.join([self.script, *self.arguments])

    @property
    def world_size(self) -> int:
        """How many processes run the script (srun labels each line with its rank)."""
        return self.node_count * self.processes_per_node


class Stream(models.TextChoices):
    STDOUT = "stdout", "stdout"
    STDERR = "stderr", "stderr"
    SYSTEM = "system", "system"


class RunLogChunk(models.Model):
    """The source of truth for a run's output: seq is gapless per run."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="log_chunks")
    seq = models.BigIntegerField()
    stream = models.CharField(max_length=10, choices=Stream.choices)
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="log_chunk_seq_unique")]

    def __str__(self):
        return f"run {self.run_id} #{self.seq}"


class Metric(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="metrics")
    name = models.CharField(max_length=200)
    step = models.BigIntegerField()
    value = models.FloatField()
    time = models.DateTimeField()

    class Meta:
        ordering = ["run", "name", "step"]
        indexes = [models.Index(fields=["run", "name", "step"])]

    def __str__(self):
        return f"{self.name}[{self.step}] = {self.value}"


class Output(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="outputs")
    path = models.CharField(max_length=1000)
    size = models.BigIntegerField()

    class Meta:
        ordering = ["path"]
        constraints = [models.UniqueConstraint(fields=["run", "path"], name="output_path_unique")]

    def __str__(self):
        return self.path


class EnvironmentCache(models.Model):
    """The content digest of an environment built on a target, recorded when
    the build finished: a later run reuses the cached environment only while
    its files still match (a run cannot plant code for the next one)."""

    target = models.ForeignKey("compute.ComputeTarget", on_delete=models.CASCADE, related_name="environments")
    spec_hash = models.CharField(max_length=64)
    digest = models.CharField(max_length=64)
    built_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["target", "spec_hash"], name="environment_cache_unique")
        ]

    def __str__(self):
        return f"{self.spec_hash} on {self.target_id}"


# ---- what a run records besides scalar metrics (its Run API shim, MLflow) ------------------


class RunTag(models.Model):
    """A tag of a run: set again, it takes the new value."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="tags")
    key = models.CharField(max_length=250)
    value = models.TextField(blank=True)

    class Meta:
        ordering = ["run", "key"]
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="run_tag_key_unique")]

    def __str__(self):
        return f"{self.key}={self.value[:40]}"


class RunParam(models.Model):
    """A parameter of a run: once set it never changes (MLflow's rule)."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="params")
    key = models.CharField(max_length=250)
    value = models.TextField(blank=True)

    class Meta:
        ordering = ["run", "key"]
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="run_param_key_unique")]

    def __str__(self):
        return f"{self.key}={self.value[:40]}"


class RunTableKind(models.TextChoices):
    LIST = "list", "list"
    ROW = "row", "rows"
    TABLE = "table", "table"


class RunTable(models.Model):
    """A list, a table built row by row, or a table logged whole; appended to, never rewritten."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="tables")
    name = models.CharField(max_length=250)
    kind = models.CharField(max_length=10, choices=RunTableKind.choices)
    columns = models.JSONField(default=list)  # [name, ...]
    rows = models.JSONField(default=list)  # [[cell per column], ...]; cells are JSON scalars
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["run", "name"]
        constraints = [models.UniqueConstraint(fields=["run", "name"], name="run_table_name_unique")]

    def __str__(self):
        return f"{self.name} ({self.kind}, {len(self.rows)} rows)"


class RunImage(models.Model):
    """An image the run saved under outputs/; shown once the outputs are collected."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="images")
    name = models.CharField(max_length=250)
    path = models.CharField(max_length=1000)  # relative to outputs/
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "created_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["run", "path"], name="run_image_path_unique")]

    def __str__(self):
        return f"{self.name}: {self.path}"


class LoggedModel(models.Model):
    """A model logged through MLflow (MLflow 3's logged-model entity); its
    files are the run's outputs under ``mlflow/models/<model_id>/``."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="logged_models")
    model_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=30, default="LOGGED_MODEL_PENDING")
    model_type = models.CharField(max_length=100, blank=True)
    tags = models.JSONField(default=dict, blank=True)
    params = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self):
        return f"{self.name} ({self.model_id})"


class SweepState(models.TextChoices):
    RUNNING = "Running", "Running"
    COMPLETED = "Completed", "Completed"
    CANCELED = "Canceled", "Canceled"
    FAILED = "Failed", "Failed"


class Sweep(models.Model):
    """A hyperparameter sweep: its parent run (same pk) and the recipe its
    children are made from. Trials are the child runs themselves, so the
    orchestrator (runs.sweeps.orchestrator) can start over from the database."""

    run = models.OneToOneField(Run, primary_key=True, on_delete=models.CASCADE, related_name="sweep")
    space = models.JSONField()  # {"--alpha": {"type": "uniform", "low": 0, "high": 1}, ...}
    sampling = models.CharField(max_length=20)  # grid | random | bayesian
    seed = models.BigIntegerField(null=True, blank=True)
    policy = models.CharField(max_length=20, default="none")  # bandit | median | truncation | none
    policy_options = models.JSONField(default=dict, blank=True)
    primary_metric = models.CharField(max_length=200)
    goal = models.CharField(max_length=10, default="maximize")  # maximize | minimize
    max_total_runs = models.PositiveIntegerField()
    max_concurrent_runs = models.PositiveIntegerField()
    max_duration_minutes = models.PositiveIntegerField(null=True, blank=True)
    warm_start_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="warm_started"
    )
    state = models.CharField(max_length=20, choices=SweepState.choices, default=SweepState.RUNNING)
    note = models.CharField(max_length=500, blank=True)  # why it ended, when not plain
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state"])]

    def __str__(self):
        return f"sweep {self.pk}"

    @property
    def is_finished(self) -> bool:
        return self.state != SweepState.RUNNING


# ---- usage: what runs held, and how much of it they used ------------------------------------


class RunAllocation(models.Model):
    """What one attempt of a run held while it ran: opened when the run starts
    Running, closed when it ends or is requeued (runs.usage). Totals over all
    its nodes; the workspace, user and experiment are copied from the run so
    the dashboard's aggregates read this table alone."""

    workspace = models.ForeignKey("portal.Workspace", on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="allocations")
    attempt = models.PositiveSmallIntegerField(default=1)
    target = models.ForeignKey(
        "compute.ComputeTarget", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="+")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)  # null while it runs
    cpus = models.FloatField(default=0)  # cores over all nodes
    gpus = models.PositiveIntegerField(default=0)  # over all nodes
    node_count = models.PositiveSmallIntegerField(default=1)
    partition = models.CharField(max_length=64, blank=True)  # the run's Slurm partition ("" = default)
    # From queued (or the previous attempt's end) to this start: the queue wait of this attempt.
    waited_seconds = models.FloatField(null=True, blank=True)
    # The price of one hour of the whole allocation when it started; null: no price set.
    hourly_price = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(fields=["run", "attempt"], name="run_allocation_attempt_unique")
        ]
        indexes = [
            # A range's rows: started before its end, and ended after its start or still open.
            models.Index(fields=["workspace", "started_at"], name="allocation_ws_started"),
            models.Index(fields=["workspace", "ended_at"], name="allocation_ws_ended"),
            models.Index(fields=["started_at"], name="allocation_started"),  # the admin's all-workspace view
        ]

    def __str__(self):
        return f"run {self.run_id} attempt {self.attempt}"


class SystemSample(models.Model):
    """The run's process tree over ``seconds`` up to ``at``, as the sampler on
    the target saw it (runs.system_samples): merged pairwise when a run has
    many, so a long run keeps a bounded, evenly spread series."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="system_samples")
    at = models.DateTimeField()
    seconds = models.FloatField()
    cpu_cores = models.FloatField(default=0)  # cores busy on average (1.5 = 150 %)
    rss_bytes = models.BigIntegerField(default=0)
    read_bytes = models.BigIntegerField(default=0)  # during the sample
    write_bytes = models.BigIntegerField(default=0)
    gpu_used = models.FloatField(
        null=True, blank=True
    )  # GPUs busy on average (sum of util/100); null: none seen
    gpu_memory_mb = models.FloatField(null=True, blank=True)
    gpus = models.JSONField(
        default=list, blank=True
    )  # [{"index": 0, "util": 3.0, "memory_mb": 512, "total_mb": 16384}]
    # What the run held meanwhile (its open allocation): efficiency = used / held.
    cpus_held = models.FloatField(default=0)
    gpus_held = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["run", "at"]
        indexes = [
            models.Index(fields=["run", "at"], name="system_sample_run_at"),
            models.Index(fields=["at"], name="system_sample_at"),
        ]

    def __str__(self):
        return f"run {self.run_id} at {self.at:%H:%M:%S}"


class TargetPrice(models.Model):
    """An owner's hourly price for one node of a target (NodeSize.hourly_price
    prices cluster sizes); runs started afterwards are costed with it."""

    target = models.OneToOneField("compute.ComputeTarget", on_delete=models.CASCADE, related_name="price")
    hourly_price = models.DecimalField(max_digits=10, decimal_places=4)

    def __str__(self):
        return f"{self.target_id}: {self.hourly_price}/h"
