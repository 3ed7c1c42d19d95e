from typing import Any

from asgiref.typing import WebSocketResponseBodyEvent, WebSocketResponseStartEvent
from channels.auth import AuthMiddlewareStack
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import re_path

from sessions_app.board_consumer import BoardConsumer
from sessions_app.ocpp.consumer import OcppConsumer


async def refuse_websocket(scope, receive, send):
    """A websocket to any other path is refused at the handshake with HTTP 404, as the same path over plain HTTP
    is, not left to the router (an HTTP 500).

    The status needs the ASGI websocket.http.response extension (uvicorn's implementations offer it); a server
    without it can only close the handshake, which its client sees as 403. A bare ASGI app, not a consumer: junk
    handshakes cost no channel on the channel layer.
    """
    if (await receive())["type"] != "websocket.connect":
        return
    if "websocket.http.response" not in (scope.get("extensions") or {}):
        await send({"type": "websocket.close", "code": 1000})
        return
    start: WebSocketResponseStartEvent = {
        "type": "websocket.http.response.start",
        "status": 404,
        "headers": [(b"content-type", b"text/plain; charset=utf-8")],
    }
    body: WebSocketResponseBodyEvent = {
        "type": "websocket.http.response.body",
        "body": b"Not Found\n",
        "more_body": False,
    }
    await send(start)
    await send(body)


# ws://HOST/ocpp/<charge point id>, or /ocpp/<operator slug>/<id> where the operator auto-registers chargers.
# A charge point id is any one path segment except "." and ".." (a path like /ocpp/%2e%2e is no charger's).
# django-stubs type re_path for views only; channels' URLRouter takes ASGI applications.
websocket_urlpatterns: list[Any] = [
    # The admin's live board: a browser's, so its session cookie signs it in and its Origin must be ours.
    re_path(r"^ws/board/$", AllowedHostsOriginValidator(AuthMiddlewareStack(BoardConsumer.as_asgi()))),
    re_path(
        r"^ocpp/(?:(?P<organization_slug>[-a-zA-Z0-9_]+)/)?(?!\.\.?/?$)(?P<ocpp_id>[^/]+)/?$",
        OcppConsumer.as_asgi(),  # type: ignore[arg-type]
    ),
    re_path(r"", refuse_websocket),
]
