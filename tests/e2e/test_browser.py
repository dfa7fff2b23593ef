import re

import pytest
from playwright.sync_api import expect

from compute import hostkeys
from compute.models import ComputeTarget, TargetState
from tests.conftest import SSH_PASSWORD, SSH_USER, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]


def test_login_and_dashboard(page, live_portal, team, sign_in, screenshot):
    page.goto(f"{live_portal}/compute/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/compute/"))
    screenshot("login")
    sign_in(team.owner)
    expect(page.locator("h1")).to_have_text("Dashboard")
    expect(page.locator("#workspace-switcher")).to_contain_text("Vision team")
    screenshot("dashboard")


def test_reader_sees_no_change_buttons(page, live_portal, team, sign_in, screenshot):
    sign_in(team.reader)
    page.goto(f"{live_portal}/compute/")
    expect(page.locator("#target-table")).to_contain_text("local")
    expect(page.get_by_role("link", name="Add compute")).to_be_hidden()
    page.goto(f"{live_portal}/compute/local/")
    expect(page.locator("#target-recheck")).to_be_hidden()


def test_attach_a_vm_through_the_browser(page, live_portal, team, sign_in, screenshot, ssh_env):
    local = ComputeTarget.objects.get(workspace=team.workspace, kind="local")
    services_check(local)
    sign_in(team.contributor)
    page.goto(f"{live_portal}/compute/")
    page.get_by_role("link", name="Add compute").first.click()
    expect(page.locator("#kind-form")).to_contain_text("Pick the kind of compute")
    page.locator("label[for=kind-ssh]").click()
    expect(page.locator("#id_address")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/compute/add/\?kind=ssh"))

    # A bad port first: a clear message, nothing created.
    page.fill("#id_name", "loopback-vm")
    page.fill("#id_address", "127.0.0.1")
    page.fill("#id_port", "99999")
    page.fill("#id_username", SSH_USER)
    page.fill("#id_password", SSH_PASSWORD)
    page.get_by_role("button", name="Attach").click()
    expect(page.locator("#kind-form")).to_contain_text("less than or equal to 65535")
    assert not ComputeTarget.objects.filter(name="loopback-vm").exists()
    screenshot("add-form-error")

    page.fill("#id_port", str(ssh_env.port))
    page.fill("#id_password", SSH_PASSWORD)  # never rendered back
    screenshot("add-form")
    page.get_by_role("button", name="Attach").click()
    page.wait_for_url(f"{live_portal}/compute/loopback-vm/")

    fingerprint = hostkeys.fingerprint(ssh_env.host_key)
    box = page.locator("[id$=-hostkey]")
    expect(box).to_contain_text("Confirm the host key", timeout=20_000)
    expect(box).to_contain_text(fingerprint)
    screenshot("status-confirm-key")

    page.evaluate("window.__noReload = true")
    box.get_by_role("button", name="Confirm and connect").click()
    expect(page.locator("[id$=-status]")).to_contain_text("Succeeded", timeout=30_000)
    assert page.evaluate("window.__noReload") is True  # arrived live, no reload
    expect(page.locator("[id$=-capabilities]")).to_contain_text("Python")
    expect(page.locator("[id$=-history]")).to_contain_text("confirmed and pinned")
    screenshot("status-succeeded")

    page.goto(f"{live_portal}/compute/")
    row = page.locator("tr", has_text="loopback-vm")
    expect(row).to_contain_text("Succeeded")
    expect(row).to_contain_text("Virtual machine")
    screenshot("compute-list")
    assert ComputeTarget.objects.get(name="loopback-vm").state == TargetState.SUCCEEDED

    page.goto(f"{live_portal}/compute/local/")
    expect(page.locator("[id$=-capabilities]")).to_contain_text("Python")
    expect(page.locator("[id$=-properties]")).to_contain_text("Working directory")
    expect(page.get_by_role("link", name="Detach")).to_have_count(0)
    screenshot("local-status")


def services_check(target):
    """The local target's first check, so the list shows it ready."""
    from compute.services import target_check

    target_check(target_id=target.pk)
    wait_for(lambda: ComputeTarget.objects.get(pk=target.pk).state == TargetState.SUCCEEDED)
