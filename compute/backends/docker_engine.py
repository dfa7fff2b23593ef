"""Attach a Docker engine: this machine's socket, tcp:// with TLS, or through an SSH VM."""

import logging

from django import forms

from ..forms import SecretTextarea, TargetForm
from ..models import ComputeTarget, Origin, TargetState
from . import docker as engines
from .base import Backend, BackendError

log = logging.getLogger(__name__)

DEFAULT_SOCKET = "/var/run/docker.sock"


def _pem(label: str, begin: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        widget=SecretTextarea(attrs={"rows": 2, "placeholder": f"-----BEGIN {begin}-----"}),
        help_text="For tcp:// only. Stored encrypted; never shown again.",
    )


class DockerEngineForm(TargetForm):
    endpoint = forms.CharField(
        required=False,
        max_length=255,
        initial=f"unix://{DEFAULT_SOCKET}",
        help_text="unix:///path/to/docker.sock on this machine, or tcp://host:2376 with TLS below. "
        "Leave empty to go through an SSH VM.",
    )
    ssh_target = forms.ChoiceField(
        label="Or through an attached VM",
        required=False,
        help_text="Reuses the VM's SSH credentials and pinned host key (ssh://).",
    )
    remote_socket = forms.CharField(
        label="Engine socket on the VM",
        required=False,
        max_length=255,
        initial=DEFAULT_SOCKET,
    )
    tls_ca = _pem("CA certificate", "CERTIFICATE")
    tls_cert = _pem("Client certificate", "CERTIFICATE")
    tls_key = _pem("Client key", "PRIVATE KEY")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        vms = ComputeTarget.objects.filter(workspace=self.workspace, kind="ssh").values_list(
            "name", flat=True
        )
        self.fields["ssh_target"].choices = [("", "—"), *((name, name) for name in vms)]

    def clean(self):
        data = super().clean()
        endpoint, vm = data.get("endpoint", "").strip(), data.get("ssh_target")
        if bool(endpoint) == bool(vm):
            raise forms.ValidationError("Give an endpoint, or pick a VM to reach the engine through.")
        if vm:
            socket_path = data.get("remote_socket", "").strip() or DEFAULT_SOCKET
            if not socket_path.startswith("/"):
                self.add_error("remote_socket", "An absolute path on the VM, like /var/run/docker.sock.")
            data["remote_socket"] = socket_path
        elif endpoint.startswith("unix://"):
            if not endpoint.removeprefix("unix://").startswith("/"):
                self.add_error("endpoint", "unix:// needs an absolute path: unix:///var/run/docker.sock.")
        elif endpoint.startswith("tcp://"):
            host, _, port = endpoint.removeprefix("tcp://").rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                self.add_error("endpoint", "Write tcp://host:port, e.g. tcp://build1.lan:2376.")
            for field in ("tls_ca", "tls_cert", "tls_key"):
                if data.get(field) and "-----BEGIN " not in data[field]:
                    self.add_error(field, "Paste the PEM text, from -----BEGIN … to -----END … .")
            missing = [
                self.fields[f].label for f in ("tls_ca", "tls_cert", "tls_key") if not self.has_secret(f)
            ]
            if missing:
                # A plain-TCP engine is root on that machine for anyone on the network.
                self.add_error(
                    None, "tcp:// engines are reached with TLS only; give the " + ", ".join(missing)
                )
        else:
            self.add_error("endpoint", "Start with unix:// or tcp:// (or pick a VM for ssh://).")
        data["endpoint"] = endpoint
        return data

    def to_target(self):
        data = self.cleaned_data
        if data["ssh_target"]:
            config = {"ssh_target": data["ssh_target"], "remote_socket": data["remote_socket"]}
            secrets = {}
        else:
            config = {"endpoint": data["endpoint"]}
            secrets = {f: data[f] for f in DockerEngineBackend.secret_fields if data.get(f)}
        return {"name": data["name"], "config": config, "secrets": secrets, "host_key": ""}


class DockerEngineBackend(Backend):
    kind = "docker"
    label = "Docker engine"
    description = "An engine that container instances and created VMs run on."
    icon = "box-seam"
    modes = ("attach",)
    secret_fields = {"tls_ca": "CA certificate", "tls_cert": "Client certificate", "tls_key": "Client key"}
    status_template = "compute/backends/_docker_status.html"
    multiline_secrets = frozenset(secret_fields)

    @classmethod
    def config_form(cls):
        return DockerEngineForm

    @classmethod
    def owner_only_reason(cls, config):
        if config.get("endpoint", "").startswith("unix://"):
            return (
                "A unix:// Docker engine is root on the portal's own host: "
                "only a workspace owner can attach one."
            )
        return None

    def hosted_targets(self) -> list[str]:
        """Names of the targets created on this engine."""
        return list(
            ComputeTarget.objects.filter(
                workspace_id=self.target.workspace_id, origin=Origin.CREATED, config__engine=self.target.name
            ).values_list("name", flat=True)
        )

    def detach_refusal(self):
        hosted = self.hosted_targets()
        if hosted:
            return f"{self.target.name} hosts {', '.join(hosted)}: delete those first."
        return None

    @classmethod
    def housekeeping(cls):
        """Remove the run containers kept after a failure once their time is up."""
        from .docker_instance import remove_expired_run_containers

        for engine in ComputeTarget.objects.filter(kind=cls.kind, state=TargetState.SUCCEEDED):
            try:
                remove_expired_run_containers(engine)
            except BackendError as exc:
                log.info("Engine %s: kept run containers not cleaned: %s", engine.name, exc.message)

    @property
    def workdir(self) -> str:
        return ""

    def shown_secret_fields(self):
        """TLS material matters for tcp:// engines only."""
        return self.secret_fields if self.target.config.get("endpoint", "").startswith("tcp://") else {}

    @property
    def endpoint(self) -> str:
        return engines.describe_endpoint(self.target.config)

    @classmethod
    def summary(cls, capabilities):
        gpu = "GPU runtime present" if capabilities.get("gpu_runtime") else "no GPU runtime"
        return (
            f"Check passed: {capabilities['engine']} {capabilities['engine_version']} on {capabilities['os']}, "
            f"{capabilities['cpus']} CPUs, {capabilities['memory_mb'] / 1024:.1f} GB memory, "
            f"{len(capabilities['images'])} images, {gpu}."
        )

    def check(self, progress):
        with engines.connect(self.target, progress) as engine:
            progress("Reading the engine: version, OS, CPUs, memory, images, GPU runtime")
            return engine.info()


def usable_engines(workspace):
    """Engines a created VM or container instance can be put on."""
    return ComputeTarget.objects.filter(
        workspace=workspace,
        kind=DockerEngineBackend.kind,
        state__in=[TargetState.SUCCEEDED, TargetState.UNREACHABLE],
    )
