"""In a real browser: Re-run on another target, the metric chart's controls
(several metrics, a metric on the x-axis, log scale), the live badge at the
end of a run and a finished run's log opened at its end."""

import pytest

from compute.models import TargetState
from runs.models import Run, RunStatus
from tests.runs.test_e2e import portal, portal_url, shot, sign_in  # noqa: F401 - fixtures and helpers

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

METRICS_SCRIPT = """\
import time
from azureml.core import Run
run = Run.get_context()
time.sleep(4)
for step, alpha in enumerate([0.001, 0.01, 0.1, 1.0, 10.0]):
    run.log("alpha", alpha, step=step)
    run.log("mse", 0.5 + alpha * alpha, step=step)
for i in range(300):
    print(f"line {i}", flush=True)
print("the very end", flush=True)
"""


def test_rerun_on_another_target_from_the_run_page(page, portal_url, team, local_target, submit, ssh_target):  # noqa: F811
    ssh_target("vm1", state=TargetState.SUCCEEDED)
    run = submit(local_target, {"train.py": "print('hello from the first run', flush=True)\n"})
    sign_in(page, portal_url, team.contributor)
    page.goto(f"{portal_url}/runs/{run.pk}/")
    page.wait_for_selector(f"#run-{run.pk}-badge:has-text('Completed')", timeout=60_000)
    page.click(f"#run-{run.pk}-rerun-elsewhere")
    page.wait_for_selector(f"#run-{run.pk}-rerun-modal.show")
    page.select_option(f"#run-{run.pk}-rerun-target", "vm1")
    shot(page, "20-run-on-another-target")
    page.click(f"#run-{run.pk}-rerun-submit")
    page.wait_for_url(lambda url: url.rstrip("/").split("/")[-1] not in ("", str(run.pk)))
    again = Run.objects.exclude(pk=run.pk).get()
    assert again.target.name == "vm1" and again.snapshot_id == run.snapshot_id
    page.wait_for_selector(f"#run-{again.pk}-badge:has-text('Completed')", timeout=90_000)
    page.locator(f"#run-{again.pk}-log").locator("text=hello from the first run").wait_for(timeout=30_000)
    shot(page, "21-rerun-completed-on-vm1")
    # and plain Re-run: the same target again
    page.click(f"#run-{again.pk}-rerun")
    page.wait_for_url(lambda url: url.rstrip("/").split("/")[-1] not in ("", str(run.pk), str(again.pk)))
    third = Run.objects.exclude(pk__in=[run.pk, again.pk]).get()
    assert third.target.name == "vm1"
    page.wait_for_selector(f"#run-{third.pk}-badge:has-text('Completed')", timeout=90_000)


def chart_state(page, canvas_id):
    return page.evaluate(
        f"""(() => {{
        const c = Chart.getChart(document.getElementById('{canvas_id}'));
        return {{labels: c.data.datasets.map(d => d.label), points: c.data.datasets.map(d => d.data.map(p => [p.x, p.y])),
                 x: c.options.scales.x.title.text, ytype: c.options.scales.y.type}};
        }})()"""
    )


def test_metric_chart_controls_live_badge_and_log_end(page, portal_url, team, local_target, submit):  # noqa: F811
    run = submit(local_target, {"train.py": METRICS_SCRIPT})
    sign_in(page, portal_url, team.reader)
    page.set_viewport_size({"width": 1500, "height": 1000})
    page.goto(f"{portal_url}/runs/{run.pk}/")
    badge = page.locator(f"#run-{run.pk}-connection")
    page.wait_for_selector(f"#run-{run.pk}-connection:has-text('live')", timeout=20_000)
    page.wait_for_selector(f"#run-{run.pk}-badge:has-text('Completed')", timeout=60_000)
    badge.wait_for(state="hidden", timeout=10_000)  # the run ended: "live" is gone
    page.locator(f"#run-{run.pk}-log").locator("text=the very end").wait_for(timeout=30_000)
    prefix = f"run-{run.pk}-metric-chart"
    page.wait_for_selector(f"#{prefix} .metric-y[value=mse]")
    page.check(f"#{prefix} .metric-y[value=mse]")
    state = chart_state(page, f"run-{run.pk}-chart")
    assert state["labels"] == ["alpha", "mse"] and [len(p) for p in state["points"]] == [5, 5]
    # mse against alpha, on log scales
    page.uncheck(f"#{prefix} .metric-y[value=alpha]")
    page.select_option(f"#{prefix}-x", "alpha")
    page.check(f"#{prefix}-log-y")
    page.check(f"#{prefix}-log-x")
    state = chart_state(page, f"run-{run.pk}-chart")
    assert state["labels"] == ["mse"] and state["x"] == "alpha" and state["ytype"] == "logarithmic"
    assert state["points"][0] == [[a, 0.5 + a * a] for a in [0.001, 0.01, 0.1, 1.0, 10.0]]
    # the metric panel is in view beside the log, whatever grows below the status
    box = page.locator(f"#run-{run.pk}-metrics").bounding_box()
    assert box["y"] + box["height"] < 1000
    shot(page, "22-mse-against-alpha-log")
    # A finished run's page opens with its log at the end and no live badge.
    page.reload()
    page.locator(f"#run-{run.pk}-log").locator("text=the very end").wait_for(timeout=30_000)
    page.wait_for_function(
        f"(() => {{ const l = document.getElementById('run-{run.pk}-log');"
        " return l.scrollHeight > l.clientHeight && l.scrollTop + l.clientHeight >= l.scrollHeight - 5; })()",
        timeout=10_000,
    )
    assert page.locator(f"#run-{run.pk}-connection").is_hidden()
    shot(page, "23-finished-run-log-at-end")
    # The experiment page compares runs with the same controls.
    page.goto(f"{portal_url}/experiments/exp1/")
    page.check("#compare-metric-chart .metric-y[value=mse]")
    page.select_option("#compare-metric-chart-x", "alpha")
    page.check("#compare-metric-chart-log-y")
    state = chart_state(page, "compare-chart")
    assert state["labels"] == ["alpha", "mse"]  # one run checked: the metrics name the lines
    assert state["x"] == "alpha" and state["ytype"] == "logarithmic"
    shot(page, "24-experiment-compare")
    assert Run.objects.get().status == RunStatus.COMPLETED
