"""The cluster kind's form (create new on an engine, or attach over SSH), its
resize form, and what the pages ask of a cluster (``ClusterPages``)."""

import copy

from django import forms

from ..forms import TargetForm
from ..models import NodeSize
from ..selectors import node_sizes
from .docker_forms import ContainerLimitsForm
from .ssh import SSHConfigForm

DEFAULT_IMAGE = "localhost/portal-slurm:22.05"
MAX_NODES = 64
MIN_IDLE_SECONDS = 30
MODES = [("create", "Create new"), ("attach", "Use existing")]
PRIORITIES = [
    ("dedicated", "Dedicated: jobs run until they end"),
    ("lowpriority", "Low priority: dedicated jobs may preempt them (requeued)"),
]
CREATE_FIELDS = ("engine", "size", "min_nodes", "max_nodes", "idle_seconds", "priority", "image")
ATTACH_FIELDS = (
    "address",
    "port",
    "username",
    "password",
    "private_key",
    "passphrase",
    "known_hosts",
    "workdir",
    "partition",
)
# Fields a mode requires (declared optional: the other mode leaves them out).
REQUIRED = {
    "create": ("engine", "size", "min_nodes", "max_nodes", "idle_seconds", "priority", "image"),
    "attach": ("address", "port", "username", "workdir"),
}
# A ContainerLimitsForm field's error is about this field of ours.
LIMITS_FIELD = {"engine": "engine", "cpus": "size", "memory_gb": "size", "gpus": "size", "image": "image"}


def node_limits_errors(*, min_nodes, max_nodes, idle_seconds) -> dict[str, str]:
    """What is wrong with a created cluster's node limits: {field: message}. The
    add form, the resize form and ``services.cluster_resize`` all ask this."""
    errors = {}
    if min_nodes is not None and min_nodes < 0:
        errors["min_nodes"] = "At least 0."
    if max_nodes is not None and max_nodes < 1:
        errors["max_nodes"] = "At least 1: a cluster needs a node to run anything."
    elif max_nodes is not None and max_nodes > MAX_NODES:
        errors["max_nodes"] = f"At most {MAX_NODES}."
    elif min_nodes is not None and max_nodes is not None and min_nodes > max_nodes:
        errors["min_nodes"] = f"At most the maximum ({max_nodes})."
    if idle_seconds is not None and idle_seconds < MIN_IDLE_SECONDS:
        errors["idle_seconds"] = (
            f"At least {MIN_IDLE_SECONDS} s: a node needs time to start before it may be released."
        )
    return errors


def node_size(workspace, name: str) -> NodeSize | None:
    """The size called ``name`` here; the workspace's own before the installation's."""
    sizes = sorted(node_sizes(workspace).filter(name=name), key=lambda s: s.workspace_id is None)
    return sizes[0] if sizes else None


def size_label(size: NodeSize) -> str:
    """ "medium — 2 cores, 4 GB" (", 1 GPU")."""
    cores = f"{size.cpu_cores:g} core{'s' if size.cpu_cores != 1 else ''}"
    gpus = f", {size.gpus} GPU{'s' if size.gpus != 1 else ''}" if size.gpus else ""
    return f"{size.name} — {cores}, {size.memory_gb:g} GB{gpus}"


def _optional(field: forms.Field, **changes) -> forms.Field:
    """A copy of another form's field, optional (the other mode leaves it out)."""
    field = copy.deepcopy(field)
    field.required = False
    for name, value in changes.items():
        setattr(field, name, value)
    return field


def _ssh(name, **changes):
    return _optional(SSHConfigForm.base_fields[name], **changes)


def _node_count(**kwargs) -> forms.IntegerField:
    return forms.IntegerField(required=False, **kwargs)


class SlurmConfigForm(SSHConfigForm):
    """Create a cluster on a Docker engine, or attach an existing Slurm cluster
    over SSH. ``mode`` picks the fields: the other mode's are left out, so the
    page shows, and the form checks, only the chosen ones. The attach fields and
    their checks are the VM form's (inherited); the created cluster's node size
    is checked against the engine as a container's limits are."""

    mode = forms.ChoiceField(choices=MODES, initial="create", widget=forms.HiddenInput)
    # create new
    engine = forms.ChoiceField(required=False, help_text="An attached Docker engine that passed its check.")
    size = forms.ChoiceField(
        label="Node size",
        required=False,
        help_text="Every node gets exactly this: CPU cores, memory and GPUs.",
    )
    min_nodes = _node_count(
        label="Minimum nodes",
        min_value=0,
        initial=0,
        help_text="Always up. 0: nodes start only when jobs wait.",
    )
    max_nodes = _node_count(
        label="Maximum nodes",
        min_value=1,
        max_value=MAX_NODES,
        initial=2,
        help_text="Slurm powers nodes up to this many while jobs wait.",
    )
    idle_seconds = _node_count(
        label="Idle seconds before a node is released",
        min_value=MIN_IDLE_SECONDS,
        initial=300,
        help_text="Slurm's SuspendTime: a node above the minimum idle this long is powered down.",
    )
    priority = forms.ChoiceField(choices=PRIORITIES, required=False, initial="dedicated")
    image = forms.CharField(
        label="Node image",
        required=False,
        max_length=255,
        initial=DEFAULT_IMAGE,
        help_text="The Slurm image on the engine (slurmctld, slurmd, munge, python3); never pulled.",
    )
    # use existing: the VM form's fields
    address = _ssh("address", help_text="The login node's host name or IP address.")
    port = _ssh("port")
    username = _ssh("username")
    password = _ssh("password")
    private_key = _ssh("private_key")
    passphrase = _ssh("passphrase")
    known_hosts = _ssh("known_hosts")
    known_hosts.widget.attrs["placeholder"] = "login.example.org ssh-ed25519 AAAAC3Nza…"
    workdir = _ssh(
        "workdir",
        help_text="On the cluster's shared filesystem, seen by every node: runs are kept there. "
        "A relative path is under the user's home.",
    )
    partition = forms.CharField(
        label="Default partition",
        required=False,
        max_length=64,
        help_text="Where runs go unless they name one. Empty: Slurm's default partition.",
    )

    field_order = ["mode", "name", *CREATE_FIELDS, *ATTACH_FIELDS]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        given = (self.data.get("mode") if self.is_bound else None) or self.initial.get("mode")
        self.mode = given if given in dict(MODES) else "create"
        for name in ATTACH_FIELDS if self.mode == "create" else CREATE_FIELDS:
            del self.fields[name]
        for name in REQUIRED[self.mode]:
            self.fields[name].required = True
        if self.is_bound:
            # A required field left out takes the value the page's form starts with (port 22),
            # as the API does for every kind (those fields are optional on the class here).
            missing = {
                name: self.fields[name].initial
                for name in REQUIRED[self.mode]
                if name not in self.data and self.fields[name].initial is not None
            }
            if missing:
                self.data = self.data.copy()
                self.data.update(missing)
        if self.mode == "create":
            self._init_create()

    def _init_create(self):
        limits = ContainerLimitsForm(workspace=self.workspace, instance=self.instance)
        self.engines = limits.engines
        self.fields["engine"].choices = limits.fields["engine"].choices
        self.fields["engine"].help_text = limits.fields["engine"].help_text
        self.image_choices = limits.image_choices
        self.fields["image"].widget.attrs["list"] = "engine-images"
        sizes = {}
        for size in node_sizes(self.workspace):  # the workspace's own wins over an installation-wide namesake
            if size.name not in sizes or size.workspace_id is not None:
                sizes[size.name] = size
        choices = [(size.name, size_label(size)) for size in sizes.values()]
        self.fields["size"].choices = choices
        if not choices:
            self.fields["size"].help_text = "No node sizes yet: an owner adds them in the workspace settings."

    # The attach fields' checks are SSHConfigForm's; in create mode their fields are gone, so
    # Django never calls them. The password-or-key rule is its clean(), for attach only.
    def clean(self):
        if self.mode == "attach":
            data = super().clean()
            data["partition"] = data.get("partition", "").strip()
            return data
        data = TargetForm.clean(self)
        add_node_limits_errors(self, data)
        self._clean_size(data)
        return data

    def _clean_size(self, data):
        """The node size must fit the engine, as a container's limits must (ContainerLimitsForm)."""
        size = node_size(self.workspace, data.get("size") or "")
        if size is None or not data.get("engine") or not data.get("image"):
            return
        limits = ContainerLimitsForm(
            data={
                "name": data.get("name") or "cluster",
                "engine": data["engine"],
                "cpus": size.cpu_cores,
                "memory_gb": size.memory_gb,
                "gpus": size.gpus,
                "image": data["image"],
            },
            workspace=self.workspace,
            instance=self.instance,
        )
        limits.is_valid()
        found: dict[str, list[str]] = {}
        for field, messages in limits.errors.items():
            ours = LIMITS_FIELD.get(field)
            if ours is not None and ours not in self.errors:
                found.setdefault(ours, []).extend(messages)
        for ours, messages in found.items():
            prefix = f"A {size.name} node: " if ours == "size" else ""
            self.add_error(ours, [prefix + message for message in messages])

    def to_target(self):
        data = self.cleaned_data
        if self.mode == "create":
            config = {"mode": "create", **{name: data[name] for name in CREATE_FIELDS}}
            config["image"] = config["image"].strip()
            return {"name": data["name"], "config": config, "secrets": {}, "host_key": ""}
        attach = super().to_target()
        attach["config"] = {"mode": "attach", **attach["config"], "partition": data["partition"]}
        return attach


def add_node_limits_errors(form, data: dict) -> None:
    """node_limits_errors() on ``form``, for the fields that have no error of their own yet."""
    for field, message in node_limits_errors(
        min_nodes=data.get("min_nodes"),
        max_nodes=data.get("max_nodes"),
        idle_seconds=data.get("idle_seconds"),
    ).items():
        if field not in form.errors:
            form.add_error(field, message)


class ClusterResizeForm(forms.Form):
    """A created cluster's node limits, changed while it runs."""

    min_nodes = forms.IntegerField(label="Minimum nodes", min_value=0)
    max_nodes = forms.IntegerField(label="Maximum nodes", min_value=1, max_value=MAX_NODES)
    idle_seconds = forms.IntegerField(label="Idle seconds", min_value=MIN_IDLE_SECONDS)

    def clean(self):
        data = super().clean()
        add_node_limits_errors(self, data)
        return data


class ClusterPages:
    """What the portal's pages ask of a cluster target beyond the kind's own
    attributes: mixed into SlurmBackend (``class SlurmBackend(ClusterPages, Backend)``)."""

    status_wide = True
    status_scripts = ("vendor/chartjs/chart.umd.min.js", "compute/node_chart.js")
    multi_node = True

    def shown_secret_fields(self):
        """A created cluster has no credentials to replace."""
        return {} if self.target.config.get("mode") == "create" else self.secret_fields

    def can_resize(self) -> bool:
        return self.target.config.get("mode") == "create"

    def list_summary(self) -> str:
        from ..selectors import node_summary

        return node_summary(self.target)

    def partitions(self) -> list[str]:
        """The partitions a run may choose (found by the check)."""
        return [p["name"] for p in self.target.capabilities.get("partitions", []) if p.get("name")]
