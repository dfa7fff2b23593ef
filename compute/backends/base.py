from collections.abc import Callable

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

    def check(self, progress: Progress) -> dict:
        """Connect and run the preflight; returns the capabilities found."""
        raise NotImplementedError

    def provision(self, progress: Progress) -> None:
        raise NotImplementedError(f"{self.label} targets cannot be created here.")

    def deprovision(self, progress: Progress) -> None:
        """Release what provision() made. Attached targets own nothing."""

    def stop(self, progress: Progress) -> None:
        raise NotImplementedError(f"{self.label} targets cannot be stopped.")

    def start(self, progress: Progress) -> None:
        raise NotImplementedError(f"{self.label} targets cannot be started.")
