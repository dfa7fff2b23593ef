"""The Slurm node image for created clusters: ``localhost/portal-slurm:22.05``.

Debian bookworm's Slurm 22.05 and munge by debootstrap (from the mirror of
this machine's apt sources), plus a start script that every container of a
cluster runs as PID 1:

    portal-slurm-start head          munged, then slurmctld in the foreground
    portal-slurm-start node NAME     munged, then slurmd -N NAME, configless from "head"
    portal-slurm-start login         munged, then sshd in the foreground

``PORTAL_SLURM_SSHD=1`` also starts sshd in a head (the attach tests log in
there as ``portal``, uid 2000). The root filesystem tarball is cached in
tests/podman.py's CACHE and imported only when podman lacks the image.
"""

import hashlib
import subprocess
import tempfile
import time
from pathlib import Path

from . import podman

SLURM_IMAGE = "localhost/portal-slurm:22.05"
CLUSTER_LABEL = "io.portal.cluster"
PACKAGES = (
    "python3,python3-venv,slurm-wlm,munge,openssh-server,procps,iproute2,util-linux"  # what the nodes run
)
LOGIN_USER, LOGIN_UID = "portal", 2000

START = r"""#!/bin/sh
# PID 1 of a created cluster's container: munged, then one Slurm daemon.
set -e
role="$1"
mkdir -p /run/munge /run/slurm /var/log/slurm /var/spool/slurmd /var/spool/slurmctld /shared
chown munge:munge /run/munge
if [ "$role" = head ]; then
  chmod 1777 /shared
  # The first start gets slurm.conf from the portal; a restart keeps the (resized) file.
  [ -s /etc/slurm/slurm.conf ] || printf '%s' "${PORTAL_SLURM_CONF:?no slurm.conf given}" > /etc/slurm/slurm.conf
  # The key lives in the cluster's munge volume, made once by the head.
  [ -s /etc/munge/munge.key ] || mungekey -c -f -k /etc/munge/munge.key
fi
if [ ! -s /etc/munge/munge.key ]; then
  echo "portal-slurm-start: no munge key in /etc/munge (is the cluster's munge volume mounted?)" >&2
  exit 1
fi
chown munge:munge /etc/munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
runuser -u munge -- /usr/sbin/munged
start_sshd() { ssh-keygen -A >/dev/null; mkdir -p /run/sshd; /usr/sbin/sshd "$@"; }
case "$role" in
  head)
    [ "${PORTAL_SLURM_SSHD:-}" = 1 ] && start_sshd
    exec slurmctld -D -i ;;
  node)
    # -b: report this start as the boot time (else a cloud node never leaves powering up).
    exec slurmd -D -b -N "$2" --conf-server head ;;
  login)
    start_sshd -D -e ;;
  *)
    echo "usage: portal-slurm-start head|node NAME|login" >&2; exit 2 ;;
esac
"""

# Slurm's ResumeProgram / SuspendProgram: the portal is the cloud (its
# reconciler starts and removes containers), so these only log.
POWER = r"""#!/bin/sh
echo "$(date -u +%FT%TZ) $(basename "$0") $*" >> /var/log/slurm/power.log
"""

SETUP = r"""
set -e
groupadd -g {uid} {user}
useradd -m -u {uid} -g {uid} -s /bin/bash {user}
# Every cluster makes its own munge key and every container its own ssh host keys.
rm -f /etc/munge/munge.key /etc/ssh/ssh_host_*
rm -rf /var/cache/apt/archives/*.deb /var/lib/apt/lists/*
"""


def ensure_slurm_image() -> float:
    """Make the image present in podman; the seconds it took (0 when it was there)."""
    recipe = hashlib.sha256(f"{PACKAGES}{START}{POWER}{SETUP}".encode()).hexdigest()[:12]
    found = podman.podman("image", "inspect", "--format", '{{index .Labels "io.portal.recipe"}}', SLURM_IMAGE)
    if found.returncode == 0 and found.stdout.strip() == recipe:
        return 0.0
    started = time.monotonic()
    tarball = podman.CACHE / f"slurm-rootfs-{recipe}.tar"  # a changed recipe builds anew
    if not tarball.exists():
        podman.CACHE.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=podman.CACHE) as folder:
            rootfs = Path(folder) / "rootfs"
            subprocess.run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    f"--include={PACKAGES}",
                    "bookworm",
                    str(rootfs),
                    podman.debian_mirror("bookworm"),
                ],
                check=True,
                capture_output=True,
            )
            _customize(rootfs)
            partial = tarball.with_suffix(".partial")
            subprocess.run(["tar", "-C", str(rootfs), "-cf", str(partial), "."], check=True)
            partial.rename(tarball)
    with tarball.open("rb") as source:
        subprocess.run(
            [
                "podman",
                "import",
                "--change",
                "CMD /usr/local/sbin/portal-slurm-start head",
                "--change",
                f"LABEL io.portal.recipe={recipe}",
                "-",
                SLURM_IMAGE,
            ],
            stdin=source,
            check=True,
            capture_output=True,
        )
    return time.monotonic() - started


def _customize(rootfs: Path) -> None:
    sbin = rootfs / "usr/local/sbin"
    for name, text in (
        ("portal-slurm-start", START),
        ("portal-slurm-resume", POWER),
        ("portal-slurm-suspend", POWER),
    ):
        (sbin / name).write_text(text)
        (sbin / name).chmod(0o755)
    subprocess.run(
        ["chroot", str(rootfs), "/bin/sh", "-c", SETUP.format(uid=LOGIN_UID, user=LOGIN_USER)],
        check=True,
        capture_output=True,
    )


def remove_cluster_leftovers() -> None:
    """Containers, volumes and networks that created clusters left (a test that failed midway)."""
    label = f"label={CLUSTER_LABEL}"
    ids = podman.podman("ps", "-aq", "--filter", label).stdout.split()
    if ids:
        podman.podman("rm", "-f", *ids)
    volumes = podman.podman("volume", "ls", "-q", "--filter", label).stdout.split()
    if volumes:
        podman.podman("volume", "rm", "-f", *volumes)
    networks = podman.podman("network", "ls", "-q", "--filter", label).stdout.split()
    if networks:
        podman.podman("network", "rm", "-f", *networks)


def cluster_things(cluster_id: str) -> list[str]:
    """Names of everything labelled as this created cluster's on podman now."""
    label = f"label={CLUSTER_LABEL}={cluster_id}"
    return (
        podman.podman("ps", "-a", "--format", "{{.Names}}", "--filter", label).stdout.split()
        + podman.podman("volume", "ls", "-q", "--filter", label).stdout.split()
        + podman.podman("network", "ls", "--format", "{{.Name}}", "--filter", label).stdout.split()
    )


if __name__ == "__main__":
    print(f"{SLURM_IMAGE} ready in {ensure_slurm_image():.1f} s")
