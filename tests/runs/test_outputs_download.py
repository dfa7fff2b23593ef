"""Downloads are streamed through the real ASGI handler: zipped or read while
they are sent, never built whole in the server's memory first."""

import io
import os
import warnings
import zipfile

from django.conf import settings as django_settings
from django.urls import reverse

from portal.streaming import BLOCK_BYTES
from runs.models import Output
from runs.monitor import outputs_dir
from tests.asgi import asgi_get


def _session(client) -> dict[str, str]:
    return {django_settings.SESSION_COOKIE_NAME: client.cookies[django_settings.SESSION_COOKIE_NAME].value}


def test_outputs_zip_is_streamed_valid_and_complete(team, login, local_target, submit, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    run = submit(local_target, {"train.py": "print(1)\n"})
    root = outputs_dir(run) / "outputs"
    (root / "sub").mkdir(parents=True)
    contents = {
        "metrics.json": b'{"acc": 0.9}',
        "model.bin": os.urandom(3 * 1024 * 1024),  # incompressible: several blocks
        "sub/notes.txt": b"n" * 100_000,
    }
    for path, data in contents.items():
        (root / path).write_bytes(data)
        Output.objects.create(run=run, path=path, size=len(data))

    def after_first_block(message):
        # Bytes are already on their way: a file changed now, zipped later, is
        # in the download as it is now (a buffered response would have the old one).
        if len(bodies) == 0:
            contents["sub/notes.txt"] = b"changed"
            (root / "sub/notes.txt").write_bytes(b"changed")
        bodies.append(message.get("body", b""))

    bodies: list[bytes] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        messages = asgi_get(
            reverse("run-outputs-zip", args=[run.pk]),
            cookies=_session(login(team.reader)),
            on_body=after_first_block,
        )
    assert messages[0]["status"] == 200
    headers = dict(messages[0]["headers"])
    assert headers[b"Content-Disposition"] == f'attachment; filename="run-{run.pk}-outputs.zip"'.encode()
    assert not [w for w in caught if "StreamingHttpResponse" in str(w.message)]
    assert len([b for b in bodies if b]) > 3 and max(len(b) for b in bodies) < 1024 * 1024
    archive = zipfile.ZipFile(io.BytesIO(b"".join(bodies)))
    assert archive.testzip() is None
    assert sorted(archive.namelist()) == sorted(f"outputs/{p}" for p in contents)
    for path, data in contents.items():
        assert archive.read(f"outputs/{path}") == data


def test_one_output_is_read_a_block_at_a_time(team, login, local_target, submit, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    run = submit(local_target, {"train.py": "print(1)\n"})
    root = outputs_dir(run) / "outputs"
    root.mkdir(parents=True)
    data = os.urandom(2 * 1024 * 1024 + 17)
    (root / "model.bin").write_bytes(data)
    Output.objects.create(run=run, path="model.bin", size=len(data))

    rewritten = os.urandom(len(data))

    def after_first_block(message):
        # Overwritten in place once bytes are on their way: a streamed read
        # sends the rest from the new contents, a buffered one the old.
        if not bodies:
            (root / "model.bin").write_bytes(rewritten)
        bodies.append(message.get("body", b""))

    bodies: list[bytes] = []
    messages = asgi_get(
        reverse("run-output", args=[run.pk, "model.bin"]),
        cookies=_session(login(team.reader)),
        on_body=after_first_block,
    )
    headers = dict(messages[0]["headers"])
    first = BLOCK_BYTES  # the ASGI handler sends the first block read in smaller messages
    assert headers[b"Content-Length"] == str(len(data)).encode()
    assert len([b for b in bodies if b]) >= 8
    assert b"".join(bodies) == data[:first] + rewritten[first:]
