"""Who local runs execute as.

When the portal runs as root, local runs (and the local target's check) drop
to ``settings.LOCAL_RUN_USER``, an unprivileged account that cannot read the
portal's ``var/`` (0700), with a clean environment. Otherwise they have the
portal's own rights, which the target's page says plainly.
"""

import errno
import os
import pwd
import stat
import threading
from pathlib import Path

from django.conf import settings

from .base import BackendError

# What a run may see of the portal's environment: locale, and how to reach
# package indexes. Never DATABASE_URL, REDIS_URL, keys or PORTAL_* settings.
PASSED_NAMES = {
    "LANG",
    "LANGUAGE",
    "TZ",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
}
PASSED_PREFIXES = ("LC_", "PIP_", "UV_")
SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def runs_with_portal_rights() -> bool:
    return not settings.PORTAL_IS_ROOT


def run_account() -> pwd.struct_passwd | None:
    """The account local runs execute as; None when they keep the portal's own rights."""
    if runs_with_portal_rights():
        return None
    name = settings.LOCAL_RUN_USER
    try:
        account = pwd.getpwnam(name)
    except KeyError:
        raise BackendError(
            f"The portal runs as root, and local runs execute as the unprivileged user “{name}”, "
            "which does not exist: create it with `python manage.py setup_local_runner` "
            "(scripts/serve.sh does), or name another with PORTAL_LOCAL_RUN_USER.",
            permanent=True,
        ) from None
    if account.pw_uid == 0:
        raise BackendError(
            f"PORTAL_LOCAL_RUN_USER names {name}, which is root: name an unprivileged user.", permanent=True
        )
    return account


def process_options(account: pwd.struct_passwd | None) -> dict:
    """subprocess.run() arguments that start a process as the account, with a clean environment."""
    if account is None:
        return {}
    env = {k: v for k, v in os.environ.items() if k in PASSED_NAMES or k.startswith(PASSED_PREFIXES)}
    env.update(
        # The tools the operator set up for the portal (conda, uv) are found as they are for it.
        PATH=os.environ.get("PATH") or SAFE_PATH,
        HOME=account.pw_dir,
        USER=account.pw_name,
        LOGNAME=account.pw_name,
        SHELL="/bin/sh",
    )
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": [], "env": env, "umask": 0o077}


class NotARunFile(BackendError):
    """A file of a run folder that the run's user did not make, or a link."""


def open_run_file(path: str, account: pwd.struct_passwd | None):
    """Open a file of a run folder for the portal to read back. As root, only a
    regular file the run's user owns, never through a link: a run could swap its
    log for a link to the portal's keys, and the portal would read them for it."""
    if account is None:
        return open(path, "rb")  # noqa: SIM115 - the caller closes it
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotARunFile(f"{path} is a link: the portal does not follow links a run made.") from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_uid != account.pw_uid:
        os.close(fd)
        raise NotARunFile(f"{path} is not a file the run made: the portal does not read it.")
    return os.fdopen(fd, "rb")


_making = threading.Lock()


def prepare_workdir(workdir: str, account: pwd.struct_passwd | None) -> None:
    """Create the working directory; as root, hand it to the account, outside var/."""
    path = Path(workdir)
    if account is not None:
        var = Path(settings.VAR_DIR).resolve()
        if path.resolve() == var or var in path.resolve().parents:
            raise BackendError(
                f"The local working directory {workdir} is inside the portal's private folder {var}: "
                "local runs cannot reach it. Set PORTAL_LOCAL_WORKDIR outside it (default /var/lib/portal-runs).",
                permanent=True,
            )
    if account is None:
        path.mkdir(parents=True, exist_ok=True)
        return
    if path.is_dir() and path.stat().st_uid == account.pw_uid:
        return
    with _making:  # threads of this worker preparing runs at once: one makes it, whole
        try:
            path.mkdir(parents=True)
        except FileExistsError:
            pass
        else:
            os.chown(path, account.pw_uid, account.pw_gid)
            path.chmod(0o700)
            return
    # Never hand over a folder someone else made (it could be /tmp or /home).
    if path.stat().st_uid != account.pw_uid:
        raise BackendError(
            f"The local working directory {workdir} is not owned by {account.pw_name}, "
            f"who local runs execute as: `chown {account.pw_name} {workdir}`, or remove it "
            "and the portal makes it.",
            permanent=True,
        )
