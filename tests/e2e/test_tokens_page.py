"""In a real browser: make an API token, copy it once, use it, revoke it."""

import json
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from portal.models import ApiToken

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]


def api_status(url: str, token: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our live portal
            json.load(response)
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_make_copy_use_and_revoke_a_token(page, live_portal, team, sign_in, screenshot):
    page.on("dialog", lambda dialog: dialog.accept())  # the revoke confirmation
    sign_in(team.contributor)
    page.locator("header .dropdown-toggle", has_text=team.contributor.username).click()
    page.locator("#user-menu-tokens").click()
    page.wait_for_url(f"{live_portal}/profile/tokens/")
    expect(page.locator(".empty-state")).to_contain_text("No tokens yet")

    page.fill("#id_name", "nightly-training")
    page.check("#id_read_only")
    page.select_option("#id_days", "30")
    page.get_by_role("button", name="Make token").click()
    expect(page.locator("#token-issued")).to_contain_text("it will not be shown again")
    plaintext = page.input_value("#token-plaintext")
    token = ApiToken.objects.get(user=team.contributor)
    assert plaintext.startswith(f"pat_{token.prefix}_") and token.read_only
    page.click("#token-copy")
    expect(page.locator("#token-copy")).to_contain_text("Copied")
    row = page.locator(f"#token-{token.pk}-row")
    expect(row).to_contain_text("nightly-training")
    expect(row).to_contain_text("Read-only")
    expect(row).to_contain_text("Active")
    screenshot("api-token-made")

    url = f"{live_portal}/api/v1/workspaces/{team.workspace.slug}/computes/"
    assert api_status(url, plaintext) == 200

    page.reload()  # shown once: never again, and a reload makes no second token
    expect(page.locator("#token-issued")).to_have_count(0)
    assert ApiToken.objects.filter(user=team.contributor).count() == 1
    assert plaintext not in page.content()
    expect(row).to_contain_text("just now")  # its last use

    page.click(f"#token-{token.pk}-revoke")
    expect(row).to_contain_text("Revoked")
    expect(row.get_by_role("button", name="Revoke")).to_have_count(0)
    assert api_status(url, plaintext) == 401
    screenshot("api-token-revoked")
