"""Handshakes the real server (uvicorn) refuses: each is logged and recorded as a security event, and none holds
up the server's stop."""

import asyncio

import pytest
import websockets

from sessions_app.models import SecurityEvent

pytestmark = pytest.mark.django_db(transaction=True)


async def _handshake_status(url: str, subprotocols: list[str]) -> int:
    try:
        async with websockets.connect(url, subprotocols=subprotocols):
            return 101
    except websockets.exceptions.InvalidStatus as refusal:
        return refusal.response.status_code


# The stop hung (3 of 3) on the Redis channel layer (`make test` sets REDIS_URL) with uvicorn's legacy websockets
# implementation, its default before 0.35; "auto" is what `make serve` runs now.
@pytest.mark.parametrize("implementation", ["auto", "websockets"])
def test_a_charger_offering_no_ocpp_1_6_is_refused_recorded_and_the_server_still_stops_at_once(
    world, server_process, implementation
):
    server = server_process(UVICORN_WS=implementation)
    server.start()

    for _ in range(2):  # equal refusals are one event, counted
        assert asyncio.run(_handshake_status(f"{server.url}/ocpp/ALPHA-1", ["ocpp0.1"])) == 403
    took = server.terminate()

    event = SecurityEvent.objects.get(kind=SecurityEvent.Kind.SUBPROTOCOL_REFUSED)
    assert (event.charge_point, event.organization, event.detail, event.count) == (
        world.cp_a,
        world.org_a,
        "offered: ocpp0.1",
        2,
    )
    assert "Refused charger 'ALPHA-1' from 127.0.0.1: it offers ['ocpp0.1'], not ocpp1.6" in server.log_tail()
    assert "Waiting for background tasks" not in server.log_tail()
    assert took < 5
