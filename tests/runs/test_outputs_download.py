"""The outputs zip is streamed: zipped while it is sent, never built in memory."""

import io
import os
import zipfile

from django.http import StreamingHttpResponse
from django.urls import reverse

from runs.models import Output
from runs.monitor import outputs_dir


def test_outputs_zip_is_streamed_valid_and_complete(team, login, local_target, submit, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    run = submit(local_target, {"train.py": "print(1)\n"})
    root = outputs_dir(run) / "outputs"
    (root / "sub").mkdir(parents=True)
    contents = {
        "model.bin": os.urandom(3 * 1024 * 1024),  # incompressible: several blocks
        "metrics.json": b'{"acc": 0.9}',
        "sub/notes.txt": b"n" * 100_000,
    }
    for path, data in contents.items():
        (root / path).write_bytes(data)
        Output.objects.create(run=run, path=path, size=len(data))

    response = login(team.reader).get(reverse("run-outputs-zip", args=[run.pk]))
    assert response.status_code == 200 and isinstance(response, StreamingHttpResponse)
    assert response["Content-Disposition"] == f'attachment; filename="run-{run.pk}-outputs.zip"'
    # The view returned before reading a file: a change made now is in the download.
    contents["metrics.json"] = b'{"acc": 0.95}'
    (root / "metrics.json").write_bytes(contents["metrics.json"])

    chunks = list(response.streaming_content)
    assert len(chunks) > 3 and max(len(c) for c in chunks) < 1024 * 1024
    archive = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    assert archive.testzip() is None
    assert sorted(archive.namelist()) == sorted(f"outputs/{p}" for p in contents)
    for path, data in contents.items():
        assert archive.read(f"outputs/{path}") == data
