from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import re_path

from sessions_app.ocpp.consumer import OcppConsumer


class UnknownPathConsumer(AsyncWebsocketConsumer):
    """A websocket to any other path is refused at the handshake (403), not left to the router (an HTTP 500)."""

    async def connect(self):
        await self.close()


# ws://HOST/ocpp/<charge point id>, or /ocpp/<operator slug>/<id> where the operator auto-registers chargers.
websocket_urlpatterns = [
    re_path(r"^ocpp/(?:(?P<organization_slug>[-a-zA-Z0-9_]+)/)?(?P<ocpp_id>[^/]+)/?$", OcppConsumer.as_asgi()),
    re_path(r"", UnknownPathConsumer.as_asgi()),
]
