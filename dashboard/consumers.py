from portal.live import LiveConsumer
from portal.models import Membership

from .live import dashboard_group, render_now


class DashboardConsumer(LiveConsumer):
    """The "now" block of one workspace's dashboard, for its members only."""

    def group_for(self, user):
        workspace_id = self.scope["url_route"]["kwargs"]["workspace_id"]
        if Membership.objects.filter(user=user, workspace_id=workspace_id).exists():
            return dashboard_group(workspace_id)
        return None

    def current_html(self):
        return render_now(self.scope["url_route"]["kwargs"]["workspace_id"])
