"""Environment images: a base image plus a venv with the run's pip
requirements, tagged by the spec hash and reused while the tag exists."""

import hashlib
import io
import tarfile

import docker.errors
from django.conf import settings

from ..package_index import PackageIndex
from .base import BackendError
from .runner import run_env_script

ENV_PREFIX = "/opt/portal-env"
BUILD_DIR = "/opt/portal-build"
# The package index settings (build.env: shell-quoted export lines, see
# runner.run_env_script) and the CA bundle hold for the pip step only, and the
# folder is removed in the same step.
_DOCKERFILE = f"""FROM {{base}}
COPY portal-build/ {BUILD_DIR}/
RUN . {BUILD_DIR}/build.env \\
 && if [ -s {BUILD_DIR}/ca.pem ]; then export PIP_CERT={BUILD_DIR}/ca.pem \\
    REQUESTS_CA_BUNDLE={BUILD_DIR}/ca.pem SSL_CERT_FILE={BUILD_DIR}/ca.pem; fi \\
 && python3 -m venv {ENV_PREFIX} \\
 && {ENV_PREFIX}/bin/python -m pip install --disable-pip-version-check -r {BUILD_DIR}/requirements.txt \\
 && rm -rf {BUILD_DIR}
ENV PATH={ENV_PREFIX}/bin:$PATH
"""


def env_image_tag(base: str, spec_hash: str) -> str:
    """One image per base image and environment spec."""
    digest = hashlib.sha256(f"{base}\n{spec_hash}".encode()).hexdigest()[:20]
    return f"localhost/portal-env:{digest}"


def build_env_image(
    engine, *, base: str, requirements: str, tag: str, on_line, index: PackageIndex | None = None
) -> str:
    """The environment image on ``engine`` (an open ``docker.Engine``): reused
    when ``tag`` exists, else built. Returns "hit" or "built"; each build log
    line goes to ``on_line`` as it comes."""
    with engine._errors(f"Looking for the image {tag}"):
        try:
            engine.client.images.get(tag)
            return "hit"
        except docker.errors.ImageNotFound:
            pass
    engine.require_image(base)
    index = index or PackageIndex()
    on_line(f"Building the image with pip{index.note}.")
    context = build_context(base, requirements, index)
    api, default = engine.client.api, engine.client.api.timeout
    api.timeout = settings.DOCKER_BUILD_TIMEOUT  # pip may be silent for a long time
    try:
        with engine._errors(f"Building the image {tag}"):
            for event in api.build(
                fileobj=context, custom_context=True, tag=tag, rm=True, forcerm=True, decode=True
            ):
                if "error" in event or "errorDetail" in event:
                    detail = event.get("error") or event["errorDetail"].get("message", "")
                    raise BackendError(f"The image build failed: {detail.strip()}", permanent=True)
                text = event.get("stream", "")
                for line in text.splitlines():
                    if line.strip():
                        on_line(line)
    finally:
        api.timeout = default
    return "built"


def build_context(base: str, requirements: str, index: PackageIndex):
    """A tar build context: the Dockerfile, the requirements and the package
    index settings, nothing else."""
    files = {
        "Dockerfile": _DOCKERFILE.format(base=base),
        "portal-build/requirements.txt": requirements,
        "portal-build/build.env": run_env_script(index.build_env()),
    }
    if index.ca_bundle:
        files["portal-build/ca.pem"] = index.ca_bundle
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer
