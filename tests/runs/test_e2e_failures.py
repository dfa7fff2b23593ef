# ruff: noqa: F811 (the fixtures imported from test_e2e are parameters here)
"""In a real browser: the failure box opens at the exception; a queued run says what it waits for."""

import pytest

from runs import services
from runs.models import Run, RunStatus

from .test_e2e import portal, portal_url, shot, sign_in  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

NOISY_THEN_MISSING_MODULE = """
import sys
for i in range(200):
    print(f"epoch {i} loss {1 / (i + 1):.4f}")
for i in range(60):
    print(f"warning {i}: a deprecated option", file=sys.stderr)
import sklearn_not_installed_portal
"""


def test_the_failure_box_opens_at_the_exception(page, portal_url, team, local_target, submit):
    env = services.environment_spec(kind="pip", requirements="six")
    run = submit(local_target, {"train.py": NOISY_THEN_MISSING_MODULE}, environment=env)
    sign_in(page, portal_url, team.reader)
    page.goto(f"{portal_url}/runs/{run.pk}/")
    page.wait_for_selector(f"#run-{run.pk}-badge:has-text('Failed')", timeout=170_000)
    summary = page.locator(f"#run-{run.pk}-failure-summary").inner_text()
    assert "ModuleNotFoundError: No module named 'sklearn_not_installed_portal'" in summary
    box = page.locator(f"#run-{run.pk}-stderr").locator("xpath=..")
    # Scrolled to its end: the exception's line is visible in the box without scrolling.
    assert box.evaluate("e => e.scrollHeight > e.clientHeight")
    assert (
        box.evaluate("e => Math.abs(e.scrollTop) < 2 ? 'top' : 'moved'") == "top"
    )  # column-reverse: 0 is the end
    last = page.locator(f"#run-{run.pk}-stderr").evaluate("e => e.textContent.trim().split('\\n').pop()")
    assert last.startswith("ModuleNotFoundError")
    assert "Successfully installed" not in page.locator(f"#run-{run.pk}-stderr").inner_text()
    page.locator(f"#run-{run.pk}-error").scroll_into_view_if_needed()
    shot(page, "i15-failure-box-module-not-found")


def test_a_queued_run_shows_its_reason_and_position(
    page, portal_url, team, local_target, submit, monkeypatch
):
    monkeypatch.setattr("runs.tasks.prepare_run.delay", lambda run_id: None)
    runs = [submit(local_target, {"train.py": "print(1)\n"}) for _ in range(3)]
    sign_in(page, portal_url, team.reader)
    page.goto(f"{portal_url}/runs/{runs[1].pk}/")
    waiting = page.locator(f"#run-{runs[1].pk}-waiting")
    assert "2nd of 3 queued runs on" in waiting.inner_text()
    shot(page, "i15-queued-run-reason")
    Run.objects.filter(pk=runs[0].pk).update(status=RunStatus.CANCELED)  # leaves the queue
    page.wait_for_selector(f"#run-{runs[1].pk}-waiting:has-text('1st of 2')", timeout=15_000)
    page.goto(f"{portal_url}/compute/")
    row = page.locator(f"#target-{local_target.pk}-active-runs")
    assert "2 queued" in row.inner_text()
    shot(page, "i15-compute-active-runs")
