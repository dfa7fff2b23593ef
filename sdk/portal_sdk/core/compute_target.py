"""Compute targets: find, create, attach, wait for, check and delete them.

``ComputeTarget(ws, name)`` returns the class for the target's kind
(``RemoteCompute`` for an attached VM, ``DsvmCompute`` for a created one, ...).
Creating or attaching one is one POST of ``{"kind", "name", <the kind's form
fields>}``: the configuration classes in ``portal_sdk.core.compute`` build
that body, the portal validates it with the same form its page uses.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TextIO

from ..exceptions import ComputeTargetException, NotFoundError, PortalError, TargetFailedException

if TYPE_CHECKING:
    from .workspace import Workspace

# States in which the portal is still working on a target.
BUSY_STATES = frozenset({"Creating", "Attaching", "Deleting", "Stopping", "Starting"})
HOST_KEY_PENDING = "HostKeyPending"
POLL_SECONDS = 1.0


def _wrap(exc: PortalError) -> ComputeTargetException:
    return ComputeTargetException(exc.message, status=exc.status, fields=exc.fields)


class ComputeTargetStatus:
    """A target's state as last read (``target.status``)."""

    def __init__(self, payload: dict[str, Any]):
        self._payload = payload

    @property
    def provisioning_state(self) -> str:
        return self._payload.get("state", "")

    @property
    def state_reason(self) -> str:
        return self._payload.get("state_reason") or ""

    @property
    def provisioning_errors(self) -> list[str]:
        return [self.state_reason] if self.provisioning_state == "Failed" and self.state_reason else []

    def serialize(self) -> dict[str, Any]:
        """The target as the portal describes it (no secrets: the portal never returns them)."""
        return dict(self._payload)

    def __str__(self) -> str:
        return self.provisioning_state

    def __repr__(self) -> str:
        return f"ComputeTargetStatus({self.provisioning_state!r})"


@dataclass
class TargetConfiguration:
    """The request to create or attach one target. ``fields`` are the kind's form
    fields; ``resolve`` fills in what needs the workspace (an engine, a size) at
    create time."""

    kind: str
    fields: dict[str, Any] = field(default_factory=dict)
    # Filled from the workspace when the target is created (see request()).
    engine: str | None = None
    vm_size: str | None = None
    host_key_fingerprint: str | None = None
    resolvers: list[Callable[[Workspace, TargetConfiguration], None]] = field(
        default_factory=list, repr=False
    )

    def request(self, workspace: Workspace, name: str) -> dict[str, Any]:
        """The POST body for ``name`` in ``workspace``."""
        for resolve in self.resolvers:
            resolve(workspace, self)
        body = {"kind": self.kind, "name": name}
        body.update({k: v for k, v in self.fields.items() if v is not None})
        return body

    def __repr__(self) -> str:  # secrets stay out of logs and tracebacks
        shown = {k: ("***" if k in SECRET_FIELDS else v) for k, v in self.fields.items()}
        return f"{type(self).__name__}(kind={self.kind!r}, fields={shown!r})"


SECRET_FIELDS = frozenset({"password", "private_key", "passphrase", "tls_key", "tls_cert", "tls_ca"})


class ComputeTargetProvisioningConfiguration(TargetConfiguration):
    """What ``provisioning_configuration()`` returns: a target to create."""


class ComputeTargetAttachConfiguration(TargetConfiguration):
    """What ``attach_configuration()`` returns: an existing machine to attach."""


class ComputeTarget:
    """A compute target of a workspace.

    ``ComputeTarget(ws, name)`` (or ``DsvmCompute(workspace=ws, name=name)``)
    reads it from the portal and raises ComputeTargetException when there is
    none (or, for a subclass, when it is of another kind)."""

    # Portal kinds a subclass stands for, and the cloud SDK's type name for them.
    _kinds: ClassVar[tuple[str, ...]] = ()
    _type: ClassVar[str] = ""
    _by_kind: ClassVar[dict[str, type[ComputeTarget]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for kind in cls._kinds:
            ComputeTarget._by_kind.setdefault(kind, cls)

    def __new__(cls, workspace: Workspace | None = None, name: str | None = None):
        if workspace is None or name is None:
            return super().__new__(cls)
        try:
            payload = workspace._client.get(workspace.api(f"computes/{name}/"))
        except NotFoundError as exc:
            raise ComputeTargetException(
                f"No compute target named {name!r} in workspace {workspace.name}.", status=404
            ) from exc
        except PortalError as exc:
            raise _wrap(exc) from exc
        if cls._kinds and payload.get("kind") not in cls._kinds:
            raise ComputeTargetException(
                f"{name} is a {payload.get('kind_label') or payload.get('kind')}, not a {cls.__name__}."
            )
        return cls._from_payload(workspace, payload)

    def __init__(self, workspace: Workspace | None = None, name: str | None = None):
        """Set up by __new__ (which reads the target)."""

    @classmethod
    def _from_payload(cls, workspace: Workspace, payload: dict[str, Any]) -> ComputeTarget:
        target_cls = cls if cls._kinds else ComputeTarget._by_kind.get(payload.get("kind", ""), ComputeTarget)
        obj = object.__new__(target_cls)
        obj.workspace = workspace
        obj._payload = payload
        obj._host_key_fingerprint = None
        obj._announced_host_key = False
        return obj

    # ---- what it is -----------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._payload["name"]

    @property
    def kind(self) -> str:
        """The portal's kind (``ssh``, ``docker-vm``, ``container``, ``docker``, ``local``...)."""
        return self._payload.get("kind", "")

    @property
    def type(self) -> str:
        """The cloud SDK's type name (``VirtualMachine``, ``ContainerInstance``, ``BatchAI``...)."""
        cls = ComputeTarget._by_kind.get(self.kind)
        return (cls._type if cls else "") or self.kind

    @property
    def provisioning_state(self) -> str:
        return self._payload.get("state", "")

    @property
    def status(self) -> ComputeTargetStatus:
        return ComputeTargetStatus(self._payload)

    @property
    def origin(self) -> str:
        return self._payload.get("origin", "")

    @property
    def portal_url(self) -> str:
        url = self._payload.get("url") or ""
        return url if url.startswith("http") else f"{self.workspace.url}{url}"

    def get_portal_url(self) -> str:
        return self.portal_url

    def serialize(self) -> dict[str, Any]:
        return dict(self._payload)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, kind={self.kind!r}, state={self.provisioning_state!r})"

    def _api(self, action: str = "") -> str:
        return self.workspace.api(f"computes/{self.name}/{action}")

    def _call(self, method: str, action: str = "", json: Any = None) -> dict[str, Any]:
        try:
            response = self.workspace._client.request(method, self._api(action), json=json)
        except PortalError as exc:
            raise _wrap(exc) from exc
        return response.json() if response.content else {}

    # ---- creating and attaching ----------------------------------------------------------

    @staticmethod
    def create(
        workspace: Workspace, name: str, provisioning_configuration: TargetConfiguration
    ) -> ComputeTarget:
        """Ask the portal to create ``name``; returns at once (then ``wait_for_completion()``)."""
        return ComputeTarget._add(workspace, name, provisioning_configuration)

    @staticmethod
    def attach(workspace: Workspace, name: str, attach_configuration: TargetConfiguration) -> ComputeTarget:
        """Attach an existing machine as ``name``; returns at once (then ``wait_for_completion()``)."""
        return ComputeTarget._add(workspace, name, attach_configuration)

    @staticmethod
    def _add(workspace: Workspace, name: str, configuration: TargetConfiguration) -> ComputeTarget:
        if not isinstance(configuration, TargetConfiguration):
            raise ComputeTargetException(
                "Pass the result of a provisioning_configuration() or attach_configuration()."
            )
        body = configuration.request(workspace, name)
        try:
            payload = workspace._client.post(workspace.api("computes/"), json=body)
        except PortalError as exc:
            raise _wrap(exc) from exc
        target = ComputeTarget._from_payload(workspace, payload)
        target._host_key_fingerprint = configuration.host_key_fingerprint
        return target

    # ---- following it ------------------------------------------------------------------

    def refresh(self) -> ComputeTarget:
        self._payload = self._call("GET")
        return self

    def get_status(self) -> ComputeTargetStatus:
        """The current state, read from the portal."""
        return self.refresh().status

    def get_events(self) -> list[dict[str, Any]]:
        """The target's recorded events (state changes and provisioning steps)."""
        events = self._call("GET", "events/")
        return events if isinstance(events, list) else events.get("results", [])

    def wait_for_completion(
        self,
        show_output: bool = False,
        min_node_count: int | None = None,
        timeout_in_minutes: float = 20,
        is_delete_operation: bool = False,
        *,
        out: TextIO | None = None,
    ) -> None:
        """Wait until the portal is done creating, attaching, checking or deleting.

        With ``show_output`` each provisioning step and state change is printed
        as it happens. A host key seen for the first time is confirmed when the
        configuration gave ``host_key_fingerprint`` (and refused when it differs);
        otherwise the page's address is printed and this waits for a person to
        confirm it there. Raises ComputeTargetException when the target failed
        or the time is up. ``min_node_count`` is accepted for clusters."""
        out = out or sys.stdout
        deadline = time.monotonic() + timeout_in_minutes * 60
        seen_events: set[tuple] = set()
        last_state = last_activity = None
        while True:
            try:
                self.refresh()
            except ComputeTargetException as exc:
                if is_delete_operation and exc.status == 404:
                    if show_output:
                        print(f"{self.name}: deleted", file=out, flush=True)
                    return
                raise
            if show_output:
                self._print_new_events(seen_events, out)
                activity = self._payload.get("activity") or ""
                if activity and activity != last_activity:
                    print(f"  {activity}", file=out, flush=True)
                last_activity = activity
            state = self.provisioning_state
            if state != last_state:
                if show_output:
                    reason = self.status.state_reason
                    print(f"{self.name}: {state}" + (f" ({reason})" if reason else ""), file=out, flush=True)
                last_state = state
            # A task may still be at work in a settled state (a check of a Succeeded target).
            busy = state in BUSY_STATES or bool(self._payload.get("activity"))
            if state == HOST_KEY_PENDING and self._payload.get("host_key_pending"):
                self._settle_host_key(out)
            elif not busy:
                if state == "Failed":
                    raise TargetFailedException(
                        f"{self.name} failed: {self.status.state_reason or 'see its page'} ({self.portal_url})"
                    )
                if not is_delete_operation:
                    return
            if time.monotonic() > deadline:
                raise TargetFailedException(
                    f"{self.name} is still {state} after {timeout_in_minutes:g} minutes ({self.portal_url})."
                )
            time.sleep(POLL_SECONDS)

    def _print_new_events(self, seen: set[tuple], out: TextIO) -> None:
        try:
            events = self.get_events()
        except ComputeTargetException:
            return  # events are extra detail; the state is what counts
        for event in sorted(events, key=lambda e: str(e.get("at", ""))):
            key = (event.get("at"), event.get("state") or event.get("kind"), event.get("message"))
            if key in seen:
                continue
            seen.add(key)
            if event.get("message"):
                print(f"  {event.get('message')}", file=out, flush=True)

    def _settle_host_key(self, out: TextIO) -> None:
        pending = (self._payload.get("host_key_pending") or {}).get("fingerprint", "")
        if self._host_key_fingerprint:
            if pending and pending != self._host_key_fingerprint:
                self._call("POST", "host-key/", json={"action": "reject"})
                raise ComputeTargetException(
                    f"{self.name} presented the host key {pending}, not the expected "
                    f"{self._host_key_fingerprint}: refused."
                )
            if pending:
                self._payload = self._call("POST", "host-key/", json={"fingerprint": pending})
            return
        if not self._announced_host_key:
            self._announced_host_key = True
            print(
                f"{self.name}: the host key {pending} must be confirmed before the portal connects. "
                f"Open {self.portal_url} to confirm it (or attach with host_key_fingerprint=...). Waiting.",
                file=out,
                flush=True,
            )

    # ---- actions -----------------------------------------------------------------------

    def confirm_host_key(self, fingerprint: str) -> ComputeTarget:
        """Confirm the pending host key; the portal refuses a fingerprint that is not the pending one."""
        self._payload = self._call("POST", "host-key/", json={"fingerprint": fingerprint})
        return self

    def check(self) -> ComputeTarget:
        """Run the check again (connect, preflight); then ``wait_for_completion()``."""
        self._payload = self._call("POST", "check/")
        return self

    def stop(self) -> ComputeTarget:
        self._payload = self._call("POST", "stop/")
        return self

    def start(self) -> ComputeTarget:
        self._payload = self._call("POST", "start/")
        return self

    def delete(self) -> None:
        """Delete a created target (an attached one is detached): the portal removes
        what it made. Returns once the portal accepted; ``wait_for_completion(
        is_delete_operation=True)`` waits until it is gone."""
        self._payload = self._call("DELETE") or self._payload

    def detach(self) -> None:
        """Detach an attached target; the machine itself is left as it is."""
        if self.origin == "created":
            raise ComputeTargetException(f"{self.name} was created by the portal: delete() it instead.")
        self._payload = self._call("DELETE") or self._payload


class LocalCompute(ComputeTarget):
    """The machine the portal's workers run on (granted by an administrator)."""

    _kinds = ("local",)
    _type = "Local"


__all__ = [
    "ComputeTarget",
    "ComputeTargetAttachConfiguration",
    "ComputeTargetException",
    "ComputeTargetProvisioningConfiguration",
    "ComputeTargetStatus",
    "LocalCompute",
    "TargetConfiguration",
]
