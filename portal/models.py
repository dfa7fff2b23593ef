from django.conf import settings
from django.db import models


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    CONTRIBUTOR = "contributor", "Contributor"
    READER = "reader", "Reader"


# A role may do what every role after it may do.
ROLE_RANK = {Role.READER: 0, Role.CONTRIBUTOR: 1, Role.OWNER: 2}


class Workspace(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # The local computer runs code on the portal's own host: a superuser grants it.
    local_target_allowed = models.BooleanField(
        "local computer granted",
        default=False,
        help_text="Members may run code on the portal's own machine (the “local” compute target).",
    )
    # Package index settings for environment builds (compute/package_index.py);
    # the CA bundle is a Fernet token, never shown back.
    package_index = models.JSONField(default=dict, blank=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="workspaces"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Membership(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.CONTRIBUTOR)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["workspace__name", "user__username"]
        constraints = [models.UniqueConstraint(fields=["workspace", "user"], name="one_membership_per_user")]

    def __str__(self):
        return f"{self.user} in {self.workspace} ({self.role})"

    def allows(self, role: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


class ApiToken(models.Model):
    """A personal access token for the REST API, SDK and CLI: bound to one
    workspace, read-only or read-write, with an expiry. Only its hash is
    stored; the token itself is shown once, when it is made."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, unique=True)  # shown in lists, to tell tokens apart
    digest = models.CharField(max_length=64, unique=True)  # sha256 of the whole token
    read_only = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    def state(self, now) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at and self.expires_at <= now:
            return "expired"
        return "active"


class PasswordChangeRequired(models.Model):
    """The user signs in with a one-time password a superuser gave them and
    must choose their own before anything else. The row is the flag: it goes
    when they change their password. The one-time password itself is never
    stored: only its hash, as the user's password."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="password_change_required"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.user} must change their password"


class WorkspaceQuota(models.Model):
    """Limits owners set on a workspace (blank: no limit). Submits lock this
    row, so two racing submits are checked one after the other (portal.quotas)."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="quota")
    max_concurrent_gpus = models.PositiveIntegerField(
        "maximum concurrent GPUs",
        null=True,
        blank=True,
        help_text="GPUs held or asked for by unfinished runs.",
    )
    max_concurrent_nodes = models.PositiveIntegerField(
        "maximum concurrent nodes",
        null=True,
        blank=True,
        help_text="Nodes held or asked for by unfinished runs.",
    )
    monthly_gpu_hours = models.DecimalField(
        "GPU-hours per calendar month", max_digits=10, decimal_places=2, null=True, blank=True
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"quota of {self.workspace}"
