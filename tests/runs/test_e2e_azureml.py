"""In a real browser: what a Run API script logs (tables, images, tags) shows
on the run page, live while it runs, and the experiment page filters by tag."""

from pathlib import Path

import pytest

from .test_azureml_runs import ENVIRONMENT, folder
from .test_e2e import portal, portal_url, shot, sign_in  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

SCRIPTS = Path(__file__).parent / "azureml_scripts"

SLOW_ROWS = """
import time
from azureml.core import Run

run = Run.get_context()
run.tag("stage", "warmup")
for epoch in range(6):
    run.log("loss", 1 / (epoch + 1))
    run.log_row("per epoch", epoch=epoch, loss=round(1 / (epoch + 1), 3))
    time.sleep(1.5)
run.tag("stage", "done")
"""


def test_run_api_tables_tags_and_images_on_the_pages(page, portal_url, team, local_target, submit):  # noqa: F811
    slow = submit(local_target, {"train.py": SLOW_ROWS}, experiment="azureml")
    sign_in(page, portal_url, team.reader)
    page.goto(f"{portal_url}/runs/{slow.pk}/")
    page.wait_for_selector(f"#run-{slow.pk}-connection:has-text('live')", timeout=20_000)
    # Rows arrive while the page stays open: pushed, not reloaded.
    table = page.locator(f"#run-{slow.pk}-data [data-table='per epoch']")
    table.locator("tbody tr").nth(2).wait_for(timeout=30_000)
    assert "warmup" in page.locator(f"#run-{slow.pk}-tags").inner_text()
    shot(page, "10-azureml-rows-live")
    page.wait_for_selector(f"#run-{slow.pk}-badge:has-text('Completed')", timeout=60_000)
    page.locator(f"#run-{slow.pk}-tags:has-text('done')").wait_for(timeout=10_000)
    assert table.locator("tbody tr").count() == 6

    tables = submit(local_target, folder("tables"), environment=ENVIRONMENT, experiment="azureml")
    ridge = submit(
        local_target,
        {"train.py": "from azureml.core import Run\nRun.get_context().tag('model', 'ridge')\n"},
        experiment="azureml",
    )
    page.goto(f"{portal_url}/runs/{tables.pk}/")
    page.wait_for_selector(f"#run-{tables.pk}-badge:has-text('Completed')", timeout=240_000)
    images = page.locator(f"#run-{tables.pk}-images img")
    images.nth(1).wait_for(timeout=20_000)
    for i in range(2):  # really loaded and drawn, not a broken-image icon
        assert page.evaluate(
            f"(() => {{ const img = document.querySelectorAll('#run-{tables.pk}-images img')[{i}];"
            " return img.complete && img.naturalWidth > 100; })()"
        )
    for name in ("accuracies", "learning curve", "confusion"):
        assert page.locator(f"#run-{tables.pk}-data [data-table='{name}']").is_visible()
    shot(page, "11-azureml-tables-and-images")

    page.goto(f"{portal_url}/experiments/azureml/")
    page.wait_for_selector(f"#run-{ridge.pk}-row")
    shot(page, "12-experiment-tags")
    page.fill("#tag-filter-input", "model:ridge")
    page.click("#tag-filter button[type=submit]")
    page.wait_for_url("**/experiments/azureml/?tag=model%3Aridge")
    assert page.locator("#run-table tbody tr").count() == 1
    assert page.locator(f"#run-{ridge.pk}-row").is_visible()
    shot(page, "13-experiment-filtered-by-tag")
