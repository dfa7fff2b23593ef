from compute.routing import websocket_urlpatterns as compute_ws
from dashboard.routing import websocket_urlpatterns as dashboard_ws
from runs.routing import websocket_urlpatterns as runs_ws

websocket_urlpatterns = [*compute_ws, *runs_ws, *dashboard_ws]
