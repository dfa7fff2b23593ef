"""The dashboard's live "now" block: pushed to the workspace's dashboard
group after commit whenever a run or target changes state."""

from django.db import transaction
from django.template.loader import render_to_string

from portal.pushes import send_later

NOW = "dashboard/dashboard.html#now"


def dashboard_group(workspace_id: int) -> str:
    return f"workspace-{workspace_id}-dashboard"


def render_now(workspace_id: int) -> str:
    from .figures import now_state

    return render_to_string(NOW, {"now": now_state([workspace_id])})


def push_now(workspace_id: int) -> None:
    """After commit, the workspace's dashboards get the "now" block as it is then."""

    def send():
        send_later([(dashboard_group(workspace_id), {"type": "push.html", "html": render_now(workspace_id)})])

    transaction.on_commit(send)
