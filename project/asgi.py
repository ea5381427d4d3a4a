"""ASGI entry point: Django for HTTP, Channels for websockets (session auth, same-origin check: project.origin).

The wrapper records the server's event loop for the in-process runner (see tasks_app.runs.inprocess).
"""

import asyncio
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings.base")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from project.origin import SameOriginValidator  # noqa: E402
from tasks_app.routing import websocket_urlpatterns  # noqa: E402
from tasks_app.runs import inprocess  # noqa: E402

router = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # the origin check compares scheme, host and port (project.origin)
        "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),  # type: ignore[arg-type]
    }
)


async def application(scope, receive, send):  # type: ignore[no-untyped-def]
    inprocess.attach_loop(asyncio.get_running_loop())
    return await router(scope, receive, send)
