"""The one ASGI application: pages, admin (and later the API) over HTTP, chargers over OCPP websockets."""

import gc
import os

from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chargeportal.settings")
http_application = get_asgi_application()

from sessions_app.ocpp.routing import websocket_urlpatterns  # noqa: E402  (needs the apps loaded)

application = ProtocolTypeRouter({"http": http_application, "websocket": URLRouter(websocket_urlpatterns)})

# Thousands of long-lived connections make full garbage collections slow (they showed as the slowest
# answers under load): leave what start-up built out of them, and collect the youngest objects less often.
gc.freeze()
gc.set_threshold(50_000, 20, 20)
