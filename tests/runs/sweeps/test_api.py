"""Sweeps over the REST API: roles, other workspaces, field errors."""

import pytest

from runs.models import Sweep
from runs.sweeps import orchestrator
from tests.runs.test_api import base


@pytest.fixture(autouse=True)
def no_queueing(monkeypatch):
    monkeypatch.setattr("runs.tasks.prepare_run.delay", lambda run_id: None)
    monkeypatch.setattr("runs.tasks.advance_sweep.delay", lambda sweep_id: None)


@pytest.fixture
def body(make_snapshot, local_target):
    snapshot = make_snapshot({"train.py": "print(1)\n"})
    return {
        "experiment": "api-sweep",
        "target": local_target.name,
        "snapshot": snapshot.sha256,
        "script": "train.py",
        "space": {
            "--C": {"type": "loguniform", "low": -3, "high": 2},
            "--k": {"type": "choice", "values": [1, 2]},
        },
        "sampling": "random",
        "seed": 1,
        "primary_metric_name": "accuracy",
        "primary_metric_goal": "maximize",
        "max_total_runs": 4,
        "max_concurrent_runs": 2,
        "policy": "bandit",
        "policy_options": {"slack_factor": 0.2},
    }


def test_create_get_list_cancel(team, api, body):
    client = api(team.contributor, team.workspace)
    created = client.post(f"{base(team.workspace)}/sweeps/", body, format="json")
    assert created.status_code == 201, created.json()
    sweep_id = created.json()["id"]
    orchestrator.sweep_advance(sweep_id)
    one = client.get(f"{base(team.workspace)}/sweeps/{sweep_id}/").json()
    assert one["progress"]["created"] == 2 and len(one["children"]) == 2
    assert set(one["children"][0]["trial_params"]) == {"--C", "--k"}
    assert one["best"] is None
    listed = client.get(f"{base(team.workspace)}/sweeps/").json()
    assert [s["id"] for s in listed] == [sweep_id]
    canceled = client.post(f"{base(team.workspace)}/sweeps/{sweep_id}/cancel/")
    assert canceled.status_code == 202
    assert canceled.json()["state"] == "Canceled"
    assert {c["status"] for c in canceled.json()["children"]} == {"Canceled"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"space": {"--a": {"type": "gauss", "mu": 0}}}, "space"),
        ({"space": {"--a": {"type": "uniform", "low": 1, "high": 0}}}, "space"),
        ({"sampling": "grid"}, "sampling"),
        ({"sampling": "annealing"}, "sampling"),
        ({"max_concurrent_runs": 0}, "max_concurrent_runs"),
        ({"policy_options": {"truncation_percentage": 10}}, "policy_options"),
        ({"primary_metric_name": ""}, "primary_metric_name"),
        ({"target": "nope"}, "target"),
    ],
)
def test_bad_fields_are_400_naming_the_field(team, api, body, change, field):
    client = api(team.contributor, team.workspace)
    response = client.post(f"{base(team.workspace)}/sweeps/", {**body, **change}, format="json")
    assert response.status_code == 400
    assert field in response.json()["fields"], response.json()
    assert not Sweep.objects.exists()


def test_reader_cannot_create_or_cancel(team, api, body, make_sweep):
    reader = api(team.reader, team.workspace)
    assert reader.post(f"{base(team.workspace)}/sweeps/", body, format="json").status_code == 403
    parent = make_sweep()
    assert reader.get(f"{base(team.workspace)}/sweeps/{parent.pk}/").status_code == 200
    assert reader.post(f"{base(team.workspace)}/sweeps/{parent.pk}/cancel/").status_code == 403


def test_other_workspace_is_404(team, api, make_sweep):
    parent = make_sweep()
    outsider = api(team.outsider, team.other_workspace)
    assert outsider.get(f"{base(team.other_workspace)}/sweeps/{parent.pk}/").status_code == 404
    assert outsider.get(f"{base(team.workspace)}/sweeps/{parent.pk}/").status_code == 404
