"""Sweeps over the REST API: the service and selectors the pages use."""

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from portal.api.scoping import WorkspaceView

from ..api import RunSerializer, RunSubmitSerializer, target_and_snapshot
from ..models import Sweep
from . import orchestrator, services
from .selectors import sweep_summary


class SweepSubmitSerializer(RunSubmitSerializer):
    space = serializers.DictField(help_text='{"--alpha": {"type": "uniform", "low": 0, "high": 1}, ...}')
    sampling = serializers.ChoiceField(choices=services.SAMPLINGS)
    seed = serializers.IntegerField(required=False, allow_null=True, default=None)
    primary_metric_name = serializers.CharField(max_length=200)
    primary_metric_goal = serializers.ChoiceField(choices=services.GOALS, default="maximize")
    max_total_runs = serializers.IntegerField()
    max_concurrent_runs = serializers.IntegerField()
    max_duration_minutes = serializers.IntegerField(required=False, allow_null=True, default=None)
    policy = serializers.ChoiceField(choices=services.POLICIES, default="none")
    policy_options = serializers.DictField(required=False, default=dict)
    warm_start_from = serializers.IntegerField(required=False, allow_null=True, default=None)


def sweep_payload(sweep: Sweep, request) -> dict:
    summary = sweep_summary(sweep)
    context = {"request": request}
    children = {c.pk: c for c in sweep.run.children.select_related("experiment", "target", "snapshot")}
    rows = []
    for row in summary["children"]:
        child = RunSerializer(children[row["id"]], context=context).data
        child.update(trial_params=row["params"], primary_metric_value=row["value"], stop_reason=row["reason"])
        rows.append(child)
    best = next((r for r in rows if summary["best"] and r["id"] == summary["best"]["id"]), None)
    return {
        "id": sweep.pk,
        "run": RunSerializer(sweep.run, context=context).data,
        "state": sweep.state,
        "note": sweep.note,
        "space": sweep.space,
        "sampling": sweep.sampling,
        "seed": sweep.seed,
        "policy": sweep.policy,
        "policy_options": sweep.policy_options,
        "primary_metric_name": sweep.primary_metric,
        "primary_metric_goal": sweep.goal,
        "max_total_runs": sweep.max_total_runs,
        "max_concurrent_runs": sweep.max_concurrent_runs,
        "max_duration_minutes": sweep.max_duration_minutes,
        "warm_start_from": sweep.warm_start_from_id,
        "progress": {
            k: summary[k] for k in ("created", "total", "running", "completed", "stopped_early", "failed")
        },
        "finished": sweep.is_finished,
        "best": best,
        "children": rows,
    }


def _sweep(workspace, pk) -> Sweep:
    sweep = Sweep.objects.select_related("run").filter(pk=pk, run__workspace=workspace).first()
    if sweep is None:
        raise Http404("No such sweep here.")
    return sweep


class SweepList(WorkspaceView):
    @extend_schema(
        summary="The workspace's sweeps, newest first",
        operation_id="sweeps_list",
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request, workspace):
        sweeps = Sweep.objects.filter(run__workspace=self.workspace).select_related("run")[:100]
        return Response([sweep_payload(s, request) for s in sweeps])

    @extend_schema(
        request=SweepSubmitSerializer,
        responses={201: OpenApiTypes.OBJECT},
        summary="Start a hyperparameter sweep",
    )
    def post(self, request, workspace):
        given = SweepSubmitSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        target, snapshot = target_and_snapshot(self.workspace, data)
        warm = None
        if data["warm_start_from"] is not None:
            warm = Sweep.objects.filter(pk=data["warm_start_from"], run__workspace=self.workspace).first()
            if warm is None:
                raise serializers.ValidationError({"warm_start_from": ["No such sweep in this workspace."]})
        try:
            parent = services.sweep_submit(
                workspace=self.workspace,
                user=request.user,
                experiment_name=data["experiment"],
                target=target,
                snapshot=snapshot,
                script=data["script"],
                arguments=data["arguments"],
                environment=dict(data.get("environment") or {"kind": "user"}),
                space=data["space"],
                sampling=data["sampling"],
                seed=data["seed"],
                primary_metric=data["primary_metric_name"],
                goal=data["primary_metric_goal"],
                max_total_runs=data["max_total_runs"],
                max_concurrent_runs=data["max_concurrent_runs"],
                max_duration_minutes=data["max_duration_minutes"],
                policy=data["policy"],
                policy_options=data["policy_options"],
                warm_start_from=warm,
            )
        except services.SweepError as exc:
            field = {"primary_metric": "primary_metric_name"}.get(exc.field, exc.field)
            raise serializers.ValidationError({field: [str(exc)]}) from None
        sweep = _sweep(self.workspace, parent.pk)
        return Response(sweep_payload(sweep, request), status=status.HTTP_201_CREATED)


class SweepDetail(WorkspaceView):
    @extend_schema(summary="One sweep, with its children and the best so far", responses=OpenApiTypes.OBJECT)
    def get(self, request, workspace, pk):
        return Response(sweep_payload(_sweep(self.workspace, pk), request))


class SweepCancel(WorkspaceView):
    @extend_schema(
        request=None, responses={202: OpenApiTypes.OBJECT}, summary="Cancel a sweep and every child"
    )
    def post(self, request, workspace, pk):
        sweep = _sweep(self.workspace, pk)
        orchestrator.sweep_cancel(sweep_id=sweep.pk, user=request.user)
        sweep.refresh_from_db()
        return Response(sweep_payload(sweep, request), status=status.HTTP_202_ACCEPTED)
