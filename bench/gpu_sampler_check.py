"""The run sampler on a machine with a GPU: it samples a process that holds
the GPU idle, then (when torch is installed) one that keeps it busy, and
prints what it wrote. Run on the GPU machine: python3 bench/gpu_sampler_check.py"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SAMPLER = Path(__file__).resolve().parents[1] / "runs" / "helper" / "portal_sampler.py"
IDLE = "import time; time.sleep(7)"
BUSY = """
import time, torch
x = torch.randn(8192, 8192, device="cuda")
end = time.time() + 9
while time.time() < end:
    x = (x @ x).clamp_(-1, 1)
torch.cuda.synchronize()
"""


def sample(label: str, code: str) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        metrics = Path(tmp) / "metrics.jsonl"
        metrics.touch()
        job = subprocess.Popen([sys.executable, "-c", code])
        sampler = subprocess.Popen([sys.executable, "-I", str(SAMPLER), str(metrics), str(job.pid)])
        job.wait()
        sampler.wait(timeout=30)
        lines = [json.loads(line) for line in metrics.read_text().splitlines()]
    print(f"--- {label}: {len(lines)} samples")
    for line in lines:
        gpus = ", ".join(f"GPU {g['index']} {g['util']:.0f}% {g['memory_mb']:.0f} MB" for g in line["gpus"])
        print(
            f"  cpu {line['cpu']:.2f} cores  rss {line['rss'] / 1e6:.0f} MB  procs {line['procs']}  {gpus or 'no GPU'}"
        )
    return lines


if __name__ == "__main__":
    idle = sample("idle process", IDLE)
    assert idle and all(line["gpus"] for line in idle), "nvidia-smi gave no GPU"
    try:
        import torch  # noqa: F401

        busy = sample("torch matmuls", BUSY)
        share = sum(sum(g["util"] for g in line["gpus"]) for line in busy) / 100 / max(1, len(busy))
        print(f"busy run used {share:.0%} of the GPU on average; the idle one {0:.0%}")
    except ImportError:
        print("torch is not installed here: the busy case is skipped", file=sys.stderr)
    print("CUDA_VISIBLE_DEVICES =", os.environ.get("CUDA_VISIBLE_DEVICES"))
