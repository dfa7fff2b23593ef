from functools import cached_property

from django.db.models import Count, OuterRef, Subquery
from django.shortcuts import get_object_or_404

from compute.backends import runnable_kinds
from compute.models import ComputeTarget, TargetState

from .models import (
    Experiment,
    Metric,
    Output,
    Run,
    RunImage,
    RunLogChunk,
    RunParam,
    RunTable,
    RunTag,
    Snapshot,
)

LOG_TAIL_CHUNKS = 200
METRIC_POINTS_MAX = 20000  # per read, for the chart and the API alike


def experiment_list(*, workspace):
    last = Run.objects.filter(experiment=OuterRef("pk")).order_by("-created_at", "-pk")
    return (
        Experiment.objects.filter(workspace=workspace)
        .annotate(
            run_count=Count("runs"),
            last_status=Subquery(last.values("status")[:1]),
            last_run_at=Subquery(last.values("created_at")[:1]),
        )
        .order_by("-last_run_at", "-created_at")
    )


def experiment_get(*, workspace, name: str) -> Experiment:
    return get_object_or_404(Experiment, workspace=workspace, name=name)


# A target in these states takes runs (an Unreachable one may come back by the time it starts).
READY_STATES = (TargetState.SUCCEEDED, TargetState.UNREACHABLE)


def runnable_targets(*, workspace):
    """The workspace's targets a run can be submitted to: ready, of a kind that runs scripts."""
    return ComputeTarget.objects.filter(
        workspace=workspace, kind__in=runnable_kinds(), state__in=READY_STATES
    )


def snapshot_get(*, workspace, pk) -> Snapshot | None:
    return Snapshot.objects.filter(workspace=workspace, pk=pk).first() if pk else None


def run_list(*, workspace, experiment=None, tag: tuple[str, str | None] | None = None):
    """The workspace's runs; ``tag`` (key, value or None for any value) keeps the runs tagged so."""
    runs = Run.objects.filter(workspace=workspace).select_related("target", "experiment", "created_by")
    if experiment is not None:
        runs = runs.filter(experiment=experiment)
    if tag is not None:
        key, value = tag
        tagged = (
            RunTag.objects.filter(key=key) if value is None else RunTag.objects.filter(key=key, value=value)
        )
        runs = runs.filter(pk__in=tagged.values("run_id"))
    return runs


def run_get(*, workspace, pk: int) -> Run:
    """The workspace's run, or 404: another workspace's run is not found."""
    return get_object_or_404(
        Run.objects.select_related("target", "experiment", "snapshot", "created_by"),
        workspace=workspace,
        pk=pk,
    )


def log_chunks_after(*, run, after: int, limit: int):
    """The last ``limit`` chunks with seq > after, in order (a bounded tail, cut in SQL)."""
    chunks = RunLogChunk.objects.filter(run=run, seq__gt=after)
    return list(reversed(chunks.order_by("-seq")[:limit]))


def log_page(*, run, after: int, limit: int) -> dict:
    """The first ``limit`` chunks with seq > after, in order, as payloads, and
    whether more follow; one query, cut in SQL (a log can be millions of rows)."""
    rows = list(
        RunLogChunk.objects.filter(run=run, seq__gt=after)
        .order_by("seq")
        .values("seq", "stream", "text")[: limit + 1]
    )
    return {"chunks": rows[:limit], "more": len(rows) > limit}


def latest_metrics(*, run) -> dict:
    """{name: last value} for a run."""
    latest = {}
    for name, value in Metric.objects.filter(run=run).order_by("name", "step").values_list("name", "value"):
        latest[name] = value
    return latest


def run_metrics(
    *, run, names=(), min_step: int | None = None, max_step: int | None = None, limit: int = METRIC_POINTS_MAX
) -> tuple[dict, bool]:
    """({name: [{step, value}]}, truncated) for one run, in step order; at
    most ``limit`` points (capped at METRIC_POINTS_MAX), cut in SQL."""
    limit = max(1, min(limit, METRIC_POINTS_MAX))
    points = Metric.objects.filter(run=run)
    if names:
        points = points.filter(name__in=list(names))
    if min_step is not None:
        points = points.filter(step__gte=min_step)
    if max_step is not None:
        points = points.filter(step__lte=max_step)
    rows = list(points.order_by("name", "step").values_list("name", "step", "value")[: limit + 1])
    series: dict = {}
    for name, step, value in rows[:limit]:
        series.setdefault(name, []).append({"step": step, "value": value})
    return series, len(rows) > limit


def run_page(
    *, workspace, experiment: str = "", status: str = "", target: str = "", before=None, limit: int = 50
):
    """One page of the workspace's runs, newest first, keyset-paged by id:
    the same few queries whatever the page size or the number of runs."""
    runs = Run.objects.filter(workspace=workspace).select_related("target", "experiment", "snapshot")
    if experiment:
        runs = runs.filter(experiment__name=experiment)
    if status:
        runs = runs.filter(status=status)
    if target:
        runs = runs.filter(target__name=target)
    if before is not None:
        runs = runs.filter(pk__lt=before)
    rows = list(runs.order_by("-pk")[: limit + 1])
    return rows[:limit], len(rows) > limit


def metric_points(*, runs, limit: int = METRIC_POINTS_MAX):
    return list(
        Metric.objects.filter(run__in=runs)
        .order_by("run_id", "name", "step")
        .values_list("run_id", "name", "step", "value")[:limit]
    )


def run_can_be_seen_by(*, run_id: int, user) -> bool:
    return Run.objects.filter(pk=run_id, workspace__memberships__user=user).exists()


class RunData:
    """What the run page shows besides metrics: tags, params, tables and
    images; read when first used (a push renders it after commit)."""

    def __init__(self, run):
        self.run = run

    @cached_property
    def tags(self) -> list:
        return list(RunTag.objects.filter(run=self.run).order_by("key"))

    @cached_property
    def params(self) -> list:
        return list(RunParam.objects.filter(run=self.run).order_by("key"))

    @cached_property
    def tables(self) -> list:
        return list(RunTable.objects.filter(run=self.run).order_by("name"))

    @cached_property
    def images(self) -> list:
        """Images with ``available``: whether the file is among the collected outputs."""
        images = list(RunImage.objects.filter(run=self.run))
        collected = set(
            Output.objects.filter(run=self.run, path__in=[i.path for i in images]).values_list(
                "path", flat=True
            )
        )
        for image in images:
            image.available = image.path in collected
        return images

    @property
    def empty(self) -> bool:
        return not (self.tags or self.params or self.tables or self.images)


def run_tags(*, runs) -> dict:
    """{run id: [(key, value), ...]} for many runs, in one query."""
    tags: dict = {}
    for run_id, key, value in (
        RunTag.objects.filter(run__in=runs).order_by("run_id", "key").values_list("run_id", "key", "value")
    ):
        tags.setdefault(run_id, []).append((key, value))
    return tags


def parse_tag_filter(text: str) -> tuple[str, str | None]:
    """``key:value`` → (key, value); ``key`` alone → (key, None): any value."""
    key, sep, value = text.partition(":")
    return key.strip(), (value if sep else None)
