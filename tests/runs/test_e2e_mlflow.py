"""In a real browser: what an MLflow client sends for a running run (params,
tags, per-step metrics, an artifact) appears on its page live."""

import pytest
import requests

from runs import tracking_tokens
from runs.models import RunStatus
from tests.secret_scan import plant

from .test_e2e import portal, portal_url, shot, sign_in  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def test_mlflow_calls_show_live_on_the_run_page(page, portal_url, team, idle_run):  # noqa: F811
    idle_run.status = RunStatus.RUNNING
    idle_run.save(update_fields=["status"])
    token = plant(tracking_tokens.issue(idle_run))
    sign_in(page, portal_url, team.reader)
    page.goto(f"{portal_url}/runs/{idle_run.pk}/")
    page.wait_for_selector(f"#run-{idle_run.pk}-connection:has-text('live')", timeout=20_000)

    mlflow = requests.Session()
    mlflow.headers["Authorization"] = f"Bearer {token}"
    api = f"{portal_url}/mlflow/api/2.0/mlflow"
    run_id = idle_run.key.hex
    batch = {
        "run_id": run_id,
        "params": [{"key": "alpha", "value": "0.5"}, {"key": "solver", "value": "auto"}],
        "tags": [{"key": "model", "value": "ridge"}],
        "metrics": [
            {"key": "mse", "value": 1.0 / (s + 1), "step": s, "timestamp": 1_700_000_000_000 + s}
            for s in range(8)
        ],
    }
    mlflow.post(f"{api}/runs/log-batch", json=batch).raise_for_status()
    # Pushed, not reloaded: the params, the tag and the chart arrive on the open page.
    page.locator(f"#run-{idle_run.pk}-data:has-text('alpha')").wait_for(timeout=15_000)
    page.locator(f"#run-{idle_run.pk}-tags:has-text('ridge')").wait_for(timeout=15_000)
    page.locator(f"#run-{idle_run.pk}-chart").wait_for(state="visible", timeout=15_000)
    assert page.locator(f"#run-{idle_run.pk}-metric-chart input.metric-y[value='mse']").is_checked()
    assert token not in page.content()
    shot(page, "14-mlflow-run-live")
