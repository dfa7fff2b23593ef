"""'Try the example': one click runs the scikit-learn folder on the local computer."""

import pytest
from django.urls import reverse

from runs.models import Metric, Run, RunStatus

from .test_execution import finished, text_of

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_try_the_example_runs_to_completion_with_metrics_and_outputs(worker, team, login, local_target):
    response = login(team.contributor).post(reverse("run-example"))
    run = Run.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("run-detail", args=[run.pk])
    run = finished(run, timeout=170)
    assert run.status == RunStatus.COMPLETED, run.error + run.stderr_tail
    assert run.experiment.name == "example-iris"
    assert "epoch  19" in text_of(run, "stdout")
    assert Metric.objects.filter(run=run, name="accuracy").count() == 20
    assert sorted(run.outputs.values_list("path", flat=True)) == ["metrics.json", "model.pkl"]
