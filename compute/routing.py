from django.urls import path

from . import consumers

websocket_urlpatterns = [
    path("ws/workspaces/<int:workspace_id>/targets/", consumers.TargetListConsumer.as_asgi()),
    path("ws/targets/<int:target_id>/", consumers.TargetConsumer.as_asgi()),
]
