"""Compute targets over the REST API: the same services the pages' buttons call.

Every view is thin: a selector reads, a serializer checks, a service acts, and a
service's refusal (``TargetActionError``) comes back as a 400 with its message."""

from django.urls import reverse
from django.views.decorators.debug import sensitive_variables
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from portal.api.scoping import WorkspaceView

from . import lifecycle, selectors, services
from .backends import addable_backends
from .models import Origin
from .serializers import (
    HostKeyDecisionSerializer,
    SizeSerializer,
    TargetCreateSerializer,
    TargetEventSerializer,
    TargetSerializer,
    create_request_schemas,
)

TAGS = ["compute"]


class TargetView(WorkspaceView):
    """A view of one target, named in the URL."""

    def target(self):
        return selectors.target_get(workspace=self.workspace, name=self.kwargs["name"])

    def answer(self, target, code=status.HTTP_200_OK):
        if target.pk:
            target.refresh_from_db()
        return Response(TargetSerializer(target, context={"request": self.request}).data, status=code)


class TargetList(WorkspaceView):
    @extend_schema(
        tags=TAGS,
        summary="The workspace's compute targets",
        parameters=[
            OpenApiParameter("kind", str, description="Only this kind."),
            OpenApiParameter("state", str, description="Only targets in this state."),
        ],
        responses=TargetSerializer(many=True),
    )
    def get(self, request, workspace):
        targets = selectors.target_list(
            workspace=self.workspace,
            kind=request.query_params.get("kind", ""),
            state=request.query_params.get("state", ""),
        )
        targets = selectors.with_state_reason(targets)
        return Response(TargetSerializer(targets, many=True, context={"request": request}).data)

    @extend_schema(
        tags=TAGS,
        summary="Create or attach a compute target",
        description="The body is the kind's form, as on the “+ Add compute” page: the same fields, "
        "the same checks. Secrets (password, private_key, TLS keys) are stored encrypted and never returned.",
        request=PolymorphicProxySerializer(
            component_name="TargetCreate", serializers=create_request_schemas, resource_type_field_name="kind"
        ),
        responses={201: TargetSerializer},
    )
    @sensitive_variables()
    def post(self, request, workspace):
        serializer = TargetCreateSerializer(data=request.data, workspace=self.workspace)
        serializer.is_valid(raise_exception=True)
        target = services.target_add(workspace=self.workspace, user=request.user, **serializer.validated_data)
        response = Response(TargetSerializer(target, context={"request": request}).data, status=201)
        response["Location"] = reverse("api-target", args=[self.workspace.slug, target.name])
        return response


class TargetDetail(TargetView):
    @extend_schema(tags=TAGS, summary="One compute target", responses=TargetSerializer)
    def get(self, request, workspace, name):
        return self.answer(self.target())

    @extend_schema(
        tags=TAGS,
        summary="Detach an attached target, delete a created one",
        description="Detaching forgets the target and changes nothing on the machine. Deleting removes "
        "what the portal created; it goes on in the background (state Deleting).",
        request=None,
        responses={202: TargetSerializer},
    )
    def delete(self, request, workspace, name):
        target = self.target()
        if target.origin == Origin.CREATED:
            lifecycle.target_request_delete(target=target, user=request.user)
            return self.answer(target, status.HTTP_202_ACCEPTED)
        before = TargetSerializer(target, context={"request": request}).data  # detaching deletes the row
        services.target_detach(target=target, user=request.user)
        return Response(before, status=status.HTTP_202_ACCEPTED)


def action_view(name: str, service, summary: str):
    """A POST that asks a service for something a task then does: 202 with the target."""

    class ActionView(TargetView):
        @extend_schema(tags=TAGS, summary=summary, request=None, responses={202: TargetSerializer})
        def post(self, request, workspace, name):
            target = self.target()
            service(target=target, user=request.user)
            return self.answer(target, status.HTTP_202_ACCEPTED)

    ActionView.__name__ = ActionView.__qualname__ = name
    return ActionView


TargetCheck = action_view(
    "TargetCheck", services.target_request_check, "Check the target again (connect and preflight)"
)
TargetStop = action_view(
    "TargetStop", lifecycle.target_request_stop, "Stop a created VM (400 for kinds that cannot stop)"
)
TargetStart = action_view(
    "TargetStart", lifecycle.target_request_start, "Start a stopped VM (400 for kinds that cannot start)"
)


class TargetHostKey(TargetView):
    def write_role_for(self, request) -> str:
        return services.host_key_role(self.target())

    @extend_schema(
        tags=TAGS,
        summary="Confirm (pin) or reject the host key an SSH host presented",
        description='Confirm with the fingerprint you compared: `{"fingerprint": "SHA256:..."}`; '
        'reject with `{"action": "reject"}`. Re-pinning a changed key needs the owner role.',
        request=HostKeyDecisionSerializer,
        responses=TargetSerializer,
    )
    def post(self, request, workspace, name):
        target = self.target()
        decision = HostKeyDecisionSerializer(data=request.data)
        decision.is_valid(raise_exception=True)
        if decision.validated_data["action"] == "reject":
            services.target_reject_host_key(target=target, user=request.user)
        else:
            services.target_confirm_host_key(
                target=target, user=request.user, fingerprint=decision.validated_data["fingerprint"]
            )
        return self.answer(target)


class TargetEvents(TargetView):
    @extend_schema(
        tags=TAGS,
        summary="The target's state changes, newest first, each with its reason",
        parameters=[OpenApiParameter("limit", int, description="At most this many (1 to 200, default 50).")],
        responses=TargetEventSerializer(many=True),
    )
    def get(self, request, workspace, name):
        limit = request.query_params.get("limit", "50")
        if not limit.isdigit() or not 1 <= int(limit) <= 200:
            raise ValidationError({"limit": ["A whole number from 1 to 200."]})
        events = selectors.target_events(target=self.target(), limit=int(limit))
        return Response(TargetEventSerializer(events, many=True).data)


class SizeList(WorkspaceView):
    @extend_schema(
        tags=TAGS,
        summary="Sizes a created VM or container instance can have here",
        description="Derived from the create forms' engine choices and each engine's CPUs, memory and "
        "GPU runtime. Merge a size's `fields` into a create request to ask for it.",
        responses=SizeSerializer(many=True),
    )
    def get(self, request, workspace):
        sizes: dict[tuple, dict] = {}
        for backend in addable_backends():
            for size in backend.sizes(self.workspace):
                entry = sizes.setdefault((size["engine"], size["name"]), {**size, "kinds": []})
                entry["kinds"].append(backend.kind)
        return Response(SizeSerializer(sizes.values(), many=True).data)
