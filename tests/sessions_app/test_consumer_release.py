"""A charger's disconnect is stored however its connection ends, even when the server's own code fails."""

import asyncio

import pytest
from asgiref.testing import ApplicationCommunicator

from chargeportal.asgi import application
from sessions_app.models import ChargePoint, ChargerConnection
from sessions_app.ocpp.v16 import CentralSystem16


def test_an_error_while_handling_a_frame_still_stores_the_disconnect(transactional_db, world, monkeypatch):
    async def broken(self, raw):
        raise RuntimeError("a bug in a handler")

    monkeypatch.setattr(CentralSystem16, "route_message", broken)
    path = f"/ocpp/{world.cp_a.ocpp_id}"
    scope = {
        "type": "websocket",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [],
        "subprotocols": ["ocpp1.6"],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }

    async def connect_then_fail() -> str:
        communicator = ApplicationCommunicator(application, scope)
        await communicator.send_input({"type": "websocket.connect"})
        accepted = await communicator.receive_output(5)
        await communicator.send_input({"type": "websocket.receive", "text": '[2, "1", "Heartbeat", {}]'})
        with pytest.raises(RuntimeError, match="a bug in a handler"):
            await communicator.wait(10)
        return accepted["type"]

    assert asyncio.run(connect_then_fail()) == "websocket.accept"
    assert ChargePoint.objects.get(pk=world.cp_a.pk).channel_name == ""
    assert not ChargerConnection.objects.filter(charge_point=world.cp_a, disconnected_at__isnull=True).exists()
    assert ChargerConnection.objects.filter(charge_point=world.cp_a).count() == 1
