"""The run primitives (runner.py's _sh, _put_snapshot, _read, _fetch) inside a created VM."""

import io
import tarfile

import pytest

from compute import lifecycle
from compute.backends.base import BackendError
from compute.models import TargetState
from tests import podman

pytestmark = [pytest.mark.integration]


@pytest.fixture
def vm(team, engine_target):
    engine_target("engine1", state=TargetState.SUCCEEDED)
    target = lifecycle.target_create(
        workspace=team.workspace,
        user=team.owner,
        kind="docker-vm",
        name="vm-prims",
        config={"engine": "engine1", "cpus": 1, "memory_gb": 0.5, "gpus": 0, "image": podman.PYTHON_IMAGE},
    )
    lifecycle.target_provision_now(target_id=target.pk)
    target.refresh_from_db()
    assert target.state == TargetState.SUCCEEDED, target.last_error
    backend = target.backend
    yield backend
    backend.close()
    backend.deprovision(lambda step: None)


def test_sh_passes_arguments_untouched(vm):
    tricky = ["it's", "$(touch /tmp/pwned)", "a b", "semi;colon"]
    rc, out, err = vm._sh('for a in "$@"; do printf "%s\\n" "$a"; done; echo err >&2; exit 3', tricky)
    assert rc == 3 and out.splitlines() == tricky and err == "err\n"
    assert vm._sh("[ -e /tmp/pwned ] && echo yes || echo no", [])[1] == "no\n"


def test_snapshot_goes_in_and_files_come_out(vm, tmp_path):
    archive = tmp_path / "snap.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        data = b"print('hello from the snapshot')\n"
        info = tarfile.TarInfo("train.py")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    assert vm._sh('mkdir -p "$1/snapshots"', [vm.area])[0] == 0
    remote, remove = vm._put_snapshot("abc123", archive)
    assert remove and remote.startswith(f"{vm.area}/snapshots/abc123.tar.gz.")
    rc, out, _ = vm._sh('mkdir -p "$2" && tar -xzf "$1" -C "$2" && python3 "$2/train.py"', [remote, "/tmp/x"])
    assert rc == 0 and out == "hello from the snapshot\n"

    vm._sh('printf "0123456789" > "$1"', ["/tmp/x/log"])
    assert vm._read("/tmp/x/log", 3, 4) == b"3456"
    assert vm._read("/tmp/x/log", 10, 4) == b""
    assert vm._read("/tmp/x/not-yet", 0, 4) == b""
    dest = tmp_path / "out.bin"
    vm._fetch("/tmp/x/train.py", dest)
    assert dest.read_bytes() == data


def test_a_command_that_overruns_its_timeout_is_reported(vm):
    with pytest.raises(BackendError, match="took longer than 1 s"):
        vm._sh("sleep 30", [], timeout=1)
    assert "sleep 30" not in vm._sh("ps -eo args", [])[1]  # killed, not left behind
