"""A corpus of 1,000+ hostile and damaged archives posted to preview and to
submit: never a 5xx, a clear message for every refusal, nothing written outside
the snapshot store, and the process's memory bounded."""

import resource
import tempfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from runs.models import Run, Snapshot

from .archive_corpus import mutated_cases, named_cases

MAX_FILES = 50
MAX_RSS_GROWTH_MB = 100  # the pax-header bomb alone took ~170 MB before the stream was bounded


def listing(root: Path, skip: Path | None = None) -> set[str]:
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if skip is None or (p != skip and skip not in p.parents)
    }


@pytest.mark.slow
def test_corpus_posted_to_preview_and_submit(team, login, local_target, settings, tmp_path, monkeypatch):
    settings.VAR_DIR = tmp_path / "var"
    settings.SNAPSHOT_MAX_BYTES = 8 * 1024 * 1024
    settings.SNAPSHOT_MAX_FILES = MAX_FILES
    # The process's temp folder (upload spooling, staging) is a private one, so
    # the comparison is not disturbed by other processes on the machine.
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    settings.FILE_UPLOAD_TEMP_DIR = str(private_tmp)
    store = Path(settings.VAR_DIR) / "snapshots"
    store.mkdir(parents=True)
    var_before = listing(Path(settings.VAR_DIR), skip=store)

    cases = named_cases(MAX_FILES) + mutated_cases(1000)
    assert len(cases) >= 1000
    client = login(team.contributor)
    form = {"target": local_target.pk, "experiment": "fuzz", "script": "train.py", "environment": "user"}
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    refused = accepted = 0
    for name, filename, data in cases:
        for url, fields, error_id in (
            (reverse("snapshot-preview"), {}, "snapshot-error"),
            (reverse("run-submit"), form, "submit-error"),
        ):
            snapshots, runs = Snapshot.objects.count(), Run.objects.count()
            response = client.post(url, {**fields, "archive": SimpleUploadedFile(filename, data)})
            assert response.status_code < 500, f"{name} → {response.status_code} from {url}"
            if response.status_code == 400:
                refused += 1
                assert f'id="{error_id}"' in response.content.decode(), f"{name}: a refusal without a message"
                assert (Snapshot.objects.count(), Run.objects.count()) == (snapshots, runs), name
            else:
                accepted += 1
                assert response.status_code in (200, 302), name
    rss_growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024

    assert refused > 1000 and accepted > 0  # the corpus exercises both outcomes
    assert listing(Path(settings.VAR_DIR), skip=store) == var_before
    assert {p.suffix for p in store.iterdir()} <= {".gz"}, "a staging folder was left behind"
    assert list(private_tmp.iterdir()) == []
    assert rss_growth_mb < MAX_RSS_GROWTH_MB, f"memory grew by {rss_growth_mb:.0f} MB"
