"""Snapshots, experiments and runs over the REST API: the same selectors and
services the pages use (runs/views.py), with JSON in and out."""

import tempfile
import time

from django.conf import settings
from django.core.files import File
from django.db import connection
from django.http import Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import BaseParser
from rest_framework.response import Response

from compute.models import ComputeTarget
from portal.api.scoping import WorkspaceView

from . import downloads, failures, queue_reasons, selectors, services
from .environment_files import detect_environment
from .models import TERMINAL, Run, RunStatus, Snapshot

LOG_WAIT_MAX = 30.0  # seconds a log read may wait for new lines
LOG_WAIT_STEPS = (0.02, 0.5)  # the wait between reads grows from the first to the second
LOG_LIMIT_MAX = 5000
RUNS_LIMIT_MAX = 200
SHA256 = r"[0-9a-f]{64}"


# ---- serializers -------------------------------------------------------------------------------


class EnvironmentFileSerializer(serializers.Serializer):
    path = serializers.CharField()
    kind = serializers.ChoiceField(choices=["pip", "conda"])
    text = serializers.CharField(allow_blank=True)
    error = serializers.CharField(allow_blank=True)


class SnapshotSerializer(serializers.ModelSerializer):
    class Meta:
        model = Snapshot
        fields = [
            "sha256",
            "file_count",
            "size_bytes",
            "files",
            "excluded",
            "ignore_file",
            "environment_file",
            "created_at",
        ]

    environment_file = serializers.SerializerMethodField(
        help_text='The folder\'s environment file, or null: {"path", "kind": "pip" | "conda", "text", "error"}; '
        "text is what a run's environment requirements take."
    )

    @extend_schema_field(EnvironmentFileSerializer(allow_null=True))
    def get_environment_file(self, snapshot) -> dict | None:
        return detect_environment(snapshot)


class EnvironmentSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["user", "pip", "conda"], default="user")
    interpreter = serializers.CharField(required=False, allow_blank=True, default="")
    requirements = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    docker = serializers.BooleanField(required=False, default=False)
    base_image = serializers.CharField(required=False, allow_blank=True, default="")


class RunSubmitSerializer(serializers.Serializer):
    experiment = serializers.CharField(max_length=64)
    target = serializers.CharField(max_length=32)
    snapshot = serializers.RegexField(
        SHA256, help_text="The sha256 of a snapshot stored with PUT /snapshots/{sha256}/."
    )
    script = serializers.CharField(max_length=500)
    arguments = serializers.ListField(
        child=serializers.CharField(allow_blank=True), required=False, default=list
    )
    environment = EnvironmentSerializer(required=False)
    node_count = serializers.IntegerField(
        min_value=1,
        default=1,
        help_text="Nodes the script runs on (srun); more than 1 needs a cluster target.",
    )
    processes_per_node = serializers.IntegerField(
        min_value=1, default=1, help_text="Processes per node, each with its RANK (cluster targets)."
    )
    partition = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        default="",
        help_text="The cluster's partition to queue in; empty: the target's default.",
    )


class RunSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    experiment = serializers.CharField(source="experiment.name")
    target = serializers.CharField(source="target.name", allow_null=True, default=None)
    status = serializers.CharField()
    status_label = serializers.CharField(source="get_status_display")
    # Why it failed, near the top where a reader looks first: kind, summary and tail.
    failure = serializers.SerializerMethodField()
    waiting_for = serializers.SerializerMethodField()
    substep = serializers.CharField()
    script = serializers.CharField()
    arguments = serializers.ListField(child=serializers.CharField())
    snapshot = serializers.CharField(source="snapshot.sha256")
    environment = serializers.SerializerMethodField()
    node_count = serializers.IntegerField()
    processes_per_node = serializers.IntegerField()
    partition = serializers.CharField()
    attempt = serializers.IntegerField(
        help_text="2 and more: Slurm requeued it (preempted, or a node failed)."
    )
    exit_code = serializers.IntegerField(allow_null=True)
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    queued_at = serializers.DateTimeField(allow_null=True)
    running_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    finished = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    def get_environment(self, run) -> dict:
        # The spec as the run uses it; its hash is an internal cache key.
        return {k: v for k, v in run.environment.items() if k != "hash"}

    def get_failure(self, run) -> dict | None:
        return failures.failure_of(run)

    def get_waiting_for(self, run) -> str | None:
        """What a queued run waits for; in a list, null (it costs queries per run: read one run for it)."""
        if self.context.get("listing"):
            return None
        return queue_reasons.waiting_for(run)

    def get_finished(self, run) -> bool:
        return run.status in TERMINAL

    def get_url(self, run) -> str:
        return self.context["request"].build_absolute_uri(reverse("run-detail", args=[run.pk]))


class RunPageSerializer(serializers.Serializer):
    results = RunSerializer(many=True)
    next = serializers.CharField(allow_null=True)


class ExperimentSerializer(serializers.Serializer):
    name = serializers.CharField()
    run_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    last_run_at = serializers.DateTimeField(allow_null=True)
    last_status = serializers.CharField(allow_null=True)


class LogChunkSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    stream = serializers.CharField()
    text = serializers.CharField()


class LogPageSerializer(serializers.Serializer):
    chunks = LogChunkSerializer(many=True)
    last_seq = serializers.IntegerField()
    more = serializers.BooleanField()
    status = serializers.CharField()
    finished = serializers.BooleanField()


class OutputSerializer(serializers.Serializer):
    path = serializers.CharField()
    size = serializers.IntegerField()


def _int_param(request, name: str, default=None, *, low=None, high=None):
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise serializers.ValidationError({name: [f"“{raw}” is not a whole number."]}) from None
    if low is not None:
        value = max(value, low)
    if high is not None:
        value = min(value, high)
    return value


# ---- snapshots ----------------------------------------------------------------------------------


class ArchiveParser(BaseParser):
    """A snapshot archive as the request body (the SDK sends its pack()'s tar.gz)."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream


class SnapshotDetail(WorkspaceView):
    parser_classes = [ArchiveParser]

    @extend_schema(responses={200: None, 404: None}, summary="Whether this workspace has the snapshot")
    def head(self, request, workspace, sha256):
        if not Snapshot.objects.filter(workspace=self.workspace, sha256=sha256).exists():
            raise Http404("This workspace has no snapshot with that hash.")
        return Response(status=status.HTTP_200_OK)

    @extend_schema(responses=SnapshotSerializer, summary="A stored snapshot")
    def get(self, request, workspace, sha256):
        snapshot = Snapshot.objects.filter(workspace=self.workspace, sha256=sha256).first()
        if snapshot is None:
            raise Http404("This workspace has no snapshot with that hash.")
        return Response(SnapshotSerializer(snapshot).data)

    @extend_schema(
        request={"application/gzip": OpenApiTypes.BINARY},
        responses={201: SnapshotSerializer, 200: SnapshotSerializer},
        summary="Store a folder's archive under its content hash",
    )
    def put(self, request, workspace, sha256):
        zipped = request.content_type.split(";")[0].strip() in (
            "application/zip",
            "application/x-zip-compressed",
        )
        with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as body:
            _copy_capped(request.data, body, settings.SNAPSHOT_MAX_BYTES)
            body.seek(0)
            upload = File(body, name="snapshot.zip" if zipped else "snapshot.tar.gz")
            snapshot, created = services.snapshot_put(workspace=self.workspace, sha256=sha256, upload=upload)
        return Response(
            SnapshotSerializer(snapshot).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


def _copy_capped(source, dest, limit: int) -> None:
    copied = 0
    while block := source.read(1024 * 1024):
        copied += len(block)
        if copied > limit:
            raise services.RunError(
                f"The archive is over the {limit // (1024 * 1024)} MB snapshot limit: exclude data and "
                "outputs with a .amlignore file."
            )
        dest.write(block)


# ---- experiments ------------------------------------------------------------------------------


class ExperimentList(WorkspaceView):
    @extend_schema(
        responses=ExperimentSerializer(many=True),
        summary="The workspace's experiments",
        operation_id="experiments_list",
    )
    def get(self, request, workspace):
        return Response(
            ExperimentSerializer(selectors.experiment_list(workspace=self.workspace), many=True).data
        )


class ExperimentDetail(WorkspaceView):
    @extend_schema(responses=ExperimentSerializer, summary="One experiment")
    def get(self, request, workspace, name):
        experiment = selectors.experiment_list(workspace=self.workspace).filter(name=name).first()
        if experiment is None:
            raise Http404(f"No experiment “{name}” here.")
        return Response(ExperimentSerializer(experiment).data)


# ---- runs -------------------------------------------------------------------------------------


def target_and_snapshot(workspace, data) -> tuple[ComputeTarget, Snapshot]:
    """The request's target (by name) and snapshot (by hash) in this workspace; 400 naming the field."""
    target = ComputeTarget.objects.filter(workspace=workspace, name=data["target"]).first()
    if target is None:
        raise serializers.ValidationError({"target": [f"No compute target “{data['target']}” here."]})
    snapshot = Snapshot.objects.filter(workspace=workspace, sha256=data["snapshot"]).first()
    if snapshot is None:
        raise serializers.ValidationError(
            {
                "snapshot": [
                    "This workspace has no snapshot with that hash: PUT it to /snapshots/{sha256}/ first."
                ]
            }
        )
    return target, snapshot


class RunList(WorkspaceView):
    @extend_schema(
        parameters=[
            OpenApiParameter("experiment", str),
            OpenApiParameter("status", str, enum=RunStatus.values),
            OpenApiParameter("target", str),
            OpenApiParameter("before", int, description="Runs with an id below this (the next page)."),
            OpenApiParameter("limit", int, description=f"At most {RUNS_LIMIT_MAX}."),
        ],
        responses=RunPageSerializer,
        summary="The workspace's runs, newest first",
        operation_id="runs_list",
    )
    def get(self, request, workspace):
        limit = _int_param(request, "limit", 50, low=1, high=RUNS_LIMIT_MAX)
        before = _int_param(request, "before")
        runs, more = selectors.run_page(
            workspace=self.workspace,
            experiment=request.query_params.get("experiment", ""),
            status=request.query_params.get("status", ""),
            target=request.query_params.get("target", ""),
            before=before,
            limit=limit,
        )
        next_url = None
        if more:
            query = request.query_params.copy()
            query["before"] = runs[-1].pk
            next_url = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
        return Response(
            {
                "results": RunSerializer(runs, many=True, context={"request": request, "listing": True}).data,
                "next": next_url,
            }
        )

    @extend_schema(request=RunSubmitSerializer, responses={201: RunSerializer}, summary="Submit a run")
    def post(self, request, workspace):
        given = RunSubmitSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        target, snapshot = target_and_snapshot(self.workspace, data)
        run = services.run_submit(
            workspace=self.workspace,
            user=request.user,
            experiment_name=data["experiment"],
            target=target,
            snapshot=snapshot,
            script=data["script"],
            arguments=data["arguments"],
            environment=dict(data.get("environment") or {"kind": "user"}),
            node_count=data["node_count"],
            processes_per_node=data["processes_per_node"],
            partition=data["partition"],
        )
        run = selectors.run_get(workspace=self.workspace, pk=run.pk)
        return Response(RunSerializer(run, context={"request": request}).data, status=status.HTTP_201_CREATED)


class RunDetail(WorkspaceView):
    @extend_schema(responses=RunSerializer, summary="One run")
    def get(self, request, workspace, pk):
        run = selectors.run_get(workspace=self.workspace, pk=pk)
        return Response(RunSerializer(run, context={"request": request}).data)


class RunCancel(WorkspaceView):
    @extend_schema(request=None, responses={202: RunSerializer}, summary="Cancel a run")
    def post(self, request, workspace, pk):
        run = selectors.run_get(workspace=self.workspace, pk=pk)
        services.run_cancel(run=run, user=request.user)
        run = selectors.run_get(workspace=self.workspace, pk=pk)
        return Response(
            RunSerializer(run, context={"request": request}).data, status=status.HTTP_202_ACCEPTED
        )


class RunRerunSerializer(serializers.Serializer):
    target = serializers.CharField(
        max_length=32,
        required=False,
        allow_blank=True,
        help_text="Another target's name; the run's own by default.",
    )


class RunRerun(WorkspaceView):
    @extend_schema(
        request=RunRerunSerializer,
        responses={201: RunSerializer},
        summary="Run a run again: the same snapshot, script, arguments and environment, on its target or another",
    )
    def post(self, request, workspace, pk):
        run = selectors.run_get(workspace=self.workspace, pk=pk)
        given = RunRerunSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        name = given.validated_data.get("target", "").strip()
        target = None
        if name:
            target = ComputeTarget.objects.filter(workspace=self.workspace, name=name).first()
            if target is None:
                raise serializers.ValidationError({"target": [f"No compute target “{name}” here."]})
        new_run = services.run_rerun(run=run, user=request.user, target=target)
        new_run = selectors.run_get(workspace=self.workspace, pk=new_run.pk)
        return Response(
            RunSerializer(new_run, context={"request": request}).data, status=status.HTTP_201_CREATED
        )


class RunLogs(WorkspaceView):
    @extend_schema(
        parameters=[
            OpenApiParameter("after", int, description="The last seq you have (-1 for the start)."),
            OpenApiParameter("limit", int, description=f"At most {LOG_LIMIT_MAX} chunks."),
            OpenApiParameter(
                "timeout", float, description=f"Seconds to wait for new lines (at most {LOG_WAIT_MAX:g})."
            ),
        ],
        responses=LogPageSerializer,
        summary="Log lines after seq N, waiting for new ones (long-poll)",
    )
    def get(self, request, workspace, pk):
        run = selectors.run_get(workspace=self.workspace, pk=pk)
        after = _int_param(request, "after", -1, low=-1)
        limit = _int_param(request, "limit", LOG_LIMIT_MAX, low=1, high=LOG_LIMIT_MAX)
        try:
            wait = min(max(float(request.query_params.get("timeout") or 0), 0.0), LOG_WAIT_MAX)
        except ValueError:
            raise serializers.ValidationError({"timeout": ["Give the wait in seconds, e.g. 20."]}) from None
        deadline = time.monotonic() + wait
        step = LOG_WAIT_STEPS[0]  # soon at first (a run's first lines), then rarely
        while True:
            # The status is read before the chunks: a run seen finished has stored all its lines.
            current = Run.objects.filter(pk=run.pk).values_list("status", flat=True).first()
            page = selectors.log_page(run=run, after=after, limit=limit)
            if page["chunks"] or current in TERMINAL or time.monotonic() >= deadline:
                break
            if not connection.in_atomic_block:
                connection.close()  # back to the pool while waiting: followers must not hold connections
            time.sleep(min(step, max(deadline - time.monotonic(), 0)))
            step = min(step * 1.5, LOG_WAIT_STEPS[1])
        chunks = page["chunks"]
        return Response(
            {
                "chunks": chunks,
                "last_seq": chunks[-1]["seq"] if chunks else after,
                "more": page["more"],
                "status": current,
                "finished": current in TERMINAL,
            }
        )


class RunMetrics(WorkspaceView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "name", str, many=True, description="Only these metrics (repeat the parameter)."
            ),
            OpenApiParameter("min_step", int),
            OpenApiParameter("max_step", int),
            OpenApiParameter(
                "max_points", int, description=f"At most {selectors.METRIC_POINTS_MAX}, as the chart."
            ),
        ],
        responses=OpenApiTypes.OBJECT,
        summary="A run's metric points, as the chart reads them",
    )
    def get(self, request, workspace, pk):
        run = selectors.run_get(workspace=self.workspace, pk=pk)
        series, truncated = selectors.run_metrics(
            run=run,
            names=request.query_params.getlist("name"),
            min_step=_int_param(request, "min_step"),
            max_step=_int_param(request, "max_step"),
            limit=_int_param(request, "max_points", selectors.METRIC_POINTS_MAX, low=1),
        )
        return Response({"metrics": series, "truncated": truncated})


class RunOutputs(WorkspaceView):
    @extend_schema(responses=OutputSerializer(many=True), summary="A run's output files")
    def get(self, request, workspace, pk):
        run = selectors.run_get(workspace=self.workspace, pk=pk)
        return Response(list(run.outputs.order_by("path").values("path", "size")))


class RunOutputFile(WorkspaceView):
    @extend_schema(
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY}, summary="One output file"
    )
    def get(self, request, workspace, pk, path):
        run = selectors.run_get(workspace=self.workspace, pk=pk)
        return downloads.output_response(run, path)


class RunOutputsZip(WorkspaceView):
    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY}, summary="All outputs as a zip")
    def get(self, request, workspace, pk):
        run = selectors.run_get(workspace=self.workspace, pk=pk)
        return downloads.outputs_zip_response(run)
