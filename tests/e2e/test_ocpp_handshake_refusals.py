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
def test_a_charger_offering_no_ocpp_version_of_ours_is_refused_recorded_and_the_server_still_stops_at_once(
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
    refused = "Refused charger 'ALPHA-1' from 127.0.0.1: it offers ['ocpp0.1'], none of ocpp2.1, ocpp2.0.1, ocpp1.6"
    assert refused in server.log_tail()
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


def _flood_server(server_process, settings):
    """A server with the production lockout limits that takes the client address from X-Forwarded-For (a proxy on
    loopback), so the test's own addresses are locked out, not 127.0.0.1 that every test connects from; the counts
    live in the server's cache (Redis when REDIS_URL is set, where they outlive the test: ids and addresses are new
    each run)."""
    server = server_process(
        OCPP_AUTH_FAILURES_PER_ID="5",
        OCPP_AUTH_FAILURES_PER_ADDRESS="20",
        OCPP_AUTH_FAILURE_WINDOW="300",
        OCPP_AUTH_LOCKOUT="60",
        SECURITY_EVENT_WINDOW="300",
        TRUSTED_PROXIES="127.0.0.1",
        FORWARDED_ALLOW_IPS="127.0.0.1",
    )
    if not settings.REDIS_URL:
        server.manage("createcachetable")
    server.start()
    return server


async def _handshake_from(url: str, ocpp_id: str, password: str | None, address: str) -> int:
    """The status of a handshake sent through the proxy for a client at ``address`` (101: accepted)."""
    headers = {"X-Forwarded-For": address}
    if password is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{ocpp_id}:{password}".encode()).decode()
    try:
        async with websockets.connect(f"{url}/ocpp/{ocpp_id}", subprotocols=["ocpp1.6"], additional_headers=headers):
            return 101
    except websockets.exceptions.InvalidStatus as refusal:
        return refusal.response.status_code


def test_a_flood_of_wrong_passwords_locks_the_charger_id_out_so_even_the_right_one_is_refused(
    world, server_process, settings
):
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS  # as the server process checks them
    run = uuid.uuid4().hex[:8]
    charger = make_charge_point(world.site_a, f"FLOOD-{run}")
    charger.set_password(SECRET)
    charger.save()
    server = _flood_server(server_process, settings)
    attackers = [f"2001:db8:{run[:4]}:{run[4:]}::{n + 1:x}" for n in range(12)]  # a new address for every guess

    async def flood() -> tuple[list[int], int]:
        guesses = [await _handshake_from(server.url, charger.ocpp_id, f"guess-{n}", a) for n, a in enumerate(attackers)]
        return guesses, await _handshake_from(server.url, charger.ocpp_id, SECRET, f"2001:db8:{run[:4]}:{run[4:]}::ff")

    guesses, right_password = asyncio.run(flood())
    assert guesses == [401] * 12
    assert right_password == 401  # locked out: no password is even checked
    events = {(e.kind, e.detail): e for e in SecurityEvent.objects.filter(ocpp_id=charger.ocpp_id)}
    assert set(events) == {
        (SecurityEvent.Kind.BAD_PASSWORD, "wrong"),
        (SecurityEvent.Kind.LOCKED_OUT, "id locked"),
    }, "one aggregated row for each kind of refusal"
    assert events[SecurityEvent.Kind.BAD_PASSWORD, "wrong"].count == 5  # the fifth locked it
    locked = events[SecurityEvent.Kind.LOCKED_OUT, "id locked"]
    assert (locked.count, locked.charge_point, locked.organization) == (12 - 5 + 1, charger, world.org_a)


def test_a_flood_of_rotating_unknown_ids_from_one_address_locks_that_address_out(world, server_process, settings):
    run = uuid.uuid4().hex[:8]
    attacker, neighbour = f"2001:db8:{run[:4]}:{run[4:]}::66", f"2001:db8:{run[:4]}:{run[4:]}::10"
    server = _flood_server(server_process, settings)

    async def flood() -> tuple[list[int], int, int]:
        scans = [await _handshake_from(server.url, f"SCAN-{run}-{n}", None, attacker) for n in range(25)]
        known_from_attacker = await _handshake_from(server.url, world.cp_b.ocpp_id, None, attacker)
        known_elsewhere = await _handshake_from(server.url, world.cp_b.ocpp_id, None, neighbour)
        return scans, known_from_attacker, known_elsewhere

    scans, known_from_attacker, known_elsewhere = asyncio.run(flood())
    assert scans == [401] * 25
    assert known_from_attacker == 401  # the address is locked for every charger behind it, known ones too
    assert known_elsewhere == 101
    events = SecurityEvent.objects.filter(remote_address=attacker)
    assert sorted((e.kind, e.detail, e.count) for e in events) == sorted(
        [
            (SecurityEvent.Kind.UNKNOWN_CHARGER, "", 20),  # the twentieth locked the address
            (SecurityEvent.Kind.LOCKED_OUT, "address locked", 5),  # the scans after it
            (SecurityEvent.Kind.LOCKED_OUT, "address locked", 1),  # the known charger (another charger's row)
        ]
    )
