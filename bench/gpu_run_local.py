"""A GPU run through the local target, end to end, on the embedded defaults.

    python bench/gpu_run_local.py [--interpreter /path/to/python]

Migrates a throwaway SQLite database, checks the local target (the preflight
must find the GPUs), submits a script folder that uses torch on CUDA, executes
it through the same executor the Celery task calls, and prints the outcome,
the run's log and its metrics. Used on a lent GPU machine; prints, asserts
nothing.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("PORTAL_VAR_DIR", tempfile.mkdtemp(prefix="portal-gpu-"))
for name in ("DATABASE_URL", "REDIS_URL"):
    os.environ.pop(name, None)

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: E402
from django.core.management import call_command  # noqa: E402

from compute import services as compute_services  # noqa: E402
from compute.local_grant import local_target_grant  # noqa: E402
from portal.services import workspace_create  # noqa: E402
from runs import executor, monitor_service, services  # noqa: E402
from runs.models import Run  # noqa: E402

TRAIN = """
import time
import torch
from portal_run import Run

run = Run.get_context()
assert torch.cuda.is_available(), "CUDA is not available"
device = torch.device("cuda")
print("device:", torch.cuda.get_device_name(0), flush=True)
a = torch.randn(8192, 8192, device=device)
b = torch.randn(8192, 8192, device=device)
for step in range(5):
    torch.cuda.synchronize()
    started = time.perf_counter()
    c = a @ b
    torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    tflops = 2 * 8192**3 / seconds / 1e12
    print(f"step {step}: matmul 8192x8192 in {seconds * 1000:.1f} ms = {tflops:.1f} TFLOP/s", flush=True)
    run.log("tflops", tflops, step=step)
"""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--interpreter", default="python3")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    call_command("setup_local_runner")  # as root, local runs execute as the run user
    user = get_user_model().objects.create_user("gpu", password="x")
    workspace = workspace_create(name="GPU check", owner=user)
    local = local_target_grant(workspace=workspace)
    compute_services.target_check(target_id=local.pk)
    local.refresh_from_db()
    print("local target:", local.state, local.last_error or "")
    print("GPUs found by the preflight:", local.capabilities.get("gpus"))
    snapshot = services.snapshot_create(
        workspace=workspace, files=[("gpu/train.py", SimpleUploadedFile("train.py", TRAIN.encode()))]
    )
    run = services.run_submit(
        workspace=workspace,
        user=user,
        experiment_name="gpu-check",
        snapshot=snapshot,
        script="train.py",
        arguments=[],
        target=local,
        environment={"kind": "user", "interpreter": args.interpreter},
    )
    started = time.monotonic()
    monitor_service.ensure_started()
    executor.prepare(run.pk)
    while not Run.objects.get(pk=run.pk).is_terminal:
        time.sleep(0.2)
    monitor_service.stop()
    run = Run.objects.get(pk=run.pk)
    print(f"run {run.pk}: {run.status} in {time.monotonic() - started:.1f} s, exit code {run.exit_code}")
    print("error:", run.error or "-")
    print("".join(c.text for c in run.log_chunks.order_by("seq")))
    print("metrics:", [(m.step, round(m.value, 1)) for m in run.metrics.order_by("step")])


if __name__ == "__main__":
    main()
