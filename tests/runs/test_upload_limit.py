"""Upload bodies over the snapshot limit are refused before they are read."""

import http.client
import os
import tempfile
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from runs import upload_limit
from runs.models import Run, Snapshot
from tests.servers import LivePortal


@pytest.fixture
def small_limit(settings, tmp_path, monkeypatch):
    """A 64 KB snapshot limit (so a ~1.1 MB body limit) and a private temp folder to watch."""
    settings.SNAPSHOT_MAX_BYTES = 64 * 1024
    settings.SNAPSHOT_MAX_FILES = 2
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024  # anything read would be spooled to disk at once
    spool = tmp_path / "spool"
    spool.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(spool)
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    return spool


def spooled(spool) -> list[str]:
    """Files in the temp folder, and open files there that were already unlinked."""
    open_there = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(spool)):
            open_there.append(target)
    return [p.name for p in spool.iterdir()] + open_there


@pytest.mark.parametrize("url_name", ["snapshot-preview", "run-submit"])
def test_test_client_upload_over_the_limit_is_refused(team, login, local_target, small_limit, url_name):
    client = login(team.contributor)
    body = {"target": local_target.pk, "experiment": "e", "script": "train.py", "environment": "user"}
    big = SimpleUploadedFile("src.zip", os.urandom(upload_limit.limit_bytes() + 1))
    response = client.post(reverse(url_name), {**body, "archive": big}, headers={"HX-Request": "true"})
    assert response.status_code == 413
    html = response.content.decode()
    assert 'id="snapshot-error"' in html and "MB, over the 64.0\xa0KB snapshot limit" in html
    assert not Snapshot.objects.exists() and not Run.objects.exists()
    assert spooled(small_limit) == []

    # Just under the limit the request reaches the view, which reads the (invalid) archive.
    fits = SimpleUploadedFile("src.zip", b"not a zip")
    assert client.post(reverse(url_name), {**body, "archive": fits}).status_code == 400


@pytest.mark.parametrize("url_name", ["snapshot-preview", "run-submit"])
def test_live_server_refuses_a_declared_length_before_reading_the_body(
    transactional_db, small_limit, url_name
):
    portal = LivePortal()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", portal.port, timeout=10)
        conn.putrequest("POST", reverse(url_name))
        conn.putheader("Content-Type", "multipart/form-data; boundary=xyz")
        conn.putheader("Content-Length", str(500 * 1024 * 1024))
        conn.endheaders()
        conn.send(b"x" * 64 * 1024)  # far less than declared: a server waiting for it would time out
        response = conn.getresponse()
        assert response.status == 413
        assert "is 500.0\xa0MB, over the 64.0\xa0KB snapshot limit" in response.read().decode()
        assert spooled(small_limit) == []
    finally:
        conn.close()
        portal.stop()


def test_live_server_stops_a_chunked_body_at_the_limit(transactional_db, small_limit):
    portal = LivePortal()
    conn = http.client.HTTPConnection("127.0.0.1", portal.port, timeout=10)
    try:
        conn.putrequest("POST", reverse("snapshot-preview"))
        conn.putheader("Content-Type", "multipart/form-data; boundary=xyz")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        chunk = b"x" * 64 * 1024
        try:  # twice the limit, and never the closing chunk
            for _ in range(2 * upload_limit.limit_bytes() // len(chunk)):
                conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading: what the test wants
        response = conn.getresponse()
        assert response.status == 413
        assert "The upload goes over the 64.0\xa0KB snapshot limit" in response.read().decode()
        # A chunked body has no length to check up front: what was read up to the
        # limit sat in Django's spool, which is closed and gone once the request ends.
        deadline = time.monotonic() + 5
        while spooled(small_limit) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert spooled(small_limit) == []
    finally:
        conn.close()
        portal.stop()


def test_which_bodies_are_held_to_which_limit(settings):
    settings.PORTAL_OUTPUTS_MAX_MB = 7
    sha = "a" * 64
    assert upload_limit.guard_for("PUT", f"/api/v1/workspaces/team/snapshots/{sha}/").kind == "api"
    mlflow = upload_limit.guard_for("PUT", "/mlflow/api/2.0/mlflow-artifacts/artifacts/k/artifacts/m.pkl")
    assert mlflow.kind == "mlflow" and mlflow.limit == 7 * 1024 * 1024
    assert upload_limit.guard_for("POST", "/runs/new/").kind == "page"
    assert (
        upload_limit.guard_for("GET", "/mlflow/api/2.0/mlflow-artifacts/artifacts/k/artifacts/m.pkl") is None
    )
    assert upload_limit.guard_for("PUT", "/api/v1/workspaces/team/snapshots/short/") is None
