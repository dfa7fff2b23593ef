from collections.abc import Callable
from dataclasses import dataclass, field

Progress = Callable[[str], None]


class BackendError(Exception):
    """A failure to show the user as it is: ``message`` is in plain words.

    ``permanent`` errors (wrong password, no python3) need the user to change
    something; the others (timeout, refused) may pass by themselves."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.message = message
        self.permanent = permanent


class HostKeyUnconfirmed(BackendError):
    """First contact: the host presented ``key``; a person must confirm it."""

    def __init__(self, key: str):
        super().__init__("The host key must be confirmed before connecting.", permanent=True)
        self.key = key


class HostKeyChanged(BackendError):
    """The host presented ``key``, which is not the pinned one."""

    def __init__(self, key: str, message: str):
        super().__init__(message, permanent=True)
        self.key = key


class Backend:
    """One kind of compute target. Subclasses set the class attributes and
    implement what their kind supports."""

    do_not_call_in_templates = True  # templates list backend classes
    kind: str = ""
    label: str = ""
    description: str = ""
    icon: str = "hdd-network"
    # How a user can add one: "attach" (use existing) and/or "create" (create new).
    modes: tuple[str, ...] = ()
    # Secret config fields and their labels: stored encrypted, never shown back.
    secret_fields: dict[str, str] = {}  # noqa: RUF012
    # Whether it can be stopped and started again (created VMs).
    lifecycle: bool = False
    can_run: bool = False  # whether it runs scripts (implements the run contract)

    def __init__(self, target):
        self.target = target

    @classmethod
    def config_form(cls):
        raise NotImplementedError

    def shown_secret_fields(self) -> dict[str, str]:
        """The secret fields the status page offers to replace or clear."""
        return self.secret_fields

    @classmethod
    def summary(cls, capabilities: dict) -> str | None:
        """The one-line reason a passed check records; None for the default."""
        return None

    # ---- per-kind rules: everything outside compute/backends/ asks these ------------
    # The status page's capability and property rows (context: ``target``).
    status_template: str = "compute/backends/_machine_status.html"
    # Secret fields typed as several lines (keys, certificates): a textarea, not a password box.
    multiline_secrets: frozenset[str] = frozenset()
    # Whether a person may detach it (attached targets); see detach_refusal().
    detachable: bool = True
    # Whether the status template takes the page's whole width (a cluster's nodes and queue).
    status_wide: bool = False
    # Static scripts the status template needs (paths for {% static %}), loaded once by the page.
    status_scripts: tuple[str, ...] = ()
    # Whether a run may take several nodes: node count, processes per node and partition.
    multi_node: bool = False

    def list_summary(self) -> str:
        """A line under the state in the compute list ("2 busy · 1 idle (max 4)"); "" for none."""
        return ""

    def can_resize(self) -> bool:
        """Whether its node limits can change while it runs (see resize())."""
        return False

    def partitions(self) -> list[str]:
        """The partitions a run may choose; empty: the kind has none."""
        return []

    @classmethod
    def creates(cls, config: dict) -> bool:
        """Whether adding one with this config creates it (else it is attached)."""
        return "create" in cls.modes

    @classmethod
    def owner_only_reason(cls, config: dict) -> str | None:
        """Why only a workspace owner may add one with this config; None: contributors may."""
        return None

    @classmethod
    def config_errors(cls, target) -> list[str]:
        """What the kind's form refuses in ``target.config`` (the admin saves through this)."""
        form = cls.config_form()(
            data={**target.config, "name": target.name}, workspace=target.workspace, instance=target
        )
        if form.is_valid():
            return []
        return [
            f"{field}: {message}" if field != "__all__" else message
            for field, messages in form.errors.items()
            for message in messages
        ]

    @classmethod
    def sizes(cls, workspace) -> list[dict]:
        """The sizes one can create this kind in, here (the API's size catalogue): each
        ``{"name", "cpu_cores", "memory_gb", "gpus", "fields"}``, where ``fields`` are the
        form fields that ask for it. Kinds that create nothing with a size have none."""
        return []

    def validate_secret(self, field: str, value: str) -> None:
        """Raise BackendError when ``value`` cannot be this secret (a key that does not load)."""

    def secrets_replaced_by(self, field: str) -> tuple[str, ...]:
        """Stored secrets that setting ``field`` makes obsolete (a key replaces a password)."""
        return ()

    def detach_refusal(self) -> str | None:
        """Why it cannot be detached now; None when it can."""
        if not self.detachable:
            return f"{self.target.name} cannot be detached."
        return None

    def queue_reason(self, run) -> str | None:
        """What a queued run waits for that only the kind knows (a cluster node
        starting, a quota); None: it waits for a free worker slot. No kind has
        nodes or quotas yet; one that does answers here, without connecting."""
        return None

    @property
    def delete_consequence(self) -> str:
        """What deleting a created target does, in a sentence for the confirmation page."""
        return f"The portal removes what it created for {self.target.name}. This cannot be undone."

    # Clusters: the portal follows their nodes and queue on beat (compute/clusters.py).
    has_nodes: bool = False

    def follow_cluster(self) -> None:
        """One look at the cluster's nodes and queue (``clusters.observe``) and, for a
        created cluster, one reconcile of its containers (``clusters.reconcile``)."""

    @classmethod
    def housekeeping(cls) -> None:
        """Periodic cleanup of what this kind's runs leave behind (beat task)."""

    def check(self, progress: Progress) -> dict:
        """Connect and run the preflight; returns the capabilities found."""
        raise NotImplementedError

    def provision(self, progress: Progress) -> None:
        raise NotImplementedError(f"{self.label} targets cannot be created here.")

    def deprovision(self, progress: Progress) -> None:
        """Release what provision() made. Attached targets own nothing."""

    def resize(self, progress: Progress, *, min_nodes: int, max_nodes: int, idle_seconds: int) -> None:
        """Apply new node limits to the running target (see can_resize()); the caller
        saves them in the config once this returns."""
        raise NotImplementedError(f"{self.label} targets cannot be resized.")

    def stop(self, progress: Progress) -> None:
        raise NotImplementedError(f"{self.label} targets cannot be stopped.")

    def start(self, progress: Progress) -> None:
        raise NotImplementedError(f"{self.label} targets cannot be started.")

    # ---- the run contract (kinds with can_run implement it) -------------------------
    # Seconds between two polls of this kind's runs; the monitor polls all of a
    # target's runs at once, so this is per target, not per run.
    poll_interval: float = 1.0

    def ensure_snapshot(self, sha256: str, archive, *, tree_digest: str = "") -> bool:
        """Make the snapshot present (and verified) on the target; True when it was uploaded."""
        raise NotImplementedError(f"{self.label} targets do not run scripts.")

    def launch(self, spec: "LaunchSpec") -> dict:
        """Start the run detached and return its handle: an opaque dict the
        portal stores whole and gives back to poll/read_logs/cancel/fetch_outputs.
        Launching a run that was already launched starts nothing."""
        raise NotImplementedError(f"{self.label} targets do not run scripts.")

    def poll(self, handles: list[dict]) -> list["RunState"]:
        """The state of many runs of this target at once (one round trip where
        the kind allows), in the order of ``handles``."""
        raise NotImplementedError(f"{self.label} targets do not run scripts.")

    def read_logs(self, handle: dict, offsets: dict, sizes: dict | None = None) -> dict[str, bytes]:
        """New bytes of stdout, stderr, system and metrics from the given offsets (capped)."""
        raise NotImplementedError(f"{self.label} targets do not run scripts.")

    def cancel(self, handle: dict) -> None:
        """Stop the run's whole process tree (or container, or scheduler job)."""
        raise NotImplementedError(f"{self.label} targets do not run scripts.")

    def fetch_outputs(self, handle: dict, dest) -> bool:
        """Bring the run's outputs/ as a tar.gz to ``dest``; False when there are none."""
        raise NotImplementedError(f"{self.label} targets do not run scripts.")

    # Kinds whose environment is an image build it in prepare_image() before the launch.
    builds_images: bool = False

    def prepare_image(self, on_line) -> str:
        """Build or find the run's image: "hit", "built" or "base"."""
        raise NotImplementedError(f"{self.label} targets do not build images.")

    def close(self) -> None:
        """Release connections held between calls (a monitor keeps a backend for many ticks)."""


@dataclass(frozen=True)
class LaunchSpec:
    """Everything a launch needs; the same for every kind."""

    key: str  # the run's key (hex): names its folder, container or job
    sha256: str  # the snapshot
    script: str
    arguments: list[str]
    env_kind: str  # user | pip | conda
    env_arg: str  # the interpreter, or the environment's spec hash
    requirements: str = ""
    # Files written under the run's lib/ (on PYTHONPATH): {path: content}
    helpers: dict[str, str] = field(default_factory=dict)
    # Variables set for the script: {name: value}
    env: dict[str, str] = field(default_factory=dict)
    tree_digest: str = ""  # the snapshot's content digest, checked on the target
    env_digest: str = ""  # the built environment's content digest, when known
    # Variables for the environment build only (PIP_INDEX_URL, ...) and the
    # trusted CA bundle (PEM) it uses: see compute/package_index.py.
    build_env: dict[str, str] = field(default_factory=dict)
    ca_bundle: str = field(default="", repr=False)
    # Clusters: nodes and processes per node (srun), and the partition ("" = the default).
    nodes: int = 1
    processes_per_node: int = 1
    partition: str = ""


@dataclass
class RunState:
    """What a poll found about one run."""

    alive: bool = False
    exit_code: int | None = None
    phase: str = ""
    env_result: str = ""
    failure: str = ""
    canceled: bool = False
    missing: bool = False
    sizes: dict | None = None  # log name -> bytes, when the target reported them
    # Clusters: the run's attempt (2 after a requeue), and while phase is "queued"
    # where it stands in the scheduler's queue, in a sentence.
    attempt: int = 0
    note: str = ""

    @property
    def ended(self) -> bool:
        return self.exit_code is not None or not self.alive
