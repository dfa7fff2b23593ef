from django.conf import settings
from django.core.validators import RegexValidator
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
