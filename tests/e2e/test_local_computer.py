"""The local computer in the browser: granted or not, and what its page says."""

import pytest
from playwright.sync_api import expect

from compute.models import ComputeTarget

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_not_root_the_local_page_says_runs_have_the_portals_rights(
    page, live_portal, team, sign_in, screenshot, settings
):
    settings.PORTAL_IS_ROOT = False  # as when the portal runs as an ordinary user
    local = ComputeTarget.objects.get(workspace=team.workspace, kind="local")
    sign_in(team.contributor)
    page.goto(f"{live_portal}/compute/local/")
    notice = page.locator(f"#target-{local.pk}-portal-rights")
    expect(notice).to_contain_text("Runs here have the portal's own rights")
    expect(notice).to_contain_text("can read its database and keys")
    screenshot("local-not-root")

    settings.PORTAL_IS_ROOT = True
    page.reload()
    expect(page.locator("h1")).to_contain_text("local")
    expect(notice).to_have_count(0)


def test_without_the_grant_try_the_example_says_what_it_needs(page, live_portal, team, sign_in, screenshot):
    sign_in(team.outsider)  # owner of a workspace without the local computer
    page.goto(f"{live_portal}/compute/")
    expect(page.locator('a[href="/compute/local/"]')).to_have_count(0)
    page.goto(f"{live_portal}/experiments/")
    page.locator("#try-example").click()
    expect(page.locator("body")).to_contain_text("which this workspace has not been granted")
    screenshot("example-without-local")
