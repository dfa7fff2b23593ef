"""A real OCI engine with the Docker API for tests: podman's API service.

Self-contained: writes containers.conf, starts ``podman system service`` on a
socket in a temp folder, and makes the images locally (no registry is
reachable, nothing is pulled): a busybox image in a second, and a Debian
Python image by debootstrap (from the mirror in this machine's apt sources),
whose root filesystem tarball is cached in CACHE between test runs and
imported only when podman lacks the image.
"""

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

APT_SOURCES = Path("/etc/apt")
CACHE = Path(os.environ.get("PORTAL_TEST_IMAGE_CACHE", "/var/cache/portal-test-images"))
PYTHON_IMAGE = "localhost/portal-test-python:3.11"
BUSYBOX_IMAGE = "localhost/portal-test-busybox:latest"
MISSING_IMAGE = "localhost/portal-test-missing:never-built"
LABEL = "io.portal.target"

CONTAINERS_CONF = """[containers]
default_ulimits = []
netns = "host"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
"""


def ensure_config() -> None:
    """Without empty default ulimits runc fails on setrlimit; without runc +
    cgroupfs the hybrid cgroup layout here is refused."""
    conf = Path("/etc/containers/containers.conf")
    if not conf.exists() or conf.read_text() != CONTAINERS_CONF:
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(CONTAINERS_CONF)


def podman(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], capture_output=True, text=True, **kwargs)


def image_exists(name: str) -> bool:
    return podman("image", "exists", name).returncode == 0


def ensure_busybox() -> None:
    if image_exists(BUSYBOX_IMAGE):
        return
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "bin").mkdir()
        shutil.copy("/bin/busybox", root / "bin" / "busybox")
        for name in ("sh", "ls", "cat", "echo", "sleep", "true", "mkdir", "tar", "gzip", "head", "rm", "env"):
            (root / "bin" / name).symlink_to("busybox")
        (root / "tmp").mkdir()
        _import(root, BUSYBOX_IMAGE)


def ensure_python() -> None:
    if image_exists(PYTHON_IMAGE):
        return
    tarball = CACHE / "python-rootfs.tar"
    if not tarball.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=CACHE) as folder:
            rootfs = Path(folder) / "rootfs"
            subprocess.run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    "--include=python3,python3-venv,procps",
                    "bookworm",
                    str(rootfs),
                    debian_mirror("bookworm"),
                ],
                check=True,
                capture_output=True,
            )
            partial = tarball.with_suffix(".partial")
            subprocess.run(["tar", "-C", str(rootfs), "-cf", str(partial), "."], check=True)
            partial.rename(tarball)
    with tarball.open("rb") as source:
        subprocess.run(["podman", "import", "-", PYTHON_IMAGE], stdin=source, check=True, capture_output=True)


def debian_mirror(suite: str, apt: Path = APT_SOURCES) -> str:
    """The mirror this machine's apt takes ``suite``'s main component from, so
    debootstrap follows the machine's own configuration: one-line entries in
    sources.list and sources.list.d/*.list, and deb822 sources.list.d/*.sources."""
    files = [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*.list"))]
    files += sorted((apt / "sources.list.d").glob("*.sources"))
    for path in files:
        if not path.is_file():
            continue
        parse = _deb822_entries if path.suffix == ".sources" else _one_line_entries
        for uris, suites, components in parse(path.read_text()):
            if suite in suites and "main" in components and uris:
                return uris[0]
    raise RuntimeError(
        f"No apt source for Debian {suite} main in {apt}/sources.list or {apt}/sources.list.d/: "
        "debootstrap needs a mirror to build the test Python image."
    )


def _one_line_entries(text: str):
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if words[:1] != ["deb"]:
            continue
        words = words[1:]
        if words and words[0].startswith("["):  # options: [arch=amd64 signed-by=...]
            while words and not words[0].endswith("]"):
                words.pop(0)
            words = words[1:]
        if len(words) >= 2:
            yield [words[0]], [words[1]], words[2:]


def _deb822_entries(text: str):
    for stanza in re.split(r"\n\s*\n", text):
        fields, key = {}, None
        for line in stanza.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if line[0].isspace() and key:  # a continuation line
                fields[key] += " " + line.strip()
            elif ":" in line:
                key, value = line.split(":", 1)
                key = key.strip().lower()
                fields[key] = value.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").lower() == "no":
            continue
        yield (
            fields.get("uris", "").split(),
            fields.get("suites", "").split(),
            fields.get("components", "").split(),
        )


def _import(root: Path, name: str) -> None:
    tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
    subprocess.run(["podman", "import", "-", name], stdin=tar.stdout, check=True, capture_output=True)
    tar.wait()


class PodmanService:
    """``podman system service`` on a unix socket in its own folder."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.socket = folder / "podman.sock"
        self.process = subprocess.Popen(
            ["podman", "system", "service", "--time=0", f"unix://{self.socket}"],
            # conmon writes a file named "oom" into its working directory when a
            # container is OOM-killed: not into the checkout.
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=(folder / "service.log").open("w"),
        )
        deadline = time.monotonic() + 20
        while not self.socket.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("podman system service did not start: " + self.log())
            time.sleep(0.05)
        # The SSH test user reaches the engine through this socket.
        self.socket.chmod(0o666)

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def log(self) -> str:
        return (self.folder / "service.log").read_text()[-2000:]

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def remove_portal_containers() -> None:
    """Containers the portal made (labelled), left by a test that failed midway;
    not created clusters' (tests/clusters cleans those: its suite may run beside this one)."""
    clusters = set(podman("ps", "-aq", "--filter", "label=io.portal.cluster").stdout.split())
    ids = [i for i in podman("ps", "-aq", "--filter", f"label={LABEL}").stdout.split() if i not in clusters]
    if ids:
        podman("rm", "-f", *ids)
