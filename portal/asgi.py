import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from portal.routing import websocket_urlpatterns  # noqa: E402
from runs.upload_limit import UploadLimitASGI  # noqa: E402

application = ProtocolTypeRouter(
    {
        # Oversized uploads are refused before Django spools their body.
        "http": UploadLimitASGI(django_asgi_app),
        # Origin checked against ALLOWED_HOSTS (a missing Origin is refused),
        # then the session's user; each consumer checks the object's workspace.
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
