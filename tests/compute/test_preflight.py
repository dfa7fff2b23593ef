import pytest

from compute.backends import preflight
from compute.backends.base import BackendError

GOOD = """os=Linux
distro=Debian GNU/Linux 12 (bookworm)
arch=x86_64
cpus=8
memory_kb=16384000
workdir=ok
disk_free_kb=52428800
python=/usr/bin/python3 3.11.2
python=/usr/bin/python3.11 3.11.2
conda=conda 24.1.0
gpu=NVIDIA H100 80GB HBM3, 81559, 550.54.15
gpu=NVIDIA H100 80GB HBM3, 81559, 550.54.15
preflight=done
"""


def test_parse_reads_every_capability():
    caps = preflight.parse(GOOD, workdir="runs")
    assert caps["cpus"] == 8
    assert caps["memory_mb"] == 16000
    assert caps["disk_free_mb"] == 51200
    assert caps["pythons"] == [
        {"path": "/usr/bin/python3", "version": "3.11.2"},
        {"path": "/usr/bin/python3.11", "version": "3.11.2"},
    ]
    assert caps["conda"] == "conda 24.1.0"
    assert caps["gpus"][0] == {"name": "NVIDIA H100 80GB HBM3", "memory_mb": 81559, "driver": "550.54.15"}
    assert len(caps["gpus"]) == 2


def test_no_python_is_a_permanent_failure():
    output = "\n".join(line for line in GOOD.splitlines() if not line.startswith("python="))
    with pytest.raises(BackendError, match="No python3") as exc:
        preflight.parse(output, workdir="runs")
    assert exc.value.permanent


def test_full_disk_is_reported_with_numbers():
    output = GOOD.replace("disk_free_kb=52428800", "disk_free_kb=10240")
    with pytest.raises(BackendError, match=r"Disk full: only 10 MB free in runs"):
        preflight.parse(output, workdir="runs")


def test_unwritable_workdir():
    output = GOOD.replace("workdir=ok", "workdir=not-writable")
    with pytest.raises(BackendError, match="cannot be created or written"):
        preflight.parse(output, workdir="/root/x")


def test_truncated_output_is_not_success():
    with pytest.raises(BackendError, match="did not finish"):
        preflight.parse(GOOD.replace("preflight=done", ""), workdir="runs")


def test_nvidia_smi_failure_is_kept_as_a_note():
    output = (
        GOOD.replace("gpu=NVIDIA H100 80GB HBM3, 81559, 550.54.15\n", "")
        + "gpu_error=NVIDIA-SMI has failed\n"
    )
    output = output.replace("preflight=done\n", "") + "preflight=done\n"
    caps = preflight.parse(output, workdir="runs")
    assert caps["gpus"] == [] and caps["gpu_error"] == "NVIDIA-SMI has failed"


def test_the_script_runs_here_and_parses(tmp_path):
    import subprocess

    result = subprocess.run(
        preflight.command(str(tmp_path / "wd")), capture_output=True, text=True, timeout=60
    )
    caps = preflight.parse(result.stdout, workdir=str(tmp_path / "wd"))
    assert caps["cpus"] >= 1 and caps["memory_mb"] > 0 and caps["pythons"]
    assert (tmp_path / "wd").is_dir()


def test_workdir_is_an_argument_not_script_text(tmp_path):
    import subprocess

    hostile = str(tmp_path / "$(touch pwned)")
    subprocess.run(preflight.command(hostile), capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert not (tmp_path / "pwned").exists()
    assert (tmp_path / "$(touch pwned)").is_dir()


def test_a_hostile_preflight_answer_is_allow_listed_and_capped():
    """Keys outside the list are dropped, values are type-checked and capped:
    a target cannot put arbitrary keys or megabytes into the stored capabilities."""
    hostile = (
        GOOD.replace("preflight=done\n", "")
        + "workspace_id=7\nis_superuser=1\npythons=injected\n"
        + "cpus=-1; rm -rf /\n"
        + "python=/usr/bin/evil not-a-version\n"
        + "".join(f"python=/opt/py{i} 3.11.{i}\n" for i in range(100))
        + "".join(f"gpu=fake{i}, 1, 1\n" for i in range(1000))
        + "distro="
        + "x" * 100_000
        + "\n"
        + "memory_kb=99999999999999999999999\n"
        + "preflight=done\n"
    )
    caps = preflight.parse(hostile, workdir="runs")
    assert not {"workspace_id", "is_superuser"} & caps.keys()
    assert caps["cpus"] is None
    assert "memory_mb" not in caps or caps["memory_mb"] is None
    assert all(p["path"] != "/usr/bin/evil" for p in caps["pythons"])
    assert len(caps["pythons"]) <= preflight.MAX_PYTHONS
    assert len(caps["gpus"]) <= preflight.MAX_GPUS
    assert len(caps["distro"]) <= preflight.VALUE_CHARS
