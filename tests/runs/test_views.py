"""Pages and access: every query is scoped to the workspace; readers cannot change anything."""

import json

import pytest
from django.urls import reverse

from runs import services
from runs.models import Experiment, Output, Run, RunLogChunk, RunStatus
from tests.asgi import streamed_body

from .conftest import folder_upload, zip_file


@pytest.fixture
def run(team, local_target, make_snapshot):
    snapshot = make_snapshot({"train.py": "print(1)\n"})
    return services.run_submit(
        workspace=team.workspace,
        user=team.contributor,
        experiment_name="exp1",
        snapshot=snapshot,
        script="train.py",
        arguments=["--x", "1"],
        target=local_target,
        environment={"kind": "user", "interpreter": "python3"},
    )


def add_chunks(run, texts, stream="stdout"):
    start = run.log_chunks.count()
    RunLogChunk.objects.bulk_create(
        RunLogChunk(run=run, seq=start + i, stream=stream, text=t) for i, t in enumerate(texts)
    )
    Run.objects.filter(pk=run.pk).update(next_seq=start + len(texts))


def test_experiment_list_and_detail(team, login, run):
    client = login(team.reader)
    page = client.get(reverse("experiment-list"))
    assert page.status_code == 200 and "exp1" in page.content.decode()
    page = client.get(reverse("experiment-detail", args=["exp1"]))
    assert page.status_code == 200 and f"#{run.pk}" in page.content.decode()


def test_run_page_shows_status_and_connects_its_websocket(team, login, run):
    page = login(team.reader).get(reverse("run-detail", args=[run.pk])).content.decode()
    assert f'ws-connect="/ws/runs/{run.pk}/"' in page
    assert f'id="run-{run.pk}-status"' in page and "Queued" in page


@pytest.mark.parametrize(
    "name, args",
    [("run-detail", None), ("run-log", None), ("run-outputs-zip", None), ("run-output", ["model.txt"])],
)
def test_outsider_gets_404_for_a_run(team, login, run, name, args):
    Output.objects.create(run=run, path="model.txt", size=1)
    response = login(team.outsider).get(reverse(name, args=[run.pk, *(args or [])]))
    assert response.status_code == 404


def test_outsider_gets_404_for_an_experiment(team, login, run):
    assert login(team.outsider).get(reverse("experiment-detail", args=["exp1"])).status_code == 404


def test_outsider_cannot_cancel(team, login, run):
    assert login(team.outsider).post(reverse("run-cancel", args=[run.pk])).status_code == 404
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED


def test_reader_gets_403_on_changes(team, login, run, local_target):
    client = login(team.reader)
    assert client.post(reverse("run-cancel", args=[run.pk])).status_code == 403
    assert client.post(reverse("run-submit"), {"target": local_target.pk}).status_code == 403
    assert client.post(reverse("snapshot-preview")).status_code == 403
    assert client.post(reverse("run-example")).status_code == 403
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED
    assert Run.objects.count() == 1


def test_cancel_before_start_is_immediate(team, login, run):
    response = login(team.contributor).post(reverse("run-cancel", args=[run.pk]))
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELED and run.ended_at


def test_submit_from_a_browser_folder(team, login, local_target):
    client = login(team.contributor)
    files = folder_upload({"train.py": "print(1)\n", "src/util.py": "x = 1\n"})
    response = client.post(
        reverse("run-submit"),
        {
            "target": local_target.pk,
            "experiment": "new-exp",
            "script": "train.py",
            "arguments": "--lr '0.1 x'",
            "environment": "user",
            "interpreter": "python3",
            "files": [f for _, f in files],
            "paths": "\n".join(p for p, _ in files),
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    run = Run.objects.get()
    assert response["Location"] == reverse("run-detail", args=[run.pk])
    assert run.experiment == Experiment.objects.get(name="new-exp")
    assert run.arguments == ["--lr", "0.1 x"] and run.status == RunStatus.QUEUED
    assert sorted(p for p, _ in run.snapshot.files) == ["src/util.py", "train.py"]


def test_submit_with_a_missing_script_is_a_clear_error(team, login, local_target):
    response = login(team.contributor).post(
        reverse("run-submit"),
        {
            "target": local_target.pk,
            "experiment": "e",
            "script": "trian.py",
            "environment": "user",
            "archive": zip_file([("train.py", b"print(1)")]),
        },
    )
    assert response.status_code == 400
    assert (
        "The script “trian.py” is not in the snapshot. Did you mean “train.py”?" in response.content.decode()
    )
    assert not Run.objects.exists()


def test_preview_shows_counts_largest_and_excluded(team, login):
    files = folder_upload(
        {".amlignore": "data/\n", "train.py": "x" * 10, "big.bin": "y" * 5000, "data/a.csv": "z"}
    )
    # Browsers send a textarea's line breaks as CRLF.
    response = login(team.contributor).post(
        reverse("snapshot-preview"),
        {"files": [f for _, f in files], "paths": "\r\n".join(p for p, _ in files)},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert (
        "3 files" in html
        and "big.bin" in html
        and "data/a.csv" in html
        and "1 excluded by .amlignore" in html
    )
    assert 'name="snapshot"' in html


def test_preview_of_a_hostile_archive_is_refused_clearly(team, login):
    response = login(team.contributor).post(
        reverse("snapshot-preview"), {"archive": zip_file([("../evil.py", b"x")])}
    )
    assert response.status_code == 400
    assert "climbs out of the folder" in response.content.decode()


def test_log_backfill_after_seq_returns_exactly_the_missing_chunks(team, login, run):
    add_chunks(run, [f"line {i}\n" for i in range(10)])
    client = login(team.reader)
    data = json.loads(client.get(reverse("run-log", args=[run.pk]), {"after": 6, "format": "json"}).content)
    assert [c["seq"] for c in data["chunks"]] == [7, 8, 9]
    assert [c["text"] for c in data["chunks"]] == ["line 7\n", "line 8\n", "line 9\n"]
    full = streamed_body(client.get(reverse("run-log", args=[run.pk]))).decode()
    assert full == "".join(f"line {i}\n" for i in range(10))


def test_outputs_download_one_and_zip(team, login, run, settings, tmp_path):
    import io
    import zipfile

    from runs.monitor import outputs_dir

    settings.VAR_DIR = tmp_path
    root = outputs_dir(run) / "outputs"
    (root / "sub").mkdir(parents=True)
    (root / "model.txt").write_text("weights")
    (root / "sub" / "n.txt").write_text("nn")
    Output.objects.create(run=run, path="model.txt", size=7)
    Output.objects.create(run=run, path="sub/n.txt", size=2)
    client = login(team.reader)
    one = client.get(reverse("run-output", args=[run.pk, "sub/n.txt"]))
    assert streamed_body(one) == b"nn"
    assert one["Content-Length"] == "2" and 'filename="n.txt"' in one["Content-Disposition"]
    archive = zipfile.ZipFile(
        io.BytesIO(streamed_body(client.get(reverse("run-outputs-zip", args=[run.pk]))))
    )
    assert sorted(archive.namelist()) == ["outputs/model.txt", "outputs/sub/n.txt"]
    assert client.get(reverse("run-output", args=[run.pk, "../../secret"])).status_code == 404


def test_target_pages_list_its_runs(team, login, run, local_target):
    client = login(team.reader)
    detail = client.get(reverse("target-detail", args=[local_target.name])).content.decode()
    assert f'href="{reverse("run-detail", args=[run.pk])}"' in detail
    listing = client.get(reverse("target-list")).content.decode()
    assert f'id="target-{local_target.pk}-active-runs"' in listing
    assert ">1 queued</span>" in listing and "running</span>" not in listing  # a worker may not take it yet


def test_submit_form_prefills_the_experiment(team, login):
    page = login(team.contributor).get(reverse("run-submit"), {"experiment": "exp-x"}).content.decode()
    assert 'value="exp-x"' in page


def test_folder_upload_with_many_files(team, login):
    files = folder_upload({f"pkg/m{i}.py": f"X = {i}\n" for i in range(300)})
    response = login(team.contributor).post(
        reverse("snapshot-preview"),
        {"files": [f for _, f in files], "paths": "\r\n".join(p for p, _ in files)},
    )
    assert response.status_code == 200, response.content.decode()[:300]
    assert "300 files" in response.content.decode()


def test_status_block_rereads_itself_only_while_the_run_is_active(team, login, run):
    client = login(team.reader)
    part = client.get(f"/runs/{run.pk}/?part=status", HTTP_HX_REQUEST="true").content.decode()
    assert part.lstrip().startswith(f'<div id="run-{run.pk}-status"') and 'hx-trigger="every 10s"' in part
    run.status = "Completed"
    run.save(update_fields=["status"])
    part = client.get(f"/runs/{run.pk}/?part=status", HTTP_HX_REQUEST="true").content.decode()
    assert "Completed" in part and "hx-trigger" not in part
