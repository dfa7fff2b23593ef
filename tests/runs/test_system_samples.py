"""System sample lines: checked like every line from a target, stored,
merged to stay bounded, summed up on the run's Monitoring tab."""

import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from runs import system_samples
from runs.metrics_lines import parse_metrics
from runs.models import RunAllocation, SystemSample


def line(**fields):
    item = {
        "type": "system",
        "time": time.time(),
        "seconds": 2.0,
        "cpu": 1.5,
        "rss": 10_000_000,
        "read": 0,
        "write": 4096,
        "gpus": [],
    }
    item.update(fields)
    return json.dumps(item)


def test_a_sample_line_is_parsed_and_bad_ones_are_refused_with_a_note():
    text = "\n".join(
        [
            line(gpus=[{"index": 0, "util": 3, "memory_mb": 500, "total_mb": 16000}]),
            line(cpu=float("nan")),
            line(rss=-1),
            line(gpus=[{"index": 0, "util": 300, "memory_mb": 1, "total_mb": 1}]),
            line(gpus="lots"),
            line(time=1.0),
        ]
    )
    points, records, notes = parse_metrics(text)
    assert points == [] and len(records) == 1 and len(notes) == 5
    kind, sample = records[0]
    assert kind == "system" and sample["gpu_used"] == pytest.approx(0.03) and sample["cpu_cores"] == 1.5


def test_downsampling_keeps_the_sums_over_time():
    rows = [
        SystemSample(
            run_id=1,
            at=timezone.now() + timedelta(seconds=i),
            seconds=1 + i % 3,
            cpu_cores=i,
            rss_bytes=i,
            read_bytes=10,
            write_bytes=5,
            gpu_used=None if i % 2 else 0.5,
            cpus_held=4,
            gpus_held=1,
        )
        for i in range(9)
    ]
    merged = system_samples.downsample(rows)
    assert len(merged) == 5
    assert sum(r.cpu_cores * r.seconds for r in merged) == pytest.approx(
        sum(r.cpu_cores * r.seconds for r in rows)
    )
    assert sum(r.seconds for r in merged) == sum(r.seconds for r in rows)
    assert sum(r.read_bytes for r in merged) == 90 and max(r.rss_bytes for r in merged) == 8


def test_a_run_keeps_at_most_samples_max_and_its_page_says_how_much_gpu_it_used(
    team, idle_run, monkeypatch, login
):
    monkeypatch.setattr(system_samples, "SAMPLES_MAX", 10)
    RunAllocation.objects.create(
        workspace=team.workspace,
        run=idle_run,
        experiment=idle_run.experiment,
        started_at=timezone.now(),
        cpus=8,
        gpus=1,
    )
    now = time.time()
    pushed = None
    for i in range(25):
        _, records, _ = parse_metrics(
            line(
                time=now - 100 + i * 2, cpu=2.0, gpus=[{"index": 0, "util": 3, "memory_mb": 1, "total_mb": 2}]
            )
        )
        pushed = system_samples.store(idle_run, [records[0][1]])
        assert SystemSample.objects.filter(run=idle_run).count() <= 10
    assert pushed["reset"] in (True, False)
    summary = system_samples.summary(idle_run)
    assert summary["gpu_share"] == pytest.approx(0.03) and summary["gpu_low"]
    assert summary["cpu_share"] == pytest.approx(0.25) and summary["seconds"] == pytest.approx(50)
    page = login(team.reader).get(f"/runs/{idle_run.pk}/").content.decode()
    assert "This run used <strong>3%</strong> of the 1 GPU it held" in page
    assert "most of it sat idle" in page
