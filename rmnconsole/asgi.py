"""ASGI entry point (daphne rmnconsole.asgi:application): HTTP through Django, WebSockets for live updates."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rmnconsole.settings")
django_http = get_asgi_application()  # sets Django up before the routing below imports models

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from rmnconsole.core.disconnect import DisconnectWatch  # noqa: E402
from rmnconsole.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        # A sync view waiting on a worker (the /v1 endpoint) can see that its client hung up and stop the work.
        "http": DisconnectWatch(django_http),
        # Origin must be one of ALLOWED_HOSTS (a page of another site cannot open a socket with our cookie), then
        # the session cookie gives the user.
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
