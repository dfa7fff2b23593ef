"""The MLflow tracking endpoints' rules: a run's token acts on its run only,
stops with the run, is never shown; bad calls get MLflow-shaped errors and
change nothing."""

import json

import pytest
from django.test import Client

from runs import tracking_tokens
from runs.models import Metric, Output, RunLogChunk, RunParam, RunStatus
from tests.secret_scan import plant

API = "/mlflow/api/2.0/mlflow"
ARTIFACTS = "/mlflow/api/2.0/mlflow-artifacts/artifacts"


@pytest.fixture
def running(idle_run):
    idle_run.status = RunStatus.RUNNING
    idle_run.save(update_fields=["status"])
    return idle_run


@pytest.fixture
def tracker(running):
    token = plant(tracking_tokens.issue(running))  # the scan fails any response or log line holding it
    running.refresh_from_db()
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}"), token


def post(client, path, body):
    return client.post(f"{API}/{path}", json.dumps(body), content_type="application/json")


def test_metrics_params_tags_land_on_the_run(running, tracker):
    client, _ = tracker
    run_id = running.key.hex
    assert client.get(f"{API}/runs/get", {"run_id": run_id}).json()["run"]["info"]["status"] == "RUNNING"
    assert (
        post(
            client, "runs/log-metric", {"run_id": run_id, "key": "loss", "value": 0.5, "step": 3}
        ).status_code
        == 200
    )
    batch = {
        "run_id": run_id,
        "metrics": [{"key": "acc", "value": 0.9, "step": 0, "timestamp": 1700000000000}],
        "params": [{"key": "lr", "value": "0.01"}],
        "tags": [{"key": "team", "value": "vision"}],
    }
    assert post(client, "runs/log-batch", batch).status_code == 200
    assert list(Metric.objects.filter(run=running).order_by("name").values_list("name", "step", "value")) == [
        ("acc", 0, 0.9),
        ("loss", 3, 0.5),
    ]
    data = client.get(f"{API}/runs/get", {"run_id": run_id}).json()["run"]["data"]
    assert data["params"] == [{"key": "lr", "value": "0.01"}]
    assert {"key": "team", "value": "vision"} in data["tags"]
    history = client.get(f"{API}/metrics/get-history", {"run_id": run_id, "metric_key": "loss"}).json()
    assert [(m["step"], m["value"]) for m in history["metrics"]] == [(3, 0.5)]
    by_name = client.get(f"{API}/experiments/get-by-name", {"experiment_name": "anything"}).json()
    assert by_name["experiment"]["experiment_id"] == str(running.experiment_id)


def test_a_param_cannot_change_and_a_nan_is_left_out_with_a_note(running, tracker):
    client, _ = tracker
    run_id = running.key.hex
    post(client, "runs/log-parameter", {"run_id": run_id, "key": "lr", "value": "0.01"})
    changed = post(client, "runs/log-parameter", {"run_id": run_id, "key": "lr", "value": "0.02"})
    assert changed.status_code == 400 and changed.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert RunParam.objects.get(run=running, key="lr").value == "0.01"
    assert (
        post(
            client, "runs/log-metric", {"run_id": run_id, "key": "loss", "value": "NaN", "step": 1}
        ).status_code
        == 200
    )
    assert not Metric.objects.filter(run=running).exists()
    note = RunLogChunk.objects.get(run=running, stream="system").text
    assert "not finite" in note and "loss[1]" in note


def test_artifacts_are_outputs_and_stay_inside_the_run(running, tracker, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    client, _ = tracker
    base = f"{ARTIFACTS}/{running.key.hex}/artifacts"
    assert client.put(f"{base}/sub/notes.txt", b"hello", content_type="text/plain").status_code == 200
    assert Output.objects.get(run=running).path == "mlflow/sub/notes.txt"
    listing = client.get(ARTIFACTS, {"path": f"{running.key.hex}/artifacts"}).json()
    assert listing == {"files": [{"path": "sub", "is_dir": True}]}
    inside = client.get(ARTIFACTS, {"path": f"{running.key.hex}/artifacts/sub"}).json()
    assert inside == {"files": [{"path": "notes.txt", "is_dir": False, "file_size": 5}]}
    escape = client.put(f"{base}/../../../etc/x", b"x", content_type="text/plain")
    assert escape.status_code in (400, 403, 404)
    settings.PORTAL_OUTPUTS_MAX_MB = 1
    # One body over the limit is refused before anything reads it...
    big = client.put(f"{base}/big.bin", b"x" * (1024 * 1024 + 1), content_type="application/octet-stream")
    assert big.status_code == 413 and big.json()["error_code"] == "RESOURCE_EXHAUSTED"
    # ...and one that would take the run's outputs past it, as it is written.
    Output.objects.create(run=running, path="model.bin", size=1024 * 1024 - 10)
    over = client.put(f"{base}/more.bin", b"x" * 20, content_type="application/octet-stream")
    assert over.status_code == 413 and "outputs would pass" in over.json()["message"]
    assert sorted(Output.objects.filter(run=running).values_list("path", flat=True)) == [
        "mlflow/sub/notes.txt",
        "model.bin",
    ]
    assert not (tmp_path / "outputs" / running.key.hex / "outputs" / "mlflow" / "more.bin").exists()


def test_the_token_acts_on_its_run_only_and_stops_with_it(running, tracker, submit, local_target, team, api):
    client, token = tracker
    other = submit(local_target, {"train.py": "print(2)\n"})
    refused = post(client, "runs/log-metric", {"run_id": other.key.hex, "key": "x", "value": 1, "step": 0})
    assert refused.status_code == 403 and refused.json()["error_code"] == "PERMISSION_DENIED"
    art = client.put(f"{ARTIFACTS}/{other.key.hex}/artifacts/x.txt", b"x", content_type="text/plain")
    assert art.status_code == 403
    assert client.get(f"{API}/experiments/get", {"experiment_id": "999999"}).status_code == 404
    assert not Metric.objects.filter(run=other).exists()
    # Not a personal access token: the REST API refuses it.
    rest = Client(HTTP_AUTHORIZATION=f"Bearer {token}").get(f"/api/v1/workspaces/{team.workspace.slug}/runs/")
    assert rest.status_code == 401
    # Nowhere on the pages or in the API.
    page = api(team.owner, team.workspace).get(f"/api/v1/workspaces/{team.workspace.slug}/runs/{running.pk}/")
    assert token not in page.content.decode()
    # The run ends: the token stops.
    running.status = RunStatus.COMPLETED
    running.save(update_fields=["status"])
    ended = post(client, "runs/log-metric", {"run_id": running.key.hex, "key": "x", "value": 1, "step": 0})
    assert ended.status_code == 401 and ended.json()["error_code"] == "UNAUTHENTICATED"


def test_bad_calls_get_mlflow_shaped_errors(running, tracker):
    client, _ = tracker
    assert Client().get(f"{API}/runs/get").status_code == 401
    assert Client(HTTP_AUTHORIZATION="Bearer prt_1_forged").get(f"{API}/runs/get").status_code == 401
    garbage = client.post(f"{API}/runs/log-metric", "{nope", content_type="application/json")
    assert garbage.status_code == 400 and garbage.json()["error_code"] == "MALFORMED_REQUEST"
    nameless = post(client, "runs/log-metric", {"run_id": running.key.hex, "value": 1})
    assert nameless.status_code == 400 and "name" in nameless.json()["message"]
    unknown = client.get("/mlflow/api/2.0/mlflow/registered-models/list")
    assert unknown.status_code == 404 and unknown.json()["error_code"] == "ENDPOINT_NOT_FOUND"
    assert not Metric.objects.filter(run=running).exists()


def test_a_run_started_inside_records_under_its_own_prefix(running, tracker):
    client, _ = tracker
    created = post(client, "runs/create", {"experiment_id": str(running.experiment_id), "tags": []}).json()[
        "run"
    ]
    child = created["info"]["run_id"]
    assert child == f"{running.key.hex}-1"
    post(client, "runs/log-parameter", {"run_id": child, "key": "alpha", "value": "1.0"})
    post(client, "runs/log-parameter", {"run_id": running.key.hex, "key": "alpha", "value": "0.1"})
    assert dict(RunParam.objects.filter(run=running).values_list("key", "value")) == {
        "alpha": "0.1",
        "run-1/alpha": "1.0",
    }
    assert client.get(f"{API}/runs/get", {"run_id": child}).json()["run"]["data"]["params"] == [
        {"key": "alpha", "value": "1.0"}
    ]
    assert (
        post(
            client, "runs/log-parameter", {"run_id": f"{running.key.hex}-7", "key": "a", "value": "1"}
        ).status_code
        == 403
    )
