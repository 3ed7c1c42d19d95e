"""Charger handshakes run side by side: one waiting on the database (a slow query, a lock) holds up no other.

Before, the handshake's database work ran on Channels' one shared thread (``thread_sensitive=True``): every
charger's handshake queued behind the slowest. Here charger A's handshake is held inside the service until the
test lets it go, and charger B's must complete meanwhile, on the real consumer in this process.
"""

import asyncio
import threading

import pytest
from asgiref.testing import ApplicationCommunicator

from chargeportal.asgi import application
from sessions_app import services
from sessions_app.models import ChargePoint
from tests.threads import in_thread

pytestmark = pytest.mark.django_db(transaction=True)


def _scope(ocpp_id: str, port: int) -> dict:
    path = f"/ocpp/{ocpp_id}"
    return {
        "type": "websocket",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [],
        "subprotocols": ["ocpp1.6"],
        "client": ("127.0.0.1", port),
        "server": ("127.0.0.1", 80),
    }


def test_a_handshake_held_in_the_database_does_not_hold_up_another_chargers(world, monkeypatch):
    slow_id = world.cp_a.ocpp_id
    entered, release = threading.Event(), threading.Event()
    connect = services.charge_point_connect

    def held_for_a(**handshake):
        if handshake["ocpp_id"] == slow_id:
            entered.set()
            if not release.wait(20):  # the test's own safety net: never hang the run
                raise TimeoutError("charger A's handshake was never let go")
        return connect(**handshake)

    monkeypatch.setattr(services, "charge_point_connect", held_for_a)

    async def scenario() -> tuple[str, bool, str]:
        a = ApplicationCommunicator(application, _scope(slow_id, 50001))
        b = ApplicationCommunicator(application, _scope(world.cp_b.ocpp_id, 50002))
        await a.send_input({"type": "websocket.connect"})
        assert await in_thread(entered.wait, 10), "charger A's handshake never reached the service"
        await b.send_input({"type": "websocket.connect"})
        try:
            b_answer = (await b.receive_output(5))["type"]  # serialized: B waits for A, and this times out
            a_still_held = await a.receive_nothing(0.1)
        finally:
            release.set()
        a_answer = (await a.receive_output(10))["type"]
        for communicator in (a, b):
            await communicator.send_input({"type": "websocket.disconnect", "code": 1000})
            await communicator.wait(10)
        return b_answer, a_still_held, a_answer

    b_answer, a_still_held, a_answer = asyncio.run(scenario())
    assert b_answer == "websocket.accept"
    assert a_still_held  # B was accepted while A's handshake was still in the database
    assert a_answer == "websocket.accept"
    assert set(
        ChargePoint.objects.filter(pk__in=[world.cp_a.pk, world.cp_b.pk]).values_list("channel_name", flat=True)
    ) == {""}
