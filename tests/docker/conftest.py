import shutil
import tempfile
import time
from pathlib import Path

import pytest

from tests import podman


@pytest.fixture(scope="session")
def podman_engine():
    """podman's Docker-compatible API on a socket of its own, with the test images."""
    started = time.monotonic()
    podman.ensure_config()
    podman.ensure_busybox()
    podman.ensure_python()
    folder = Path(tempfile.mkdtemp(prefix="portal-podman-"))
    folder.chmod(0o755)
    service = podman.PodmanService(folder)
    service.ready_in = time.monotonic() - started
    print(f"\npodman engine ready in {service.ready_in:.1f} s")
    yield service
    podman.remove_portal_containers()
    service.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def engine_target(team, podman_engine):
    """Makes attached engine targets in the team's workspace."""
    from compute.models import ComputeTarget, Origin, TargetState

    def _make(name="engine1", *, endpoint=None, state=TargetState.ATTACHING, **config):
        return ComputeTarget.objects.create(
            workspace=team.workspace,
            name=name,
            kind="docker",
            origin=Origin.ATTACHED,
            state=state,
            config={"endpoint": endpoint or podman_engine.url, **config},
        )

    return _make


@pytest.fixture(scope="session")
def tls_engine(podman_engine):
    """podman's API behind TLS with client certificates, like dockerd --tlsverify."""
    from tests.secret_scan import plant

    from .tls import TLSEngineProxy, make_pki

    pki = make_pki()
    plant(pki["client_key"])
    plant(pki["stranger_key"])
    proxy = TLSEngineProxy(podman_engine.socket, pki)
    proxy.pki = pki
    yield proxy
    proxy.close()


# The browser fixtures of tests/e2e, for this folder's browser tests.
from tests.e2e.conftest import live_portal, screenshot, sign_in  # noqa: E402, F401
