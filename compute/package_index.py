"""Package index settings: where environment builds get their packages.

A workspace sets an index URL, extra index URLs and a trusted CA bundle (for
TLS-inspecting proxies); a target may override each of them. They are stored
as ``{"index_url": str, "extra_index_urls": [str], "ca_bundle": Fernet token}``
on ``Workspace.package_index`` and ``ComputeTarget.package_index``; the bundle
is never shown back, only whether it is set.

Every build gets them as environment variables (never spliced into a
command): venvs through the run folder's ``build.env`` (see runner.JOB),
images through the build context (see docker_images).
"""

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from cryptography import x509
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from portal import crypto

# The bundle reaches runner targets (SSH, local, created VMs, container
# instances) as one argument of the launch command, and Linux takes at most
# 128 KB per argument (MAX_ARG_STRLEN): a whole system bundle (~220 KB) failed
# there with "argument list too long".
MAX_CA_BUNDLE = 96 * 1024
MAX_EXTRA_URLS = 10
_url_validator = URLValidator(schemes=["http", "https"])


@dataclass(frozen=True)
class PackageIndex:
    index_url: str = ""
    extra_index_urls: tuple[str, ...] = ()
    ca_bundle: str = field(default="", repr=False)

    def build_env(self) -> dict[str, str]:
        """Variables for pip (and uv) during the build; the CA bundle goes as a file."""
        env = {}
        if self.index_url:
            env["PIP_INDEX_URL"] = env["UV_INDEX_URL"] = self.index_url
        if self.extra_index_urls:
            env["PIP_EXTRA_INDEX_URL"] = env["UV_EXTRA_INDEX_URL"] = " ".join(self.extra_index_urls)
        return env

    @property
    def note(self) -> str:
        """What the build used, for the system log: hosts only (a URL may hold a password)."""
        parts = []
        if self.index_url:
            parts.append(f"index {_shown(self.index_url)}")
        if self.extra_index_urls:
            parts.append("extra " + ", ".join(_shown(u) for u in self.extra_index_urls))
        if self.ca_bundle:
            parts.append("custom CA bundle")
        return f" ({', '.join(parts)})" if parts else ""


def _shown(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def clean_index_url(value: str) -> str:
    value = (value or "").strip()
    if not value:
        return ""
    if any(c.isspace() for c in value) or len(value) > 2000:
        raise ValidationError(f"Not an index URL: {value[:200]!r} (no spaces; at most 2000 characters).")
    try:
        _url_validator(value)
    except ValidationError:
        raise ValidationError(
            f"Not an index URL: {value[:200]!r}. Use http:// or https://, e.g. https://pypi.example.com/simple."
        ) from None
    return value


def clean_extra_index_urls(value) -> list[str]:
    """One URL per line (or a list)."""
    items = value.split() if isinstance(value, str) else list(value or [])
    urls = [clean_index_url(item) for item in items if item.strip()]
    if len(urls) > MAX_EXTRA_URLS:
        raise ValidationError(f"At most {MAX_EXTRA_URLS} extra index URLs.")
    return urls


@sensitive_variables("pem")
def clean_ca_bundle(pem: str) -> str:
    """PEM certificates only; anything else is refused with a message."""
    pem = (pem or "").strip()
    if len(pem) > MAX_CA_BUNDLE:
        raise ValidationError(
            f"The CA bundle is over {MAX_CA_BUNDLE // 1024} KB: paste only the CA certificates your "
            "proxy or index needs (e.g. from /usr/local/share/ca-certificates), not a whole system bundle."
        )
    if "PRIVATE KEY" in pem:
        raise ValidationError("That holds a private key: paste only the CA certificates.")
    try:
        certificates = x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        certificates = []
    if not certificates:
        raise ValidationError(
            "Not a CA bundle: paste one or more PEM certificates (-----BEGIN CERTIFICATE-----)."
        )
    return pem + "\n"


def stored(owner) -> dict:
    return owner.package_index or {}


def has_ca_bundle(owner) -> bool:
    return bool(stored(owner).get("ca_bundle"))


def for_target(target) -> PackageIndex:
    """The workspace's settings with the target's overrides, field by field."""
    workspace, own = stored(target.workspace), stored(target)
    index_url = own.get("index_url") or workspace.get("index_url", "")
    extra = own.get("extra_index_urls") or workspace.get("extra_index_urls") or []
    token = own.get("ca_bundle") or workspace.get("ca_bundle") or ""
    return PackageIndex(
        index_url=index_url,
        extra_index_urls=tuple(extra),
        ca_bundle=crypto.decrypt(token) if token else "",
    )


@sensitive_variables("ca_bundle")
def package_index_set(
    *, owner, index_url: str = "", extra_index_urls=(), ca_bundle: str | None = None, clear_ca: bool = False
) -> None:
    """Replace ``owner``'s (a workspace's or a target's) settings. ``ca_bundle``
    None keeps the stored bundle; ``clear_ca`` removes it."""
    settings = {
        "index_url": clean_index_url(index_url),
        "extra_index_urls": clean_extra_index_urls(extra_index_urls),
    }
    token = stored(owner).get("ca_bundle", "")
    if clear_ca:
        token = ""
    elif ca_bundle:
        token = crypto.encrypt(clean_ca_bundle(ca_bundle))
    if token:
        settings["ca_bundle"] = token
    with transaction.atomic():
        type(owner).objects.filter(pk=owner.pk).update(package_index={k: v for k, v in settings.items() if v})
    owner.refresh_from_db(fields=["package_index"])


def rotate(owner) -> bool:
    token = stored(owner).get("ca_bundle")
    if not token:
        return False
    owner.package_index = {**owner.package_index, "ca_bundle": crypto.rotate(token)}
    owner.save(update_fields=["package_index"])
    return True
