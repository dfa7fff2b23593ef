"""In a real browser: after too many wrong passwords the login page says why it refuses."""

import pytest
from playwright.sync_api import expect

from tests.factories import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]


def test_a_locked_out_login_says_so_on_the_page(page, live_portal, team, screenshot, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        page.goto(f"{live_portal}/login/")
        page.fill("#id_username", team.reader.username)
        page.fill("#id_password", "wrong-password")
        page.click("button[type=submit]")
    page.goto(f"{live_portal}/login/")
    page.fill("#id_username", team.reader.username)
    page.fill("#id_password", PASSWORD)  # right, but too late
    page.click("button[type=submit]")
    expect(page.locator("body")).to_contain_text("Too many")
    assert "/login/" in page.url
    screenshot("login-locked-out")
