from portal.live import LiveConsumer
from portal.models import Membership

from .live import target_group, target_list_group
from .models import ComputeTarget


class TargetListConsumer(LiveConsumer):
    """Row updates for the compute list of one workspace."""

    def group_for(self, user):
        workspace_id = self.scope["url_route"]["kwargs"]["workspace_id"]
        if Membership.objects.filter(user=user, workspace_id=workspace_id).exists():
            return target_list_group(workspace_id)
        return None


class TargetConsumer(LiveConsumer):
    """Status pushes for one target's page."""

    def group_for(self, user):
        target_id = self.scope["url_route"]["kwargs"]["target_id"]
        if ComputeTarget.objects.filter(pk=target_id, workspace__memberships__user=user).exists():
            return target_group(target_id)
        return None
