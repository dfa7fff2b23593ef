"""Workspaces, and the API's own pages (schema, docs)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from portal import selectors

from .scoping import WorkspaceView


class WorkspaceSerializer(serializers.Serializer):
    name = serializers.CharField()
    slug = serializers.SlugField()
    role = serializers.CharField()
    local_target_allowed = serializers.BooleanField()


def workspace_payload(membership) -> dict:
    ws = membership.workspace
    return {
        "name": ws.name,
        "slug": ws.slug,
        "role": membership.role,
        "local_target_allowed": ws.local_target_allowed,
    }


class WorkspaceList(APIView):
    @extend_schema(
        responses=WorkspaceSerializer(many=True),
        summary="The workspaces you may use",
        operation_id="workspaces_list",
    )
    def get(self, request):
        memberships = selectors.user_memberships(user=request.user).order_by("workspace__name")
        token = request.auth
        if getattr(token, "workspace_id", None) is not None:
            memberships = memberships.filter(workspace_id=token.workspace_id)
        return Response([workspace_payload(m) for m in memberships])


class WorkspaceDetail(WorkspaceView):
    @extend_schema(responses=WorkspaceSerializer, summary="One workspace, with your role in it")
    def get(self, request, workspace):
        return Response(workspace_payload(self.membership))
