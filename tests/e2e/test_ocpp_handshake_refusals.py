"""Handshakes the real server (uvicorn) refuses: each is logged and recorded as a security event, and none holds
up the server's stop."""

import asyncio
import base64
import uuid

import pytest
import websockets
from django.conf import global_settings

from sessions_app.models import SecurityEvent
from tests.factories import make_charge_point

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


SECRET = "a-long-charger-secret-42"


async def _handshake_refusal(url: str, ocpp_id: str, password: str | None) -> tuple[int, str | None]:
    """The status and Basic challenge a handshake is refused with; (101, None) when it is accepted."""
    headers = (
        {}
        if password is None
        else {"Authorization": "Basic " + base64.b64encode(f"{ocpp_id}:{password}".encode()).decode()}
    )
    try:
        async with websockets.connect(f"{url}/ocpp/{ocpp_id}", subprotocols=["ocpp1.6"], additional_headers=headers):
            return 101, None
    except websockets.exceptions.InvalidStatus as refusal:
        return refusal.response.status_code, refusal.response.headers.get("WWW-Authenticate")


def test_missing_or_wrong_credentials_and_unknown_ids_are_answered_401_with_a_basic_challenge(
    asgi_server, world, settings
):
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS  # as the server process checks them
    charger = make_charge_point(world.site_a, f"SECURE-{uuid.uuid4().hex[:8]}")  # no failures counted for it yet
    charger.set_password(SECRET)
    charger.save()
    challenge = 'Basic realm="OCPP"'

    assert asyncio.run(_handshake_refusal(asgi_server, charger.ocpp_id, None)) == (401, challenge)
    assert asyncio.run(_handshake_refusal(asgi_server, charger.ocpp_id, "not-the-secret")) == (401, challenge)
    assert asyncio.run(_handshake_refusal(asgi_server, "NO-SUCH-CHARGER", SECRET)) == (401, challenge)
    assert asyncio.run(_handshake_refusal(asgi_server, charger.ocpp_id, SECRET)) == (101, None)
    assert set(SecurityEvent.objects.values_list("kind", "detail")) == {
        (SecurityEvent.Kind.BAD_PASSWORD, "missing"),
        (SecurityEvent.Kind.BAD_PASSWORD, "wrong"),
        (SecurityEvent.Kind.UNKNOWN_CHARGER, ""),
    }
