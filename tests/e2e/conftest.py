"""The portal served by uvicorn in a thread, on the test database, with the
real worker, for the browser tests (the `page` fixture is in tests/conftest.py)."""

import time
from pathlib import Path

import pytest

from tests.servers import LivePortal

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture
def live_portal(worker):
    portal = LivePortal()
    yield portal.url
    portal.stop()


@pytest.fixture
def screenshot(page):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(name: str):
        time.sleep(0.3)  # let toasts and fades settle
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def sign_in(page, live_portal):
    from tests.factories import PASSWORD

    def _sign_in(user):
        page.goto(f"{live_portal}/login/")
        page.fill("#id_username", user.username)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_portal}/")

    return _sign_in
