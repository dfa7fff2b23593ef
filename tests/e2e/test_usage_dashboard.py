"""The usage dashboard in a browser: a week of several users' runs on several
targets, "running now" moving while the page is open, and a real run's
Monitoring tab. Screenshots in test-artifacts/screenshots/."""

import shutil
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

from compute.models import ComputeTarget, TargetState
from runs import services
from tests.dashboard.builders import populate
from tests.runs.conftest import folder_upload

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

BURN = """
import time
end = time.time() + 8
while time.time() < end:
    pass
print("done")
"""


@pytest.fixture
def local_target(team):
    workdir = Path(settings.LOCAL_WORKDIR).parent / f"local-{uuid.uuid4().hex[:12]}"
    target = ComputeTarget.objects.get(workspace=team.workspace, kind="local")
    target.state = TargetState.SUCCEEDED
    target.config = {"workdir": str(workdir)}
    target.save()
    yield target
    shutil.rmtree(workdir, ignore_errors=True)


def test_the_dashboard_with_a_week_of_several_users_and_targets(page, live_portal, team, sign_in, screenshot):
    populate(team, now=timezone.now())
    sign_in(team.reader)
    page.click("#nav-usage")
    page.click("text=7 days")
    expect(page.locator("h1")).to_contain_text("Usage")
    table = page.locator("#figure-usage-by-user-table")
    expect(table).to_be_hidden()
    for name in ("olivia", "carlos", "dana"):
        expect(table.locator("td", has_text=name)).to_have_count(1)
    for name in ("a100-box", "cpu-vm", "slurm-lab"):
        expect(page.locator("#figure-utilization-table td", has_text=name)).to_have_count(1)
    expect(page.locator("#dashboard-nodes-by-state")).to_contain_text("2 running")
    expect(page.locator("#figure-failure-reasons-table")).to_contain_text("CUDA out of memory")
    expect(page.locator("#figure-cost-table")).to_contain_text("a100-box")
    page.set_viewport_size({"width": 1600, "height": 1000})
    screenshot("usage-dashboard-7d")
    page.click("#figure-usage-by-user-toggle")
    expect(table).to_be_visible()
    expect(page.locator("#figure-usage-by-user-chart")).to_be_hidden()
    csv = page.locator("#figure-usage-by-user-csv")
    with page.expect_download() as download:
        csv.click()
    assert "dana" in Path(download.value.path()).read_text()


def test_running_now_moves_without_a_reload_and_the_monitoring_tab_shows_the_run(
    page, live_portal, team, sign_in, screenshot, local_target
):
    sign_in(team.contributor)
    page.goto(f"{live_portal}/dashboard/")
    running = page.locator("#dashboard-running")
    expect(running).to_have_text("0")
    page.evaluate("window.notReloaded = true")
    snapshot = services.snapshot_create(workspace=team.workspace, files=folder_upload({"train.py": BURN}))
    run = services.run_submit(
        workspace=team.workspace,
        user=team.contributor,
        experiment_name="burn",
        target=local_target,
        snapshot=snapshot,
        script="train.py",
        arguments=[],
        environment={"kind": "user"},
    )
    expect(running).to_have_text("1", timeout=20000)
    assert page.evaluate("window.notReloaded") is True  # pushed, not reloaded
    screenshot("usage-dashboard-running-now")

    page.goto(f"{live_portal}/runs/{run.pk}/")
    page.click(f"#run-{run.pk}-tab-monitoring")
    summary = page.locator(f"#run-{run.pk}-cpu-use")
    expect(summary).to_contain_text("cores busy on average", timeout=20000)
    expect(page.locator(f"#run-{run.pk}-status")).to_have_attribute("data-status", "Completed", timeout=30000)
    page.wait_for_timeout(500)
    screenshot("run-monitoring-tab")
    page.goto(f"{live_portal}/dashboard/")
    expect(running).to_have_text("0")
