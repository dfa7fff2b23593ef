from django.urls import path

from . import consumers

websocket_urlpatterns = [
    path("ws/workspaces/<int:workspace_id>/dashboard/", consumers.DashboardConsumer.as_asgi()),
]
