"""Environment images: a base image plus a venv with the run's pip
requirements, tagged by the spec hash and reused while the tag exists."""

import hashlib
import io
import tarfile

import docker.errors
from django.conf import settings

from .base import BackendError

ENV_PREFIX = "/opt/portal-env"
_DOCKERFILE = f"""FROM {{base}}
COPY requirements.txt /tmp/portal-requirements.txt
RUN python3 -m venv {ENV_PREFIX} \\
 && {ENV_PREFIX}/bin/python -m pip install --disable-pip-version-check -r /tmp/portal-requirements.txt
ENV PATH={ENV_PREFIX}/bin:$PATH
"""


def env_image_tag(base: str, spec_hash: str) -> str:
    """One image per base image and environment spec."""
    digest = hashlib.sha256(f"{base}\n{spec_hash}".encode()).hexdigest()[:20]
    return f"localhost/portal-env:{digest}"


def build_env_image(engine, *, base: str, requirements: str, tag: str, on_line) -> str:
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
    context = _build_context(base, requirements)
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


def _build_context(base: str, requirements: str):
    """A tar build context: the Dockerfile and the requirements, nothing else."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, text in (("Dockerfile", _DOCKERFILE.format(base=base)), ("requirements.txt", requirements)):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer
