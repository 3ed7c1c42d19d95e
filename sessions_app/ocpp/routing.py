from typing import Any

from django.urls import re_path

from sessions_app.ocpp.consumer import OcppConsumer


async def refuse_websocket(scope, receive, send):
    """A websocket to any other path is refused at the handshake (403), not left to the router (an HTTP 500).

    A bare ASGI app, not a consumer: junk handshakes cost no channel on the channel layer.
    """
    if (await receive())["type"] == "websocket.connect":
        await send({"type": "websocket.close", "code": 1000})


# ws://HOST/ocpp/<charge point id>, or /ocpp/<operator slug>/<id> where the operator auto-registers chargers.
# django-stubs type re_path for views only; channels' URLRouter takes ASGI applications.
websocket_urlpatterns: list[Any] = [
    re_path(r"^ocpp/(?:(?P<organization_slug>[-a-zA-Z0-9_]+)/)?(?P<ocpp_id>[^/]+)/?$", OcppConsumer.as_asgi()),  # type: ignore[arg-type]
    re_path(r"", refuse_websocket),
]
