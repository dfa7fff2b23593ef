"""Create a VM and a container instance through the browser, on the real engine."""

import re

import pytest
from playwright.sync_api import expect

from compute import services
from compute.models import ComputeTarget
from tests import podman

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def checked_engine(engine_target):
    target = engine_target("engine1")
    services.target_check(target_id=target.pk)
    return target


def test_create_stop_start_delete_a_vm_in_the_browser(
    page, live_portal, team, sign_in, screenshot, checked_engine
):
    sign_in(team.contributor)
    page.goto(f"{live_portal}/compute/engine1/")
    expect(page.locator("[id$=-capabilities]")).to_contain_text(podman.PYTHON_IMAGE)
    screenshot("docker-engine-status")

    page.goto(f"{live_portal}/compute/add/")
    expect(page.locator("#add-create")).to_contain_text("Create new")
    expect(page.locator("#add-attach")).to_contain_text("Use existing")
    page.locator("label[for=kind-docker-vm]").click()
    expect(page).to_have_url(re.compile(r"/compute/add/\?kind=docker-vm"))
    page.fill("#id_name", "train-vm")
    page.fill("#id_cpus", "1.5")
    page.fill("#id_memory_gb", "0.5")
    page.fill("#id_image", podman.PYTHON_IMAGE)
    page.fill("#id_idle_minutes", "30")
    screenshot("docker-add-vm")
    page.get_by_role("button", name="Create").click()
    page.wait_for_url(f"{live_portal}/compute/train-vm/")
    page.evaluate("window.__noReload = true")
    status = page.locator("[id$=-status]")
    expect(status).to_contain_text("Running", timeout=60_000)
    expect(page.locator("[id$=-capabilities]")).to_contain_text("3.11")
    screenshot("docker-vm-running")

    page.locator("#target-stop").click()
    expect(status).to_contain_text("Stopped", timeout=30_000)
    expect(page.locator("#target-start")).to_be_enabled()
    screenshot("docker-vm-stopped")
    page.locator("#target-start").click()
    expect(status).to_contain_text("Running", timeout=30_000)
    assert page.evaluate("window.__noReload") is True  # every step arrived live
    expect(page.locator("[id$=-history]")).to_contain_text("Stop requested")

    page.goto(f"{live_portal}/compute/")
    row = page.locator("tr", has_text="train-vm")
    expect(row).to_contain_text("Running")
    expect(row).to_contain_text("1.5 CPUs")
    screenshot("docker-compute-list")

    page.goto(f"{live_portal}/compute/train-vm/")
    page.locator("#target-delete").click()
    screenshot("docker-vm-delete-confirm")
    page.locator("#target-confirm-delete").click()
    expect(page.locator("[id$=-deleted]")).to_contain_text("was deleted", timeout=30_000)
    expect(page.locator("#target-recheck")).to_have_count(0)  # the header's actions went too
    screenshot("docker-vm-deleted")
    assert not ComputeTarget.objects.filter(name="train-vm").exists()


def test_create_a_container_instance_in_the_browser(
    page, live_portal, team, sign_in, screenshot, checked_engine
):
    sign_in(team.contributor)
    page.goto(f"{live_portal}/compute/add/?kind=container")
    page.fill("#id_name", "batch")
    page.fill("#id_cpus", "1")
    page.fill("#id_memory_gb", "1")
    page.fill("#id_image", podman.PYTHON_IMAGE)
    page.get_by_role("button", name="Create").click()
    page.wait_for_url(f"{live_portal}/compute/batch/")
    expect(page.locator("[id$=-status]")).to_contain_text("Succeeded", timeout=30_000)
    expect(page.locator("[id$=-capabilities]")).to_contain_text("Each run gets")
    screenshot("docker-container-instance")
