from portal.live import LiveConsumer
from portal.models import Membership

from .live import render_target_live, render_target_row, target_group, target_list_group
from .models import ComputeTarget


class TargetListConsumer(LiveConsumer):
    """Row updates for the compute list of one workspace."""

    def group_for(self, user):
        workspace_id = self.scope["url_route"]["kwargs"]["workspace_id"]
        if Membership.objects.filter(user=user, workspace_id=workspace_id).exists():
            return target_list_group(workspace_id)
        return None

    def current_html(self):
        workspace_id = self.scope["url_route"]["kwargs"]["workspace_id"]
        targets = ComputeTarget.objects.filter(workspace_id=workspace_id)
        return "".join(render_target_row(target) for target in targets)


class TargetConsumer(LiveConsumer):
    """Status pushes for one target's page."""

    def group_for(self, user):
        target_id = self.scope["url_route"]["kwargs"]["target_id"]
        if ComputeTarget.objects.filter(pk=target_id, workspace__memberships__user=user).exists():
            return target_group(target_id)
        return None

    def current_html(self):
        target = ComputeTarget.objects.filter(pk=self.scope["url_route"]["kwargs"]["target_id"]).first()
        return render_target_live(target) if target else ""
