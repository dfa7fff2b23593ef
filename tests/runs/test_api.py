"""Snapshots, experiments and runs over the REST API, with the real worker
running real scripts on the local target."""

import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from portal import tokens
from runs import snapshots
from runs.models import Output, Run, RunLogChunk, RunStatus, Snapshot
from runs.monitor import outputs_dir
from tests.asgi import streamed_body

TRAIN = """
import sys
from portal_run import Run
run = Run.get_context()
for i in range(40):
    print(f"line {i}", flush=True)
    run.log("loss", 1.0 / (i + 1))
run.log("acc", 0.5)
run.log("acc", 0.75)
import os
os.makedirs("outputs", exist_ok=True)
open("outputs/model.txt", "w").write("weights " + " ".join(sys.argv[1:]))
"""


def base(workspace) -> str:
    return f"/api/v1/workspaces/{workspace.slug}"


def packed(files: dict[str, str], tmp_path: Path) -> tuple[str, bytes]:
    """(sha256, tar.gz) of a folder, made as the SDK makes it."""
    root = tmp_path / "src"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    analysis = snapshots.analyse(root)
    out = io.BytesIO()
    sha = snapshots.pack(root, [rel for rel, _ in analysis.files], out)
    return sha, out.getvalue()


def put_snapshot(client, workspace, files, tmp_path):
    sha, body = packed(files, tmp_path)
    response = client.put(f"{base(workspace)}/snapshots/{sha}/", data=body, content_type="application/gzip")
    return sha, response


def submit_body(sha, **overrides):
    body = {
        "experiment": "api-exp",
        "target": "local",
        "snapshot": sha,
        "script": "train.py",
        "arguments": ["--alpha", "two words"],
        "environment": {"kind": "user", "interpreter": "python3"},
    }
    body.update(overrides)
    return body


# ---- snapshots ------------------------------------------------------------------------------------


def test_snapshot_head_put_by_hash(team, api, tmp_path):
    client = api(team.contributor, team.workspace)
    sha, body = packed({"train.py": "print(1)\n", ".amlignore": "data/\n"}, tmp_path)
    url = f"{base(team.workspace)}/snapshots/{sha}/"
    assert client.head(url).status_code == 404
    created = client.put(url, data=body, content_type="application/gzip")
    assert created.status_code == 201, created.content
    assert created.json()["sha256"] == sha and created.json()["file_count"] == 2
    assert client.head(url).status_code == 200
    again = client.put(url, data=body, content_type="application/gzip")
    assert again.status_code == 200 and Snapshot.objects.filter(sha256=sha).count() == 1
    # Another workspace does not learn that the snapshot exists.
    other = api(team.outsider, team.other_workspace)
    assert other.head(f"{base(team.other_workspace)}/snapshots/{sha}/").status_code == 404


def test_snapshot_with_another_hash_is_refused_and_nothing_is_stored(team, api, tmp_path):
    client = api(team.contributor, team.workspace)
    real, body = packed({"train.py": "print('only here')\n"}, tmp_path)
    wrong = "0" * 64
    response = client.put(
        f"{base(team.workspace)}/snapshots/{wrong}/", data=body, content_type="application/gzip"
    )
    assert response.status_code == 400
    assert "content hash is" in response.json()["detail"]
    assert not Snapshot.objects.exists()
    assert not snapshots.archive_path(real).exists()


def test_malformed_archive_is_a_clear_400(team, api):
    client = api(team.contributor, team.workspace)
    response = client.put(
        f"{base(team.workspace)}/snapshots/{'a' * 64}/",
        data=b"not a tarball",
        content_type="application/gzip",
    )
    assert response.status_code == 400 and response.json()["detail"]
    assert not Snapshot.objects.exists()


def test_reader_cannot_put_a_snapshot(team, api, tmp_path):
    _, response = put_snapshot(api(team.reader, team.workspace), team.workspace, {"a.py": "1"}, tmp_path)
    assert response.status_code == 403 and "contributor" in response.json()["detail"]


# ---- submit, follow, read back -------------------------------------------------------------------


@pytest.mark.integration
def test_submit_follow_logs_metrics_outputs(worker, team, api, local_target, tmp_path):
    client = api(team.contributor, team.workspace)
    sha, response = put_snapshot(client, team.workspace, {"train.py": TRAIN}, tmp_path)
    assert response.status_code == 201
    submitted = client.post(f"{base(team.workspace)}/runs/", submit_body(sha), format="json")
    assert submitted.status_code == 201, submitted.content
    run_json = submitted.json()
    assert run_json["status"] == "Queued" and run_json["target"] == "local" and run_json["node_count"] == 1
    assert run_json["url"].endswith(f"/runs/{run_json['id']}/")
    run_url = f"{base(team.workspace)}/runs/{run_json['id']}"

    # Follow with the long-poll, as the SDK does: every chunk once, in order.
    seen, after, finished_flag = [], -1, False
    for _ in range(400):
        page = client.get(f"{run_url}/logs/", {"after": after, "timeout": 5}).json()
        seen.extend(page["chunks"])
        after = page["last_seq"]
        if page["finished"] and not page["more"]:
            finished_flag = True
            break
    assert finished_flag
    stored = list(
        RunLogChunk.objects.filter(run_id=run_json["id"]).order_by("seq").values("seq", "stream", "text")
    )
    assert seen == stored
    assert "".join(c["text"] for c in seen if c["stream"] == "stdout").startswith("line 0\nline 1\n")

    detail = client.get(f"{run_url}/").json()
    assert detail["status"] == "Completed" and detail["exit_code"] == 0 and detail["finished"]

    metrics = client.get(f"{run_url}/metrics/").json()
    assert [p["value"] for p in metrics["metrics"]["acc"]] == [0.5, 0.75]
    assert len(metrics["metrics"]["loss"]) == 40 and not metrics["truncated"]
    only_acc = client.get(f"{run_url}/metrics/", {"name": "acc", "max_points": 1}).json()
    assert list(only_acc["metrics"]) == ["acc"] and only_acc["truncated"]

    outputs = client.get(f"{run_url}/outputs/").json()
    assert outputs == [{"path": "model.txt", "size": len("weights --alpha two words")}]
    one = client.get(f"{run_url}/outputs/model.txt")
    assert streamed_body(one) == b"weights --alpha two words"
    archive = zipfile.ZipFile(io.BytesIO(streamed_body(client.get(f"{run_url}/outputs.zip"))))
    assert archive.read("outputs/model.txt") == b"weights --alpha two words"
    assert client.get(f"{run_url}/outputs/../../etc/passwd").status_code == 404

    experiments = client.get(f"{base(team.workspace)}/experiments/").json()
    assert [(e["name"], e["run_count"]) for e in experiments] == [("api-exp", 1)]


def test_log_long_poll_waits_then_returns_nothing_new(team, api, idle_run):
    RunLogChunk.objects.create(run=idle_run, seq=0, stream="stdout", text="hello\n")
    client = api(team.reader, team.workspace)
    url = f"{base(team.workspace)}/runs/{idle_run.pk}/logs/"
    first = client.get(url, {"after": -1}).json()
    assert [c["text"] for c in first["chunks"]] == ["hello\n"] and first["last_seq"] == 0
    started = timezone.now()
    empty = client.get(url, {"after": 0, "timeout": 0.6}).json()
    waited = (timezone.now() - started).total_seconds()
    assert empty["chunks"] == [] and empty["last_seq"] == 0 and not empty["finished"]
    assert waited >= 0.5
    paged = client.get(url, {"after": -1, "limit": 1}).json()
    assert paged["more"] is False and len(paged["chunks"]) == 1
    assert client.get(url, {"after": "x"}).json()["fields"] == {"after": ["“x” is not a whole number."]}


def test_cancel_a_queued_run(team, api, idle_run):
    client = api(team.contributor, team.workspace)
    response = client.post(f"{base(team.workspace)}/runs/{idle_run.pk}/cancel/")
    assert response.status_code == 202 and response.json()["status"] == "Canceled"
    again = client.post(f"{base(team.workspace)}/runs/{idle_run.pk}/cancel/")
    assert again.status_code == 400 and "nothing to cancel" in again.json()["detail"]


# ---- bad input changes nothing ------------------------------------------------------------------


def test_submit_validation_names_the_field(team, api, local_target, tmp_path):
    client = api(team.contributor, team.workspace)
    sha, _ = put_snapshot(client, team.workspace, {"train.py": "print(1)\n"}, tmp_path)
    runs_url = f"{base(team.workspace)}/runs/"

    missing = client.post(runs_url, {"target": "local", "snapshot": sha}, format="json")
    assert missing.status_code == 400 and {"experiment", "script"} <= set(missing.json()["fields"])
    unknown = client.post(runs_url, submit_body(sha, target="nope"), format="json")
    assert unknown.json()["fields"] == {"target": ["No compute target “nope” here."]}
    no_snapshot = client.post(runs_url, submit_body("f" * 64), format="json")
    assert "snapshot" in no_snapshot.json()["fields"]
    bad_hash = client.post(runs_url, submit_body("xyz"), format="json")
    assert "snapshot" in bad_hash.json()["fields"]
    not_there = client.post(runs_url, submit_body(sha, script="src/nope.py"), format="json")
    assert not_there.status_code == 400 and "not in the snapshot" in not_there.json()["detail"]
    bad_env = client.post(
        runs_url, submit_body(sha, environment={"kind": "pip", "requirements": ""}), format="json"
    )
    assert bad_env.status_code == 400 and "at least one requirement" in bad_env.json()["detail"]
    nodes = client.post(runs_url, submit_body(sha, node_count=4), format="json")
    assert nodes.status_code == 400 and "need a cluster target" in nodes.json()["detail"]
    garbage = client.post(runs_url, data="{not json", content_type="application/json")
    assert garbage.status_code == 400 and "JSON" in garbage.json()["detail"]
    assert not Run.objects.exists()


def test_roles_tokens_and_workspaces(team, api, idle_run, tmp_path):
    runs_url = f"{base(team.workspace)}/runs/"
    sha = idle_run.snapshot.sha256
    # A reader reads and nothing else; so does a read-only token of a contributor.
    assert api(team.reader, team.workspace).get(runs_url).status_code == 200
    assert api(team.reader, team.workspace).post(runs_url, submit_body(sha), format="json").status_code == 403
    read_only = api(team.contributor, team.workspace, read_only=True)
    refused = read_only.post(f"{runs_url}{idle_run.pk}/cancel/")
    assert refused.status_code == 403 and refused.json() == {"detail": "This token is read-only."}
    # Another workspace: its slug, its token, its run ids are all not found.
    outsider = api(team.outsider, team.other_workspace)
    assert outsider.get(runs_url).status_code == 404
    assert outsider.get(f"{base(team.other_workspace)}/runs/{idle_run.pk}/").status_code == 404
    # A member's token works only in the workspace it was made for.
    factories_ws = team.other_workspace
    from portal.models import Membership, Role

    Membership.objects.create(workspace=factories_ws, user=team.contributor, role=Role.CONTRIBUTOR)
    elsewhere = api(team.contributor, factories_ws)
    assert elsewhere.get(f"{runs_url}{idle_run.pk}/").status_code == 404
    # Expired and revoked tokens are 401s with a message; no token at all too.
    client = api(team.contributor, team.workspace)
    tokens.token_revoke(token=client.token)
    revoked = client.get(runs_url)
    assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]
    expired = api(team.contributor, team.workspace)
    type(expired.token).objects.filter(pk=expired.token.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert expired.get(runs_url).status_code == 401
    from rest_framework.test import APIClient

    anonymous = APIClient().get(runs_url)
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"] == "Bearer"
    assert Run.objects.get().status == RunStatus.QUEUED  # nothing changed


def test_run_list_pages_with_the_same_queries(
    team, api, submit, local_target, monkeypatch, django_assert_max_num_queries
):
    monkeypatch.setattr("runs.tasks.prepare_run.delay", lambda run_id: None)
    runs = [submit(local_target, {"train.py": f"print({i})\n"}, experiment=f"e{i % 2}") for i in range(5)]
    client = api(team.reader, team.workspace)
    url = f"{base(team.workspace)}/runs/"
    first = client.get(url, {"limit": 2}).json()
    assert [r["id"] for r in first["results"]] == [runs[4].pk, runs[3].pk]
    second = client.get(first["next"]).json()
    assert [r["id"] for r in second["results"]] == [runs[2].pk, runs[1].pk]
    only_e0 = client.get(url, {"experiment": "e0"}).json()
    assert {r["experiment"] for r in only_e0["results"]} == {"e0"} and only_e0["next"] is None
    with django_assert_max_num_queries(6) as small:
        client.get(url, {"limit": 1})
    with django_assert_max_num_queries(6) as large:
        client.get(url, {"limit": 200})
    assert len(small.captured_queries) == len(large.captured_queries)


def test_outputs_of_another_workspace_are_not_found(team, api, idle_run, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    root = outputs_dir(idle_run) / "outputs"
    root.mkdir(parents=True)
    (root / "m.txt").write_text("x")
    Output.objects.create(run=idle_run, path="m.txt", size=1)
    outsider = api(team.outsider, team.other_workspace)
    assert outsider.get(f"{base(team.other_workspace)}/runs/{idle_run.pk}/outputs/m.txt").status_code == 404
    mine = api(team.reader, team.workspace).get(f"{base(team.workspace)}/runs/{idle_run.pk}/outputs/m.txt")
    assert streamed_body(mine) == b"x"


def test_errors_never_carry_a_stack_trace(team, api, monkeypatch):
    def boom(**kwargs):
        raise RuntimeError("internal detail /srv/secret/path")

    monkeypatch.setattr("runs.selectors.experiment_list", boom)
    response = api(team.reader, team.workspace).get(f"{base(team.workspace)}/experiments/")
    assert response.status_code == 500
    body = json.dumps(response.json())
    assert "reference" in body and "secret/path" not in body and "Traceback" not in body
