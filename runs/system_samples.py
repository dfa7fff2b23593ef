"""A run's system metrics: the sampler's "system" lines (runs/helper/portal_sampler.py),
checked, stored as SystemSample rows, kept to at most SAMPLES_MAX per run by
merging neighbours, and summed up for the Monitoring tab and the dashboard's
efficiency (used ÷ held)."""

import math
from datetime import UTC, datetime

from django.db.models import F, FloatField, Max, Sum
from django.db.models.functions import Cast

from .models import SystemSample

# Merged byte counters stay in a 64-bit column whatever a run wrote.
MERGED_BYTES_MAX = 2**53

SAMPLES_MAX = 720  # per run: a week-long run keeps about one sample every 14 minutes
GPUS_MAX = 64
BYTES_MAX = 2**62
LOW_USE = 0.2  # below this share of what it held, the Monitoring tab says so


class SampleRefused(ValueError):
    pass


def _number(item: dict, key: str, *, high: float, default=0.0) -> float:
    value = item.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SampleRefused(f"a system sample's {key} is not a number")
    if not 0 <= value <= high:
        raise SampleRefused(f"a system sample's {key} is out of range")
    return float(value)


def parse_sample(item: dict, now: float, time_min: float, skew: float) -> dict:
    """The fields of one "system" line, or SampleRefused (nothing from a
    target is trusted: every field is a bounded, finite number)."""
    stamp = _number(item, "time", high=now + skew)
    if stamp < time_min:
        raise SampleRefused("a system sample's time is out of range")
    raw_gpus = item.get("gpus") or []
    if not isinstance(raw_gpus, list) or len(raw_gpus) > GPUS_MAX:
        raise SampleRefused("a system sample's gpus must be a short list")
    gpus = []
    for gpu in raw_gpus:
        if not isinstance(gpu, dict):
            raise SampleRefused("a system sample's gpu is not an object")
        gpus.append(
            {
                "index": int(_number(gpu, "index", high=1024)),
                "util": _number(gpu, "util", high=100),
                "memory_mb": _number(gpu, "memory_mb", high=1e9),
                "total_mb": _number(gpu, "total_mb", high=1e9),
            }
        )
    return {
        "at": datetime.fromtimestamp(stamp, tz=UTC),
        "seconds": max(0.001, _number(item, "seconds", high=86400, default=1.0)),
        "cpu_cores": _number(item, "cpu", high=1e5),
        "rss_bytes": int(_number(item, "rss", high=BYTES_MAX)),
        "read_bytes": int(_number(item, "read", high=BYTES_MAX)),
        "write_bytes": int(_number(item, "write", high=BYTES_MAX)),
        "gpus": gpus,
        "gpu_used": sum(g["util"] for g in gpus) / 100 if gpus else None,
        "gpu_memory_mb": sum(g["memory_mb"] for g in gpus) if gpus else None,
    }


def store(run, samples: list[dict]) -> dict:
    """Store a read's samples against what the run holds now; returns what to
    push to its page: the new samples, or all of them (``reset``) when they
    were merged to stay under SAMPLES_MAX."""
    from .usage import open_allocation_of

    held = open_allocation_of(run.pk)
    cpus, gpus = (held.cpus, held.gpus) if held else (0.0, 0)
    rows = SystemSample.objects.bulk_create(
        SystemSample(run=run, cpus_held=cpus, gpus_held=gpus, **sample) for sample in samples
    )
    if SystemSample.objects.filter(run=run).count() <= SAMPLES_MAX:
        return {"samples": [payload(row) for row in rows], "reset": False}
    merged = downsample(list(SystemSample.objects.filter(run=run).order_by("at", "pk")))
    SystemSample.objects.filter(run=run).delete()
    rows = SystemSample.objects.bulk_create(merged)
    return {"samples": [payload(row) for row in rows], "reset": True}


def downsample(rows: list[SystemSample]) -> list[SystemSample]:
    """Neighbours merged pairwise: averages weighted by their seconds, bytes
    added, the later time kept. Sums over time (core-seconds, GPU-seconds)
    are the same before and after."""
    out = []
    for i in range(0, len(rows) - 1, 2):
        a, b = rows[i], rows[i + 1]
        total = a.seconds + b.seconds

        def avg(x, y, wa=a.seconds, wb=b.seconds, total=total):
            if x is None and y is None:
                return None
            return ((x or 0) * wa + (y or 0) * wb) / total

        out.append(
            SystemSample(
                run_id=a.run_id,
                at=b.at,
                seconds=total,
                cpu_cores=avg(a.cpu_cores, b.cpu_cores),
                rss_bytes=max(a.rss_bytes, b.rss_bytes),
                read_bytes=min(a.read_bytes + b.read_bytes, MERGED_BYTES_MAX),
                write_bytes=min(a.write_bytes + b.write_bytes, MERGED_BYTES_MAX),
                gpu_used=avg(a.gpu_used, b.gpu_used),
                gpu_memory_mb=avg(a.gpu_memory_mb, b.gpu_memory_mb),
                gpus=b.gpus,
                cpus_held=avg(a.cpus_held, b.cpus_held),
                gpus_held=max(a.gpus_held, b.gpus_held),
            )
        )
    if len(rows) % 2:
        out.append(rows[-1])
    return out


def payload(sample: SystemSample) -> dict:
    """One sample as the Monitoring tab's charts read it."""
    return {
        "t": sample.at.timestamp(),
        "s": sample.seconds,
        "cpu": round(sample.cpu_cores, 4),
        "cpus_held": sample.cpus_held,
        "rss": sample.rss_bytes,
        "read": sample.read_bytes,
        "write": sample.write_bytes,
        "gpu": None if sample.gpu_used is None else round(sample.gpu_used, 4),
        "gpus_held": sample.gpus_held,
        "gpu_mem": sample.gpu_memory_mb,
        "gpus": sample.gpus,
    }


def run_payloads(run) -> list[dict]:
    return [payload(s) for s in SystemSample.objects.filter(run=run).order_by("at", "pk")]


def summary(run) -> dict | None:
    """How much of what it held the run used, over all its samples; None without samples."""
    totals = SystemSample.objects.filter(run=run).aggregate(
        sampled=Sum("seconds"),
        cpu=Sum(F("cpu_cores") * F("seconds")),
        cpu_held=Sum(F("cpus_held") * F("seconds")),
        gpu=Sum(F("gpu_used") * F("seconds")),
        gpu_held=Sum(Cast("gpus_held", FloatField()) * F("seconds")),
        gpus_held=Max("gpus_held"),
        cpus_held=Max("cpus_held"),
        peak_rss=Max("rss_bytes"),
        read=Sum("read_bytes"),
        written=Sum("write_bytes"),
    )
    if not totals["sampled"]:
        return None
    seconds = totals["sampled"]
    out = {
        "seconds": seconds,
        "cpu_avg": totals["cpu"] / seconds,
        "cpus_held": totals["cpus_held"] or 0,
        "cpu_share": totals["cpu"] / totals["cpu_held"] if totals["cpu_held"] else None,
        "gpus_held": totals["gpus_held"] or 0,
        "gpu_share": (totals["gpu"] or 0) / totals["gpu_held"] if totals["gpu_held"] else None,
        "peak_rss": totals["peak_rss"],
        "read": totals["read"],
        "write": totals["written"],
    }
    out["gpu_low"] = out["gpu_share"] is not None and out["gpu_share"] < LOW_USE
    out["cpu_low"] = out["cpu_share"] is not None and out["cpu_share"] < LOW_USE
    return out
