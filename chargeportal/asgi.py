"""The one ASGI application: pages, admin (and later the API) over HTTP, chargers over OCPP websockets."""

import gc
import os

from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chargeportal.settings")
http_application = get_asgi_application()

from sessions_app.ocpp.consumer import disconnect_all  # noqa: E402  (needs the apps loaded)
from sessions_app.ocpp.routing import websocket_urlpatterns  # noqa: E402
from sessions_app.sweeper import sweeper_start, sweeper_stop  # noqa: E402
from sessions_app.upload_asgi import upload_body_limit  # noqa: E402


async def lifespan(scope, receive, send):
    """On a stop (SIGTERM) uvicorn closes every charger's socket with 1012 (service restart: it reconnects),
    waits for their handlers at most --timeout-graceful-shutdown seconds, then sends lifespan.shutdown: the
    connections whose disconnect was not stored by then are stored as ended here, all at once.
    Without a broker the server also sweeps while it runs (there is no beat to do it): post-stop work, and
    connections a killed server process left open."""
    sweeper = None
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            sweeper = sweeper_start()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await sweeper_stop(sweeper)
            await disconnect_all()
            await send({"type": "lifespan.shutdown.complete"})
            return


application = ProtocolTypeRouter(
    {
        "http": upload_body_limit(http_application),  # chargers' uploads: 413 before a too large body is read
        "websocket": URLRouter(websocket_urlpatterns),
        "lifespan": lifespan,
    }
)

# Thousands of long-lived connections make full garbage collections slow (they showed as the slowest
# answers under load): leave what start-up built out of them, and collect the youngest objects less often.
gc.freeze()
gc.set_threshold(50_000, 20, 20)
