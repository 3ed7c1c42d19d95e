"""A charger on the real OCPP consumer, in this process: the ASGI websocket messages, no server."""

import json

from asgiref.testing import ApplicationCommunicator
from channels.routing import URLRouter

from sessions_app.ocpp.routing import websocket_urlpatterns


class ChargerSocket:
    """``async with ChargerSocket("CP-1") as charger: answer = await charger.call("Heartbeat", {})``."""

    def __init__(self, ocpp_id: str, subprotocols: tuple[str, ...] = ("ocpp1.6",)):
        scope = {
            "type": "websocket",
            "path": f"/ocpp/{ocpp_id}",
            "subprotocols": list(subprotocols),
            "headers": [],
            "client": ("127.0.0.1", 50000),
        }
        self.communicator = ApplicationCommunicator(URLRouter(websocket_urlpatterns), scope)
        self.sent = 0
        self.subprotocol: str | None = None  # the one the server chose

    async def __aenter__(self) -> "ChargerSocket":
        await self.communicator.send_input({"type": "websocket.connect"})
        accept = await self.communicator.receive_output(10)
        assert accept["type"] == "websocket.accept"
        self.subprotocol = accept.get("subprotocol")
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.communicator.send_input({"type": "websocket.disconnect", "code": 1000})
        await self.communicator.wait(10)

    async def call(self, action: str, payload: dict) -> list:
        """Send a CALL and return the whole answer frame (CALLRESULT or CALLERROR)."""
        self.sent += 1
        await self.communicator.send_input(
            {"type": "websocket.receive", "text": json.dumps([2, f"m-{self.sent}", action, payload])}
        )
        return json.loads((await self.communicator.receive_output(10))["text"])
