import io
import shutil
import tarfile
import uuid
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from compute.models import ComputeTarget, TargetState


@pytest.fixture
def local_target(team):
    """The team's local target, checked, with run folders of this test's own. As root,
    runs execute as the run user: the folder is beside the session's local workdir
    (tmp_path is 0700 root), and the backend hands it to that user."""
    workdir = Path(settings.LOCAL_WORKDIR).parent / f"local-{uuid.uuid4().hex[:12]}"
    target = ComputeTarget.objects.get(workspace=team.workspace, kind="local")
    target.state = TargetState.SUCCEEDED
    target.config = {"workdir": str(workdir)}
    target.save()
    yield target
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(params=["local", "ssh"])
def any_target(request, local_target):
    """Each test using it runs on the local target and on an SSH target (the real sshd)."""
    if request.param == "local":
        return local_target
    return request.getfixturevalue("ssh_target")(state=TargetState.SUCCEEDED)


def folder_upload(files: dict[str, str | bytes], top: str = "proj"):
    """(relative path, file) pairs as a browser folder upload sends them."""
    return [
        (
            f"{top}/{path}",
            SimpleUploadedFile(
                path.rsplit("/", 1)[-1], content.encode() if isinstance(content, str) else content
            ),
        )
        for path, content in files.items()
    ]


def tar_gz(members: list[tarfile.TarInfo | tuple[str, bytes]], name="src.tar.gz") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tar.addfile(member)
            else:
                path, data = member
                info = tarfile.TarInfo(path)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return SimpleUploadedFile(name, buffer.getvalue())


def zip_file(
    members: list[tuple[str, bytes] | tuple[zipfile.ZipInfo, bytes]],
    name="src.zip",
    compression=zipfile.ZIP_DEFLATED,
) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for path, data in members:
            archive.writestr(path, data)
    return SimpleUploadedFile(name, buffer.getvalue())


@pytest.fixture
def make_snapshot(team):
    from runs import services

    def _make(files: dict[str, str | bytes], workspace=None):
        return services.snapshot_create(workspace=workspace or team.workspace, files=folder_upload(files))

    return _make


@pytest.fixture
def submit(team, make_snapshot):
    """Submits a run of a folder {path: content} on a target, as the contributor."""
    from runs import services

    def _submit(target, files, script="train.py", arguments=(), environment=None, experiment="exp1"):
        snapshot = make_snapshot(files)
        return services.run_submit(
            workspace=team.workspace,
            user=team.contributor,
            experiment_name=experiment,
            snapshot=snapshot,
            script=script,
            arguments=list(arguments),
            target=target,
            environment=environment or {"kind": "user", "interpreter": "python3"},
        )

    return _submit


@pytest.fixture
def idle_run(local_target, submit, monkeypatch):
    """A submitted run that nobody executes (the test stores its chunks by
    hand): a Celery worker left running by earlier tests must not run it."""
    monkeypatch.setattr("runs.tasks.prepare_run.delay", lambda run_id: None)
    return submit(local_target, {"train.py": "print(1)\n"})
