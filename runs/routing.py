from django.urls import path

from . import consumers

websocket_urlpatterns = [
    path("ws/runs/<int:run_id>/", consumers.RunConsumer.as_asgi()),
    path("ws/sweeps/<int:sweep_id>/", consumers.SweepConsumer.as_asgi()),
]
