"""Attach an existing machine over SSH (paramiko), with a pinned host key."""

import io
import secrets
import shlex
import socket
import time
from contextlib import contextmanager

import paramiko
from django import forms
from django.conf import settings

from .. import hostkeys
from ..forms import SecretTextarea, TargetForm
from . import preflight
from .base import Backend, BackendError, HostKeyChanged, HostKeyUnconfirmed
from .runner import RunnerMixin

# The host key algorithms paramiko may negotiate for a pinned key's type, so a
# server with several host keys presents the one that was pinned.
_KEY_ALGORITHMS = {"ssh-rsa": ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]}
_KEY_CLASSES = (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey)


def load_private_key(text: str, passphrase: str = "") -> paramiko.PKey:
    """A private key from its text; BackendError with a plain reason if it does not load."""
    needs_passphrase = False
    for cls in _KEY_CLASSES:
        try:
            return cls.from_private_key(io.StringIO(text.strip() + "\n"), password=passphrase or None)
        except paramiko.PasswordRequiredException:
            needs_passphrase = True
        except (paramiko.SSHException, ValueError, TypeError, IndexError):
            continue
    if needs_passphrase and not passphrase:
        raise BackendError("The private key is encrypted: give its passphrase.", permanent=True)
    if passphrase:
        raise BackendError(
            "The private key does not load: wrong passphrase, or not an Ed25519, ECDSA or RSA key.",
            permanent=True,
        )
    raise BackendError(
        "Not a private key: paste an Ed25519, ECDSA or RSA key in OpenSSH or PEM format.",
        permanent=True,
    )


class SSHConfigForm(TargetForm):
    address = forms.CharField(max_length=255, help_text="Host name or IP address of the VM.")
    port = forms.IntegerField(min_value=1, max_value=65535, initial=22)
    username = forms.CharField(max_length=64)
    password = forms.CharField(required=False, strip=False, widget=forms.PasswordInput(render_value=False))
    private_key = forms.CharField(
        required=False,
        widget=SecretTextarea(attrs={"rows": 4, "placeholder": "-----BEGIN OPENSSH PRIVATE KEY-----"}),
        help_text="Instead of a password. Stored encrypted; never shown again.",
    )
    passphrase = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Only if the private key is encrypted.",
    )
    workdir = forms.CharField(
        label="Working directory",
        max_length=255,
        initial="portal",
        help_text="Where runs are kept on the VM. A relative path is under the user's home.",
    )
    known_hosts = forms.CharField(
        label="Host key (optional)",
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "vm.example.org ssh-ed25519 AAAAC3Nza…"}),
        help_text="A known_hosts line to pin up front. Left empty, the portal fetches the key "
        "and asks you to confirm its fingerprint.",
    )

    def clean_address(self):
        address = self.cleaned_data["address"].strip()
        try:
            socket.getaddrinfo(address, None)
        except (socket.gaierror, UnicodeError):
            raise forms.ValidationError(f"“{address}” does not resolve to an address.") from None
        return address

    def clean_workdir(self):
        workdir = self.cleaned_data["workdir"].strip()
        if "\x00" in workdir or "\n" in workdir:
            raise forms.ValidationError("A path cannot hold NUL or newline characters.")
        return workdir

    def clean_known_hosts(self):
        line = self.cleaned_data["known_hosts"].strip()
        if not line:
            return ""
        try:
            return hostkeys.parse_known_hosts_line(line)
        except hostkeys.BadHostKey as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean(self):
        data = super().clean()
        password, key = data.get("password"), data.get("private_key")
        stored = self.instance is not None and (self.has_secret("password") or self.has_secret("private_key"))
        if not password and not key and stored:
            return data  # checking a saved target's config: its credentials are stored
        if not password and not key:
            raise forms.ValidationError("Give a password or a private key.")
        if password and key:
            raise forms.ValidationError("Give a password or a private key, not both.")
        if key:
            try:
                load_private_key(key, data.get("passphrase", ""))
            except BackendError as exc:
                self.add_error("private_key", exc.message)
        return data

    def to_target(self):
        data = self.cleaned_data
        secrets = {f: data[f] for f in SSHBackend.secret_fields if data.get(f)}
        return {
            "name": data["name"],
            "config": {
                "address": data["address"],
                "port": data["port"],
                "username": data["username"],
                "workdir": data["workdir"],
            },
            "secrets": secrets,
            "host_key": data["known_hosts"],
        }


OUTPUT_LIMIT = 4 * 1024 * 1024


class SSHSession:
    """One authenticated connection, reused for all of a task's commands."""

    def __init__(self, transport: paramiko.Transport, address: str):
        self.transport = transport
        self.address = address

    def run(self, command: str, *, timeout: float) -> tuple[int, str, str]:
        """Runs a command line (built with shlex) and returns (exit code, stdout, stderr)."""
        try:
            channel = self.transport.open_session(timeout=timeout)
            channel.settimeout(timeout)
            channel.exec_command(command)
            channel.shutdown_write()
            deadline = time.monotonic() + timeout
            # A hostile host cannot make the portal hold more than this.
            out = channel.makefile("rb").read(OUTPUT_LIMIT + 1)
            err = channel.makefile_stderr("rb").read(OUTPUT_LIMIT + 1)
            if len(out) > OUTPUT_LIMIT or len(err) > OUTPUT_LIMIT:
                channel.close()
                raise BackendError(
                    f"A command on {self.address} printed more than {OUTPUT_LIMIT // 2**20} MB: refused."
                )
            if not channel.status_event.wait(max(0.0, deadline - time.monotonic())):
                raise TimeoutError
            return channel.recv_exit_status(), out.decode(errors="replace"), err.decode(errors="replace")
        except TimeoutError:
            raise BackendError(f"A command on {self.address} took longer than {timeout:.0f} s.") from None
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise BackendError(f"The connection to {self.address} broke: {exc}.") from None

    def close(self):
        self.transport.close()


class SSHBackend(RunnerMixin, Backend):
    poll_interval = 0.25
    kind = "ssh"
    label = "Virtual machine"
    description = "Use an existing Linux machine you can reach over SSH."
    icon = "hdd-network"
    modes = ("attach",)
    secret_fields = {"password": "Password", "private_key": "Private key", "passphrase": "Key passphrase"}
    can_run = True
    status_template = "compute/backends/_ssh_status.html"
    multiline_secrets = frozenset({"private_key"})

    @classmethod
    def config_form(cls):
        return SSHConfigForm

    def validate_secret(self, field, value):
        if field == "private_key":
            load_private_key(value, self.target.secret("passphrase"))

    def secrets_replaced_by(self, field):
        # One way to log in: a new password drops the key, a new key the password.
        return {"password": ("private_key",), "private_key": ("password",)}.get(field, ())

    @property
    def workdir(self) -> str:
        return self.target.config.get("workdir") or "portal"

    @contextmanager
    def session(self, progress=lambda step: None):
        transport = self._connect(progress)
        session = SSHSession(transport, self._address)
        try:
            yield session
        finally:
            session.close()

    def check(self, progress):
        with self.session(progress) as session:
            progress("Preflight: OS, CPUs, memory, disk, Python, conda, docker, GPUs")
            _, out, _ = session.run(preflight.command_line(self.workdir), timeout=settings.PREFLIGHT_TIMEOUT)
        return preflight.parse(out, workdir=self.workdir)

    @property
    def _address(self) -> str:
        config = self.target.config
        return f"{config['address']}:{config['port']}"

    def _connect(self, progress) -> paramiko.Transport:
        config, timeout = self.target.config, settings.SSH_CONNECT_TIMEOUT
        host, port = config["address"], int(config["port"])
        progress(f"Connecting to {self._address}")
        sock = self._open_socket(host, port, timeout)
        transport = paramiko.Transport(sock)
        transport.banner_timeout = transport.handshake_timeout = transport.auth_timeout = timeout
        if self.target.host_key:
            key_type = self.target.host_key.split()[0]
            transport.get_security_options().key_types = _KEY_ALGORITHMS.get(key_type, [key_type])
        try:
            try:
                # start_client returns quietly when its own timeout passes
                # mid-handshake; only a finished key exchange gives a host key.
                transport.start_client(timeout=timeout)
                if not transport.is_active() or transport.host_key is None:
                    raise paramiko.SSHException("no greeting")
                presented = transport.get_remote_server_key()
            except (paramiko.SSHException, EOFError, OSError) as exc:
                raise BackendError(
                    f"{self._address} did not complete the SSH handshake within {timeout:.0f} s "
                    f"({exc or 'no greeting'}). Is it an SSH server?"
                ) from None
            self._verify_host_key(presented)
            progress(f"Authenticating as {config['username']}")
            self._authenticate(transport, config["username"])
        except BaseException:
            transport.close()
            raise
        return transport

    @staticmethod
    def _open_socket(host, port, timeout):
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except socket.gaierror:
            raise BackendError(f"The address {host} does not resolve.", permanent=True) from None
        except ConnectionRefusedError:
            raise BackendError(
                f"Connection refused by {host}:{port}: no SSH server listens on that port."
            ) from None
        except TimeoutError:
            raise BackendError(f"Timed out after {timeout:.0f} s connecting to {host}:{port}.") from None
        except OSError as exc:
            raise BackendError(f"Cannot reach {host}:{port}: {exc.strerror or exc}.") from None
        # Nagle off: ~44 → ~2 ms per command on loopback.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def _verify_host_key(self, key: paramiko.PKey):
        presented = f"{key.get_name()} {key.get_base64()}"
        pinned = self.target.host_key
        if not pinned:
            raise HostKeyUnconfirmed(presented)
        if pinned.split()[:2] != presented.split()[:2]:
            raise HostKeyChanged(
                presented,
                f"HOST KEY CHANGED for {self._address}: it presented {hostkeys.fingerprint(presented)}"
                f" but {hostkeys.fingerprint(pinned)} is pinned. Someone may be intercepting the "
                "connection, or the VM was reinstalled. Nothing connects until an owner re-pins.",
            )

    def _authenticate(self, transport, username):
        target = self.target
        method = "public key" if target.has_secret("private_key") else "password"
        try:
            if method == "public key":
                pkey = load_private_key(target.secret("private_key"), target.secret("passphrase"))
                transport.auth_publickey(username, pkey)
            else:
                transport.auth_password(username, target.secret("password"))
        except paramiko.BadAuthenticationType as exc:
            raise BackendError(
                f"{self._address} does not accept {method} authentication "
                f"(it allows: {', '.join(exc.allowed_types) or 'nothing'}).",
                permanent=True,
            ) from None
        except paramiko.AuthenticationException:
            what = "wrong password" if method == "password" else "the key is not authorized"
            raise BackendError(
                f"Authentication failed for {username} on {self._address}: {what}.", permanent=True
            ) from None
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise BackendError(
                f"The connection to {self._address} broke while authenticating: {exc}."
            ) from None

    # ---- run primitives (see runner.py): one connection per monitor ------------
    _held: SSHSession | None = None
    _sftp: paramiko.SFTPClient | None = None

    def _session(self) -> SSHSession:
        if self._held is None or not self._held.transport.is_active():
            self.close()
            self._held = SSHSession(self._connect(lambda step: None), self._address)
        return self._held

    def _sftp_client(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            try:
                self._sftp = paramiko.SFTPClient.from_transport(self._session().transport)
            except (paramiko.SSHException, EOFError, OSError) as exc:
                self.close()
                raise BackendError(f"SFTP to {self._address} failed: {exc}.") from None
        return self._sftp

    def close(self):
        if self._sftp is not None:
            self._sftp.close()
            self._sftp = None
        if self._held is not None:
            self._held.close()
            self._held = None

    def _sh(self, script, args, *, timeout=None):
        try:
            return self._session().run(
                shlex.join(["/bin/sh", "-c", script, "sh", *args]), timeout=timeout or self.command_timeout
            )
        except BackendError:
            self.close()  # the next call reconnects
            raise

    def _put_snapshot(self, sha256, archive):
        remote = f"{self.area}/snapshots/{sha256}.tar.gz.{secrets.token_hex(4)}"
        try:
            self._sftp_client().put(str(archive), remote)
        except (OSError, paramiko.SSHException) as exc:
            self.close()
            raise BackendError(f"Uploading the snapshot to {self._address} failed: {exc}.") from None
        return remote, True

    def _read(self, path, offset, limit):
        sftp = self._sftp_client()
        try:
            # One round trip when nothing new was written (the common case).
            size = sftp.stat(path).st_size
            if size <= offset:
                return b""
            with sftp.open(path, "rb") as f:
                f.seek(offset)
                return f.read(min(limit, size - offset))
        except FileNotFoundError:
            return b""
        except (OSError, paramiko.SSHException, EOFError) as exc:
            self.close()
            raise BackendError(f"Reading {path} on {self._address} failed: {exc}.") from None

    def _fetch(self, path, dest):
        try:
            self._sftp_client().get(path, str(dest))
        except (OSError, paramiko.SSHException) as exc:
            self.close()
            raise BackendError(f"Downloading {path} from {self._address} failed: {exc}.") from None
