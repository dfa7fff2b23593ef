"""In the browser: create a VM and a container instance on the engine, then
submit a folder to each and watch it complete (screenshots)."""

import pytest
from playwright.sync_api import expect

from compute import services
from runs.models import Run
from tests import podman

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

SCRIPT = """import os, sys
print("hello from", os.uname().nodename, "python", sys.version.split()[0])
path = "/sys/fs/cgroup/memory/memory.limit_in_bytes"
if os.path.exists(path):
    print("memory limit (bytes):", open(path).read().strip())
os.makedirs("outputs", exist_ok=True)
open("outputs/result.txt", "w").write("ok")
"""


@pytest.fixture
def checked_engine(engine_target):
    target = engine_target("engine1")
    services.target_check(target_id=target.pk)
    return target


def create(page, live_portal, kind, name, memory):
    page.goto(f"{live_portal}/compute/add/")
    page.locator(f"label[for=kind-{kind}]").click()
    page.fill("#id_name", name)
    page.fill("#id_cpus", "1")
    page.fill("#id_memory_gb", memory)
    page.fill("#id_image", podman.PYTHON_IMAGE)
    page.get_by_role("button", name="Create").click()
    page.wait_for_url(f"{live_portal}/compute/{name}/")
    expect(page.locator("[id$=-status]")).to_contain_text(
        "Running" if kind == "docker-vm" else "Succeeded", timeout=60_000
    )


def run_on(page, live_portal, folder, target, screenshot, shot_name):
    page.goto(f"{live_portal}/runs/new/")
    page.set_input_files("#folder-input", str(folder))
    page.click("#preview-button")
    page.wait_for_selector("#snapshot-preview input[name=snapshot][value]", state="attached")
    page.select_option("#id_target", label=target)
    page.fill("#id_experiment", "docker-e2e")
    page.fill("#id_script", "train.py")
    page.click("#submit-run")
    page.wait_for_url("**/runs/*/")
    run = Run.objects.order_by("-pk").first()
    page.wait_for_selector(f"#run-{run.pk}-badge:has-text('Completed')", timeout=90_000)
    log = page.locator(f"#run-{run.pk}-log")
    log.locator("text=hello from").wait_for(timeout=10_000)
    screenshot(shot_name)
    return log.inner_text()


def test_run_on_a_created_vm_and_a_container_instance(
    page, live_portal, team, sign_in, screenshot, checked_engine, tmp_path
):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "train.py").write_text(SCRIPT)
    sign_in(team.contributor)
    create(page, live_portal, "docker-vm", "train-vm", "0.5")
    create(page, live_portal, "container", "batch", "0.25")
    screenshot("docker-targets-ready")

    text = run_on(page, live_portal, folder, "train-vm", screenshot, "docker-run-on-vm")
    assert f"memory limit (bytes): {512 * 1024 * 1024}" in text
    text = run_on(page, live_portal, folder, "batch", screenshot, "docker-run-on-container-instance")
    assert f"memory limit (bytes): {256 * 1024 * 1024}" in text
    assert Run.objects.filter(target__name="batch").get().outputs.filter(path="result.txt").exists()
