"""The one ASGI application: pages, admin (and later the API) over HTTP, chargers over OCPP websockets."""

import os

from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chargeportal.settings")
http_application = get_asgi_application()

from sessions_app.ocpp.routing import websocket_urlpatterns  # noqa: E402  (needs the apps loaded)

application = ProtocolTypeRouter({"http": http_application, "websocket": URLRouter(websocket_urlpatterns)})
