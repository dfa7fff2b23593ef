"""A sweep created in the browser from the submit page, and its page filling
in live: progress, the best run, the metric chart, parallel coordinates, the table."""

import pytest

from runs.models import Run, Sweep, SweepState
from tests.conftest import wait_for
from tests.runs.conftest import local_target  # noqa: F401 - the fixture

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

SCRIPT = """
import argparse, time
from portal_run import Run
parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float)
parser.add_argument("--optimizer")
args = parser.parse_args()
run = Run.get_context()
bonus = {"adam": 0.1, "sgd": 0.0}[args.optimizer]
for step in range(6):
    run.log("accuracy", 0.5 + bonus + 0.3 * (1 - abs(args.lr - 0.4)) * (step + 1) / 6, step=step)
    time.sleep(0.3)
"""


@pytest.mark.usefixtures("local_target")
def test_create_a_sweep_in_the_browser_and_watch_it(page, live_portal, sign_in, screenshot, team, tmp_path):
    folder = tmp_path / "sweep-project"
    folder.mkdir()
    (folder / "train.py").write_text(SCRIPT)
    sign_in(team.contributor)
    page.goto(f"{live_portal}/runs/new/")
    page.set_input_files("#folder-input", str(folder))
    page.click("#preview-button")
    page.wait_for_selector("#snapshot-preview input[name=snapshot][value]", state="attached")
    page.fill("#id_experiment", "browser-sweep")
    page.fill("#id_script", "train.py")
    page.check("input[name=environment][value=user]")
    page.click("#sweep-section summary")
    page.check("#id_sweep")
    page.fill("#id_param_0_name", "--lr")
    page.select_option("#id_param_0_type", "uniform")
    page.fill("#id_param_0_args", "0, 1")
    page.fill("#id_param_1_name", "--optimizer")
    page.select_option("#id_param_1_type", "choice")
    page.fill("#id_param_1_args", "adam, sgd")
    page.select_option("#id_sampling", "random")
    page.fill("#id_seed", "3")
    page.fill("#id_primary_metric", "accuracy")
    page.select_option("#id_goal", "maximize")
    page.fill("#id_max_total_runs", "8")
    page.fill("#id_max_concurrent_runs", "2")
    page.select_option("#id_policy", "none")
    screenshot("sweep-01-submit")
    page.click("#submit-run")
    page.wait_for_url("**/runs/*/")
    sweep = wait_for(lambda: Sweep.objects.first(), message="the sweep")
    page.wait_for_selector(f"#sweep-{sweep.pk}-best:has-text('Best so far')", timeout=30_000)
    # Mid-sweep: the page fills in without a reload.
    assert not Sweep.objects.get(pk=sweep.pk).is_finished
    screenshot("sweep-02-running")
    page.wait_for_selector(f"#sweep-{sweep.pk}-progress:has-text('8 completed')", timeout=90_000)
    sweep.refresh_from_db()
    assert sweep.state == SweepState.COMPLETED
    page.wait_for_function(
        f"document.querySelectorAll('#sweep-{sweep.pk}-rows tr').length === 8", timeout=10_000
    )
    lines = page.evaluate(f"Chart.getChart(document.getElementById('sweep-{sweep.pk}-chart')).data.datasets")
    assert len(lines) == 8 and all(len(line["data"]) == 6 for line in lines)
    assert page.locator(f"#sweep-{sweep.pk}-parallel polyline").count() == 8
    screenshot("sweep-03-completed")
    page.locator(f"#sweep-{sweep.pk}-parallel").screenshot(
        path=str(screenshot("sweep-03-completed").parent / "sweep-04-parallel.png")
    )
    assert Run.objects.filter(parent_id=sweep.pk).count() == 8
    # Sorting by a parameter reorders the table.
    page.click(f"#sweep-{sweep.pk}-table th[data-sort='param:--lr']")
    shown = page.locator(f"#sweep-{sweep.pk}-rows tr td:nth-child(3)").all_inner_texts()
    values = [float(v) for v in shown]
    assert values in (sorted(values), sorted(values, reverse=True))
