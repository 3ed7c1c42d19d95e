"""Hostile input against the real server (uvicorn): deep JSON, odd paths, non-numbers and huge vendor data
get a clean answer, and the connection's handling goes on as usual."""

import asyncio
import json

import pytest
import requests
import websockets
from ocpp.v16 import call

from sessions_app.models import ChargePoint, ChargerEvent, MeterValue, SecurityEvent
from tests.e2e.ocpp_client import connected, iso
from tests.threads import in_thread

pytestmark = pytest.mark.django_db(transaction=True)
DEEP = "[" * 5000 + "]" * 5000


def run(coroutine):
    return asyncio.run(coroutine)


async def _exchange(ws, frame: str) -> list:
    await ws.send(frame)
    return json.loads(await asyncio.wait_for(ws.recv(), 10))


def test_deeply_nested_frames_get_a_formation_violation_and_the_connection_goes_on(asgi_server, world):
    async def scenario():
        async with websockets.connect(f"{asgi_server}/ocpp/ALPHA-1", subprotocols=["ocpp1.6"]) as ws:
            with_id = await _exchange(ws, '[2, "deep-1", "DataTransfer", ' + DEEP + "]")
            without_id = await _exchange(ws, DEEP)
            heartbeat = await _exchange(ws, '[2, "hb-1", "Heartbeat", {}]')
            connected_meanwhile = await in_thread(lambda: ChargePoint.objects.get(pk=world.cp_a.pk).channel_name)
            return with_id, without_id, heartbeat, connected_meanwhile

    with_id, without_id, heartbeat, channel = run(scenario())
    assert with_id[:3] == [4, "deep-1", "FormationViolation"] and "deeper than" in with_id[3]
    assert without_id[:3] == [4, "-1", "FormationViolation"]
    assert heartbeat[:2] == [3, "hb-1"] and channel
    for _ in range(50):  # and the close is handled as any other
        if not ChargePoint.objects.get(pk=world.cp_a.pk).channel_name:
            break
        run(asyncio.sleep(0.1))
    assert ChargePoint.objects.get(pk=world.cp_a.pk).channel_name == ""


ODD_PATHS = ("/ocpp/..%2F..%2Fadmin", "/ocpp/a/b/c", "/ocpp/%2e%2e", "/ocpp/ALPHA-1/..", "/ocpp/", "/admin/", "/")


async def _handshake_status(url: str) -> int:
    try:
        async with websockets.connect(url, subprotocols=["ocpp1.6"]):
            return 101
    except websockets.exceptions.InvalidStatus as refusal:
        return refusal.response.status_code


@pytest.mark.parametrize("path", ODD_PATHS)
def test_odd_paths_are_a_404_over_websockets_as_over_http(asgi_server, world, path):
    """Over HTTP the pages' router answers; over websockets the handshake gets the same 404 (not a 403 or a 500)."""
    http = asgi_server.replace("ws://", "http://")
    if path.startswith("/ocpp/"):  # elsewhere the site's own pages answer plain HTTP
        assert requests.get(http + path, timeout=10, allow_redirects=False).status_code == 404
    assert run(_handshake_status(asgi_server + path)) == 404
    assert not SecurityEvent.objects.exists()  # no charger route was reached: nothing counted as a refusal


def test_a_charger_path_next_to_the_odd_ones_still_connects(asgi_server, world):
    assert run(_handshake_status(f"{asgi_server}/ocpp/ALPHA-1")) == 101


@pytest.mark.parametrize("value", ['"NaN"', '"Infinity"', '"-Infinity"', '"1e400"', "NaN", "Infinity", "1e400"])
def test_a_meter_value_that_is_no_finite_number_gets_a_type_constraint_violation(asgi_server, world, value):
    sampled = '[{"value": "1000"}, {"value": ' + value + ', "measurand": "Voltage"}]'
    frame = (
        f'[2, "mv-1", "MeterValues", {{"connectorId": 1, "meterValue": [{{"timestamp": "{iso()}", '
        f'"sampledValue": {sampled}}}]}}]'
    )

    async def scenario():
        async with websockets.connect(f"{asgi_server}/ocpp/ALPHA-1", subprotocols=["ocpp1.6"]) as ws:
            return await _exchange(ws, frame)

    answer = run(scenario())
    assert answer[:3] == [4, "mv-1", "TypeConstraintViolation"]
    assert not MeterValue.objects.exists()


def test_huge_vendor_data_is_answered_and_stored_cut_to_the_limit(asgi_server, world, settings):
    data = "x" * 900_000  # under the server's frame limit, far over what is stored

    async def scenario():
        async with connected(asgi_server, "ALPHA-1") as charger:
            return await charger.call(call.DataTransfer(vendor_id="com.example", data=data), suppress=False)

    assert run(scenario()).status == "UnknownVendorId"
    stored = ChargerEvent.objects.get(charge_point=world.cp_a).data
    limit = settings.OCPP_EVENT_DATA_MAX_BYTES
    assert stored == "x" * limit + f"\n[cut: 900000 bytes received, the first {limit} kept]"


@pytest.mark.parametrize(
    "frame",
    [
        '[2, "x-1", "StartTransaction", {"connectorId": 1, "idTag": "04A1B2C3", "meterStart": '
        + "9" * 30
        + ', "timestamp": "2026-05-05T10:00:00Z"}]',
        '[2, "x-1", "StatusNotification", {"connectorId": ' + "9" * 25 + ', "errorCode": "NoError", '
        '"status": "Available"}]',
        '[2, "x-1", "DataTransfer", {"vendorId": "a\\u0000b", "data": "x"}]',
        '[2, "x-1", "DataTransfer", {"vendorId": "com.example", "data": "\\ud800"}]',
    ],
)
def test_values_no_database_column_takes_get_a_type_constraint_violation(asgi_server, world, frame):
    async def scenario():
        async with websockets.connect(f"{asgi_server}/ocpp/ALPHA-1", subprotocols=["ocpp1.6"]) as ws:
            return await _exchange(ws, frame), await _exchange(ws, '[2, "hb-1", "Heartbeat", {}]')

    answer, heartbeat = run(scenario())
    assert answer[:3] == [4, "x-1", "TypeConstraintViolation"] and heartbeat[:2] == [3, "hb-1"]
    assert not ChargerEvent.objects.exists()
