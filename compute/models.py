from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models

from portal import crypto

name_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9-]{1,31}$",
    "2 to 32 characters: lowercase letters, digits and dashes, starting with a letter or digit.",
)


class Origin(models.TextChoices):
    CREATED = "created", "Created"
    ATTACHED = "attached", "Attached"


class TargetState(models.TextChoices):
    CREATING = "Creating", "Creating"
    ATTACHING = "Attaching", "Attaching"
    HOST_KEY_PENDING = "HostKeyPending", "Confirm host key"
    SUCCEEDED = "Succeeded", "Succeeded"
    UNREACHABLE = "Unreachable", "Unreachable"
    FAILED = "Failed", "Failed"
    # Created VMs only: their container is stopped, being stopped or started.
    STOPPING = "Stopping", "Stopping"
    STOPPED = "Stopped", "Stopped"
    STARTING = "Starting", "Starting"
    DELETING = "Deleting", "Deleting"


# States in which a task is working on the target; nothing else may start.
BUSY_STATES = (
    TargetState.ATTACHING,
    TargetState.CREATING,
    TargetState.DELETING,
    TargetState.STOPPING,
    TargetState.STARTING,
)


class ComputeTarget(models.Model):
    workspace = models.ForeignKey("portal.Workspace", on_delete=models.CASCADE, related_name="targets")
    name = models.CharField(max_length=32, validators=[name_validator])
    kind = models.CharField(max_length=32)
    origin = models.CharField(max_length=16, choices=Origin.choices, default=Origin.ATTACHED)
    state = models.CharField(max_length=20, choices=TargetState.choices, default=TargetState.ATTACHING)
    # What the current check is doing ("Connecting", "Preflight", ...); empty when idle.
    activity = models.CharField(max_length=200, blank=True)
    config = models.JSONField(default=dict, blank=True)
    # {field: Fernet token}; read through secret(), never rendered.
    encrypted_secrets = models.JSONField(default=dict, blank=True)
    # Overrides of the workspace's package index settings (compute/package_index.py).
    package_index = models.JSONField(default=dict, blank=True)
    # Pinned SSH host key as "<type> <base64>"; pending_host_key is what the
    # host presented and nobody has confirmed yet.
    host_key = models.TextField(blank=True)
    pending_host_key = models.TextField(blank=True)
    capabilities = models.JSONField(default=dict, blank=True)
    last_error = models.TextField(blank=True)
    # What the portal last observed of a cluster beyond its nodes: {"queue": [...], "at": iso}.
    observed = models.JSONField(default=dict, blank=True)
    last_checked = models.DateTimeField(null=True, blank=True)
    # When a run last used it (or it last started): idle shutdown counts from here.
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="target_name_unique")]
        indexes = [models.Index(fields=["workspace", "state"])]

    def __str__(self):
        return self.name

    def clean(self):
        """The kind's form decides what a config may hold, here as on the "+ Add" page."""
        from django.core.exceptions import ValidationError

        from .backends import get_backend

        super().clean()
        try:
            backend = get_backend(self.kind)
        except LookupError as exc:
            raise ValidationError({"kind": str(exc)}) from None
        if not isinstance(self.config, dict):
            raise ValidationError({"config": "A JSON object of the kind's settings."})
        if self.workspace_id is None:
            return  # the workspace field reports its own error
        errors = backend.config_errors(self)
        if errors:
            raise ValidationError({"config": errors})

    @property
    def backend(self):
        from .backends import get_backend

        return get_backend(self.kind)(self)

    @property
    def kind_label(self) -> str:
        from .backends import kind_label

        return kind_label(self.kind)

    def secret(self, field: str) -> str:
        token = self.encrypted_secrets.get(field)
        return crypto.decrypt(token) if token else ""

    def has_secret(self, field: str) -> bool:
        return bool(self.encrypted_secrets.get(field))

    @property
    def is_busy(self) -> bool:
        return self.state in BUSY_STATES

    @property
    def state_label(self) -> str:
        """A created VM that is up reads "Running", as in the cloud console."""
        if self.state == TargetState.SUCCEEDED and self.backend.lifecycle:
            return "Running"
        return self.get_state_display()

    def has_active_runs(self) -> bool:
        """Whether a run is queued on it or using it (idle shutdown and delete wait)."""
        from runs.models import UNFINISHED

        return self.runs.filter(status__in=UNFINISHED).exists()

    @property
    def gpus(self) -> list:
        return self.capabilities.get("gpus", [])


class TargetEvent(models.Model):
    """One state change of a target, with its reason."""

    target = models.ForeignKey(ComputeTarget, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(auto_now_add=True)
    state = models.CharField(max_length=20, choices=TargetState.choices)
    reason = models.TextField(blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self):
        return f"{self.target} → {self.state}"


# ---- clusters (kind "slurm") ------------------------------------------------------------------


class NodeSize(models.Model):
    """A size from the catalogue a created cluster's nodes are made in: CPU cores,
    memory and GPUs per node. Installation-wide sizes (no workspace) are seeded
    and edited in the admin; a workspace's owners add their own."""

    workspace = models.ForeignKey(
        "portal.Workspace", null=True, blank=True, on_delete=models.CASCADE, related_name="node_sizes"
    )
    name = models.CharField(max_length=32, validators=[name_validator])
    cpu_cores = models.FloatField(validators=[MinValueValidator(0.1)])
    memory_gb = models.FloatField(validators=[MinValueValidator(0.1)])
    gpus = models.PositiveSmallIntegerField(default=0)
    # Optional hourly price of one node of this size (dashboards); blank: no cost shown.
    hourly_price = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)

    class Meta:
        ordering = ["cpu_cores", "memory_gb", "gpus", "name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="node_size_name_unique"),
            models.UniqueConstraint(
                fields=["name"], condition=models.Q(workspace=None), name="node_size_global_name_unique"
            ),
        ]

    def __str__(self):
        gpus = f", {self.gpus} GPU" if self.gpus else ""
        return f"{self.name} ({self.cpu_cores:g} cores, {self.memory_gb:g} GB{gpus})"


class NodeState(models.TextChoices):
    """A cluster node as the portal shows it, mapped from Slurm's node state."""

    IDLE = "idle", "Idle"
    RUNNING = "running", "Running"  # allocated or mixed: jobs on it
    PREPARING = "preparing", "Preparing"  # powering up (its container starting)
    LEAVING = "leaving", "Leaving"  # powering down, draining
    UNUSABLE = "unusable", "Unusable"  # down, drained, failed: see reason
    PREEMPTED = "preempted", "Preempted"
    OFF = "off", "Powered down"  # a cloud node Slurm has not powered up: no container


class ComputeNode(models.Model):
    """One node of a cluster target, as last observed (sinfo)."""

    target = models.ForeignKey(ComputeTarget, on_delete=models.CASCADE, related_name="nodes")
    name = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=NodeState.choices, default=NodeState.OFF)
    slurm_state = models.CharField(max_length=64, blank=True)  # as sinfo printed it, e.g. "idle#"
    reason = models.CharField(max_length=300, blank=True)
    partitions = models.JSONField(default=list, blank=True)
    cpus = models.FloatField(null=True, blank=True)
    memory_mb = models.IntegerField(null=True, blank=True)
    gpus = models.PositiveSmallIntegerField(default=0)
    container_id = models.CharField(max_length=80, blank=True)  # created clusters only
    run = models.ForeignKey("runs.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    since = models.DateTimeField(null=True, blank=True)  # in this state since
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["target", "name"]
        constraints = [models.UniqueConstraint(fields=["target", "name"], name="node_name_unique")]

    def __str__(self):
        return f"{self.target}/{self.name}"


class NodeInterval(models.Model):
    """A time a cluster node was up (its container ran, or Slurm reported it
    usable): recorded when it comes up and closed when it goes. Open: ended_at null."""

    target = models.ForeignKey(ComputeTarget, on_delete=models.CASCADE, related_name="node_intervals")
    node = models.CharField(max_length=64)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    cpus = models.FloatField(default=0)
    gpus = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["target", "started_at"]),
            models.Index(fields=["ended_at"]),
        ]

    def __str__(self):
        return f"{self.target}/{self.node} {self.started_at:%Y-%m-%d %H:%M}"


class ClusterSample(models.Model):
    """Node counts by state at one observation (only when they changed): the
    cluster page's node-count chart."""

    target = models.ForeignKey(ComputeTarget, on_delete=models.CASCADE, related_name="cluster_samples")
    at = models.DateTimeField(db_index=True)
    counts = models.JSONField(default=dict)  # NodeState value -> count

    class Meta:
        ordering = ["target", "at"]
        indexes = [models.Index(fields=["target", "at"], name="cluster_sample_target_at")]

    def __str__(self):
        return f"{self.target} at {self.at:%Y-%m-%d %H:%M:%S}"
