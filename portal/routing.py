from compute.routing import websocket_urlpatterns as compute_ws

websocket_urlpatterns = [*compute_ws]
