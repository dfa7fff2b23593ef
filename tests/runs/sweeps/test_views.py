"""The submit page's sweep option and the sweep page, without a worker."""

import pytest

from runs.models import Run, Sweep
from runs.sweeps import orchestrator


@pytest.fixture(autouse=True)
def no_queueing(monkeypatch):
    monkeypatch.setattr("runs.tasks.prepare_run.delay", lambda run_id: None)
    monkeypatch.setattr("runs.tasks.advance_sweep.delay", lambda sweep_id: None)


def sweep_post(snapshot, target, **overrides):
    data = {
        "target": target.pk,
        "experiment": "swp",
        "script": "train.py",
        "arguments": "--epochs 3",
        "environment": "user",
        "interpreter": "python3",
        "snapshot": snapshot.pk,
        "sweep": "on",
        "param_0_name": "--alpha",
        "param_0_type": "uniform",
        "param_0_args": "0, 1",
        "param_1_name": "kernel",
        "param_1_type": "choice",
        "param_1_args": "rbf, linear",
        "sampling": "random",
        "seed": "5",
        "primary_metric": "accuracy",
        "goal": "maximize",
        "max_total_runs": "6",
        "max_concurrent_runs": "2",
        "policy": "bandit",
        "slack_factor": "0.1",
        "evaluation_interval": "1",
        "delay_evaluation": "0",
    }
    data.update(overrides)
    return data


def test_submit_page_creates_a_sweep(team, login, make_snapshot, local_target):
    client = login(team.contributor)
    assert "Sweep parameters" in client.get("/runs/new/").content.decode()
    snapshot = make_snapshot({"train.py": "print(1)\n"})
    response = client.post("/runs/new/", sweep_post(snapshot, local_target))
    assert response.status_code == 302, response.content.decode()[:2000]
    sweep = Sweep.objects.get()
    assert sweep.space == {
        "--alpha": {"type": "uniform", "low": 0.0, "high": 1.0},
        "--kernel": {"type": "choice", "values": ["rbf", "linear"]},
    }
    assert sweep.policy_options == {"slack_factor": 0.1, "evaluation_interval": 1, "delay_evaluation": 0}
    orchestrator.sweep_advance(sweep.pk)
    page = client.get(f"/runs/{sweep.pk}/").content.decode()
    assert f"Sweep {sweep.pk}" in page and "of 6 trials" in page and 'id="sweep-data"' in page
    csv = client.get(f"/sweeps/{sweep.pk}/children.csv").content.decode().splitlines()
    assert csv[0] == "run,status,--alpha,--kernel,accuracy" and len(csv) == 3


def test_grid_over_a_continuous_parameter_is_refused_with_a_message(team, login, make_snapshot, local_target):
    client = login(team.contributor)
    snapshot = make_snapshot({"train.py": "print(1)\n"})
    response = client.post("/runs/new/", sweep_post(snapshot, local_target, sampling="grid"))
    assert response.status_code == 400
    assert "Grid sampling takes choice() and randint() parameters only." in response.content.decode()
    assert not Run.objects.exists()


def test_bad_distribution_arguments_name_the_row(team, login, make_snapshot, local_target):
    client = login(team.contributor)
    snapshot = make_snapshot({"train.py": "print(1)\n"})
    response = client.post("/runs/new/", sweep_post(snapshot, local_target, param_0_args="0"))
    assert response.status_code == 400
    assert "uniform takes low, high." in response.content.decode()


def test_sweep_page_access(team, login, make_sweep):
    parent = make_sweep()
    assert login(team.reader).get(f"/sweeps/{parent.pk}/").status_code == 200
    assert login(team.outsider).get(f"/sweeps/{parent.pk}/").status_code in (403, 404)
    assert login(team.reader).post(f"/sweeps/{parent.pk}/cancel/").status_code == 403
    response = login(team.contributor).post(f"/sweeps/{parent.pk}/cancel/")
    assert response.status_code == 302
    assert Sweep.objects.get(pk=parent.pk).cancel_requested_at is not None


def test_a_sweep_resumes_from_an_earlier_one_of_this_workspace_only(team, login, make_snapshot, local_target):
    client = login(team.contributor)
    snapshot = make_snapshot({"train.py": "print(1)\n"})
    assert client.post("/runs/new/", sweep_post(snapshot, local_target)).status_code == 302
    earlier = Sweep.objects.get()
    assert f"Sweep {earlier.pk} · swp" in client.get("/runs/new/").content.decode()
    resumed = client.post("/runs/new/", sweep_post(snapshot, local_target, warm_start_from=earlier.pk))
    assert resumed.status_code == 302
    assert Sweep.objects.exclude(pk=earlier.pk).get().warm_start_from_id == earlier.pk
    # Another workspace's sweep is not a choice: refused, nothing stored.
    outsider_sweep = Sweep.objects.get(pk=earlier.pk)
    Run.objects.filter(pk=outsider_sweep.pk).update(workspace=team.other_workspace)
    refused = client.post("/runs/new/", sweep_post(snapshot, local_target, warm_start_from=earlier.pk))
    assert refused.status_code == 400 and "Select a valid choice" in refused.content.decode()
    assert Sweep.objects.count() == 2
