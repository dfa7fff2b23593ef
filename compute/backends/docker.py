"""The engine client: one ``docker`` SDK client per engine endpoint.

An engine is reached over this machine's socket (``unix://``), over TCP with
TLS client certificates (``tcp://``), or through an attached SSH VM
(``ssh://``, see ``docker_bridge``). Environment images are built in
``docker_images``; nothing else uses the SDK. Every SDK error leaves through
``Engine._errors`` as a BackendError in plain words.
"""

import io
import shutil
import tarfile
import tempfile
from contextlib import contextmanager, suppress
from pathlib import Path

import docker
import docker.errors
import requests
import urllib3
from django.conf import settings

from . import docker_images
from .base import BackendError, HostKeyChanged, HostKeyUnconfirmed
from .docker_bridge import bridged_client

# Re-exported: callers know them as ``docker.ENV_PREFIX`` / ``docker.env_image_tag``.
from .docker_images import ENV_PREFIX as ENV_PREFIX
from .docker_images import env_image_tag as env_image_tag

_WITH_TIMEOUT = 'if command -v timeout >/dev/null 2>&1; then exec timeout -k 2 "$0" "$@"; else exec "$@"; fi'
TIMED_OUT = 124
API_VERSION = "1.41"  # what podman's compatible service and Docker 20.10+ speak
LABEL = "io.portal.target"
RUN_LABEL = "io.portal.run"


def describe_endpoint(config: dict) -> str:
    if config.get("ssh_target"):
        return f"ssh://{config['ssh_target']}{config.get('remote_socket') or '/var/run/docker.sock'}"
    return config.get("endpoint", "")


class Engine:
    """An open client to one engine: from ``connect()`` (closed for you) or ``open_engine()``."""

    def __init__(self, target, client, cleanup):
        self.target = target
        self.client = client
        self._cleanup = cleanup
        self.where = describe_endpoint(target.config)

    # ---- reading the engine ---------------------------------------------------
    def info(self) -> dict:
        with self._errors("Reading the engine's information"):
            info = self.client.info()
            version = self.client.version()
            images = self.client.images.list()
        tags = sorted({tag for image in images for tag in image.tags})
        runtimes = sorted((info.get("Runtimes") or {}).keys())
        return {
            "engine": version.get("Components", [{}])[0].get("Name") or "Engine",
            "engine_version": version.get("Version", ""),
            "api_version": version.get("ApiVersion", ""),
            "os": info.get("OperatingSystem") or info.get("OSType", ""),
            "arch": info.get("Architecture", ""),
            "kernel": info.get("KernelVersion", ""),
            "cpus": info.get("NCPU"),
            "memory_mb": (info.get("MemTotal") or 0) // (1024 * 1024),
            "images": tags,
            "runtimes": runtimes,
            "gpu_runtime": "nvidia" in runtimes,
            "endpoint": self.where,
        }

    def has_image(self, image: str) -> bool:
        """Whether ``image`` is on the engine now (asked live, not the last check's list)."""
        with self._errors(f"Looking for the image {image}"):
            try:
                self.client.images.get(image)
            except docker.errors.ImageNotFound:
                return False
        return True

    def require_image(self, image: str) -> None:
        with self._errors(f"Looking for the image {image}"):
            try:
                self.client.images.get(image)
            except docker.errors.ImageNotFound:
                raise BackendError(
                    f"The image {image} is not on the engine at {self.where}. Images are never pulled "
                    f"implicitly: build or load it there first (docker pull / docker load).",
                    permanent=True,
                ) from None

    def build_env_image(self, *, base: str, requirements: str, tag: str, on_line, index=None) -> str:
        """See ``docker_images.build_env_image``: "hit" or "built"."""
        return docker_images.build_env_image(
            self, base=base, requirements=requirements, tag=tag, on_line=on_line, index=index
        )

    # ---- containers -----------------------------------------------------------
    def create(
        self,
        *,
        owner: int,
        name: str,
        image: str,
        command: list[str],
        cpus: float,
        memory_gb: float,
        gpus: int,
        labels: dict | None = None,
        hostname: str = "",
        network: str = "",
        mounts: dict[str, str] | None = None,
        environment: dict[str, str] | None = None,
    ):
        """A container with exactly these limits (created, not started), labelled
        with the pk of the target it belongs to (``owner``). On a ``network`` it is
        reachable by its ``hostname``; ``mounts`` are named volumes: {volume: path}."""
        kwargs = {
            "name": name,
            "command": command,
            "labels": {LABEL: str(owner), **(labels or {})},
            "detach": True,
            "stop_signal": "SIGTERM",
        }
        if hostname:
            kwargs["hostname"] = hostname
        if network:
            aliases = [hostname] if hostname else None
            kwargs["network"] = network
            kwargs["networking_config"] = {network: self.client.api.create_endpoint_config(aliases=aliases)}
        if mounts:
            kwargs["volumes"] = {volume: {"bind": path, "mode": "rw"} for volume, path in mounts.items()}
        if environment:
            kwargs["environment"] = environment
        if cpus:
            kwargs["nano_cpus"] = int(cpus * 1e9)
        if memory_gb:
            memory = int(memory_gb * 1024**3)
            # no swap: a run over its memory is killed, visibly
            kwargs.update(mem_limit=memory, memswap_limit=memory)
        if gpus:
            kwargs["device_requests"] = [docker.types.DeviceRequest(count=gpus, capabilities=[["gpu"]])]
        self.require_image(image)
        with self._errors(f"Creating the container {name}"):
            return self.client.containers.create(image, **kwargs)

    def container(self, name_or_id: str, *, missing_ok: bool = False):
        with self._errors(f"Looking for the container {name_or_id}"):
            try:
                return self.client.containers.get(name_or_id)
            except docker.errors.NotFound:
                if missing_ok:
                    return None
                raise BackendError(
                    f"The container {name_or_id} is gone from the engine at {self.where}.", permanent=True
                ) from None

    def run_containers(self) -> list:
        """Every per-run container the portal made on this engine."""
        with self._errors("Listing the run containers"):
            return self.client.containers.list(all=True, filters={"label": RUN_LABEL})

    def labelled(self, target_id: int) -> list:
        """Containers the portal made for one target."""
        with self._errors("Listing the target's containers"):
            return self.client.containers.list(all=True, filters={"label": f"{LABEL}={target_id}"})

    def with_label(self, label: str) -> list:
        """Containers carrying ``label`` ("key=value"), running or not."""
        with self._errors("Listing containers"):
            return self.client.containers.list(all=True, filters={"label": label})

    def start(self, container) -> None:
        with self._errors(f"Starting the container {container.name}"):
            container.start()
            container.reload()
        if container.status != "running":
            raise BackendError(f"The container {container.name} stopped right after starting.")

    def stop(self, container, timeout: int = 10) -> None:
        with self._errors(f"Stopping the container {container.name}"):
            container.stop(timeout=timeout)

    def remove(self, container) -> None:
        with self._errors(f"Removing the container {container.name}"), suppress(docker.errors.NotFound):
            container.remove(force=True)

    def restart(self, container, timeout: int = 10) -> None:
        with self._errors(f"Restarting the container {container.name}"):
            container.restart(timeout=timeout)
            container.reload()
        if container.status != "running":
            raise BackendError(f"The container {container.name} stopped right after restarting.")

    # ---- networks and volumes (created clusters) --------------------------------------
    def create_network(self, name: str, *, labels: dict):
        """A private bridge network: containers on it reach each other by hostname."""
        with self._errors(f"Creating the network {name}"):
            return self.client.networks.create(name, driver="bridge", labels=labels)

    def networks_with(self, label: str) -> list:
        with self._errors("Listing networks"):
            return self.client.networks.list(filters={"label": label})

    def remove_network(self, network) -> None:
        with self._errors(f"Removing the network {network.name}"), suppress(docker.errors.NotFound):
            network.remove()

    def create_volume(self, name: str, *, labels: dict):
        with self._errors(f"Creating the volume {name}"):
            return self.client.volumes.create(name, labels=labels)

    def volumes_with(self, label: str) -> list:
        with self._errors("Listing volumes"):
            return self.client.volumes.list(filters={"label": label})

    def remove_volume(self, volume) -> None:
        with self._errors(f"Removing the volume {volume.name}"), suppress(docker.errors.NotFound):
            volume.remove(force=True)

    def put_bytes(self, container, folder: str, name: str, data: bytes, mode: int = 0o644) -> None:
        """Write one small file into a folder of the container (running or only created)."""
        member = tarfile.TarInfo(name)
        member.size, member.mode = len(data), mode
        with tempfile.TemporaryFile() as spool:
            with tarfile.open(fileobj=spool, mode="w") as tar:
                tar.addfile(member, io.BytesIO(data))
            spool.seek(0)
            self._put_archive(container, folder, spool, name)

    def exec(self, container, argv: list[str], *, timeout: float | None = None, binary: bool = False):
        """Run argv in a running container; (exit code, stdout, stderr), as text
        unless ``binary``. ``timeout`` bounds the wait for its output."""
        limit = timeout or self.client.api.timeout
        # The engine's exec stream has no deadline of its own: ``timeout``
        # inside the container bounds it (and kills what overran).
        argv = ["/bin/sh", "-c", _WITH_TIMEOUT, str(max(int(limit), 1)), *argv]
        with self._errors(f"Running a command in {container.name}"):
            result = container.exec_run(argv, demux=True)
        if result.exit_code == TIMED_OUT:
            raise BackendError(f"A command in {container.name} took longer than {limit:.0f} s.")
        out, err = result.output or (b"", b"")
        out, err = out or b"", err or b""
        if binary:
            return result.exit_code, out, err
        return result.exit_code, out.decode(errors="replace"), err.decode(errors="replace")

    def put_path(self, container, folder: str, name: str, path: Path) -> None:
        """Copy a local file into a folder of the container, streamed from disk."""
        with tempfile.TemporaryFile() as spool:
            with tarfile.open(fileobj=spool, mode="w") as tar:
                tar.add(str(path), arcname=name, recursive=False)
            spool.seek(0)
            self._put_archive(container, folder, spool, name)

    def _put_archive(self, container, folder, data, name):
        with self._errors(f"Copying {name} into {container.name}"):
            if not container.put_archive(folder, data):
                raise BackendError(f"The engine refused to copy {name} into {container.name}.")

    def copy_out(self, container, path: str, sink) -> None:
        """Stream one regular file of the container into ``sink``."""
        with tempfile.TemporaryFile() as spool:
            with self._errors(f"Copying {path} out of {container.name}"):
                try:
                    stream, _ = container.get_archive(path)
                except docker.errors.NotFound:
                    raise BackendError(f"{path} does not exist in {container.name}.") from None
                for chunk in stream:
                    spool.write(chunk)
            spool.seek(0)
            with tarfile.open(fileobj=spool) as tar:
                member = next((m for m in tar if m.isfile()), None)
                if member is None:
                    raise BackendError(f"{path} in {container.name} is not a regular file.")
                shutil.copyfileobj(tar.extractfile(member), sink)

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            self._cleanup()

    @contextmanager
    def _errors(self, what: str):
        try:
            yield
        except BackendError:
            raise
        except docker.errors.APIError as exc:
            detail = exc.explanation or str(exc)
            raise BackendError(f"{what} failed on the engine at {self.where}: {detail}") from None
        except (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError, TimeoutError):
            timeout = self.client.api.timeout
            raise BackendError(
                f"{what}: the engine at {self.where} did not answer within {timeout:.0f} s."
            ) from None
        except (requests.exceptions.ConnectionError, urllib3.exceptions.HTTPError, OSError) as exc:
            raise BackendError(
                f"{what}: the engine at {self.where} cannot be reached ({_reason(exc)})."
            ) from None
        except docker.errors.DockerException as exc:
            raise BackendError(f"{what} failed on the engine at {self.where}: {exc}") from None


@contextmanager
def connect(engine_target, progress=lambda step: None):
    """An open Engine for a ``docker`` engine target, closed afterwards."""
    engine = _open(engine_target, progress)
    try:
        yield engine
    finally:
        engine.close()


def open_engine(engine_target, progress=lambda step: None) -> Engine:
    """An open Engine the caller closes (held across a run's many commands)."""
    return _open(engine_target, progress)


def _open(target, progress) -> Engine:
    config = target.config
    timeout = settings.DOCKER_TIMEOUT
    if config.get("ssh_target"):
        return _open_over_ssh(target, progress, timeout)
    endpoint = config["endpoint"]
    progress(f"Connecting to the engine at {endpoint}")
    folder = None
    tls = False
    if endpoint.startswith("tcp://"):
        folder, tls = _tls_files(target)
    try:
        client = docker.DockerClient(base_url=endpoint, version=API_VERSION, timeout=timeout, tls=tls)
        # Otherwise REQUESTS_CA_BUNDLE in the environment replaces the engine's own CA.
        client.api.trust_env = False
        engine = Engine(target, client, lambda: folder and shutil.rmtree(folder, ignore_errors=True))
        with engine._errors("Connecting"):
            client.ping()
    except BaseException:
        if folder:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return engine


def _tls_files(target):
    """TLS client material as 0600 files in a private folder, removed on close."""
    pems = {field: target.secret(field) for field in ("tls_ca", "tls_cert", "tls_key")}
    if not all(pems.values()):
        raise BackendError(
            "A tcp:// engine needs its CA certificate, a client certificate and the client key.",
            permanent=True,
        )
    folder = Path(tempfile.mkdtemp(prefix="portal-tls-"))
    paths = {}
    for field, pem in pems.items():
        path = folder / f"{field}.pem"
        path.touch(mode=0o600)
        path.write_text(pem.strip() + "\n")
        paths[field] = str(path)
    try:
        tls = docker.tls.TLSConfig(
            client_cert=(paths["tls_cert"], paths["tls_key"]), ca_cert=paths["tls_ca"], verify=True
        )
    except docker.errors.TLSParameterError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise BackendError(f"The TLS settings are not usable: {exc}", permanent=True) from None
    return folder, tls


def _open_over_ssh(target, progress, timeout) -> Engine:
    from compute.models import ComputeTarget

    vm = ComputeTarget.objects.filter(
        workspace_id=target.workspace_id, name=target.config["ssh_target"], kind="ssh"
    ).first()
    if vm is None:
        raise BackendError(
            f"The SSH VM {target.config['ssh_target']} this engine is reached through is gone.",
            permanent=True,
        )
    try:
        transport = vm.backend._connect(progress)
    except (HostKeyChanged, HostKeyUnconfirmed) as exc:
        # The key belongs to the VM: confirming or re-pinning happens on its page.
        raise BackendError(
            f"Reaching the engine through {vm.name} is blocked: {exc.message} See {vm.name}'s page.",
            permanent=True,
        ) from None
    remote_socket = target.config.get("remote_socket") or "/var/run/docker.sock"
    progress(f"Opening the engine's socket {remote_socket} on {vm.name}")
    client = bridged_client(transport, remote_socket=remote_socket, timeout=timeout, version=API_VERSION)
    engine = Engine(target, client, transport.close)
    try:
        with engine._errors("Connecting"):
            client.ping()
    except BaseException:
        engine.close()
        raise
    return engine


def _reason(exc) -> str:
    text = str(exc)
    for needle, words in (
        ("No such file", "no socket at that path"),
        ("Connection refused", "connection refused"),
        ("Permission denied", "permission denied on the socket"),
        ("CERTIFICATE_VERIFY_FAILED", "its TLS certificate is not signed by the given CA"),
        ("certificate", "the TLS handshake failed"),
        ("timed out", "timed out"),
        ("Name or service not known", "the address does not resolve"),
    ):
        if needle in text:
            return words
    return text.splitlines()[0][:160] if text else type(exc).__name__
