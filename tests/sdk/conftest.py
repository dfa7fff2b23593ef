import pytest

# Fixtures of other folders the live SDK tests use: the local target, the
# podman engine, the stand-in conda folder.
from tests.docker.conftest import podman_engine  # noqa: F401
from tests.runs.conftest import local_target  # noqa: F401
from tests.runs.test_conda import bin_dir  # noqa: F401


@pytest.fixture
def live_workspace(worker, team):
    """(live portal, workspace factory): ``connect(user)`` -> a portal_sdk Workspace
    reached over HTTP with a fresh token of ``user`` (default: the contributor)."""
    from portal import tokens
    from portal_sdk import Workspace
    from tests.servers import LivePortal

    portal = LivePortal()

    def connect(user=None) -> Workspace:
        issued = tokens.token_create(user=user or team.contributor, workspace=team.workspace, name="sdk test")
        ws = Workspace.get(team.workspace.slug, url=portal.url, token=issued.plaintext)
        ws.token = issued.plaintext  # for the CLI's config file in tests only
        return ws

    yield portal, connect
    portal.stop()
