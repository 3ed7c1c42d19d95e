"""A real charger over a websocket resends what went unanswered, and sends times from a wrong clock."""

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
import websockets
from ocpp.v16 import call

from sessions_app.models import ChargerEvent, ChargingSession, Connector, MeterValue, SessionFlag, StatusEvent
from tests.e2e.ocpp_client import connected, iso

pytestmark = pytest.mark.django_db(transaction=True)


async def _send_on_a_new_connection(url: str, ocpp_id: str, message_id: str, action: str, payload: dict) -> list:
    """One CALL with the given message id on a fresh connection, as a charger reconnecting after a crash sends."""
    async with websockets.connect(f"{url}/ocpp/{ocpp_id}", subprotocols=["ocpp1.6"]) as ws:
        await ws.send(json.dumps([2, message_id, action, payload]))
        return json.loads(await asyncio.wait_for(ws.recv(), 10))


def test_meter_values_status_and_data_transfer_resent_under_new_message_ids_are_stored_once(asgi_server, world):
    now = datetime.now(UTC).replace(microsecond=0)
    meter_values = {
        "connectorId": 1,
        "meterValue": [
            {
                "timestamp": iso(now),
                "sampledValue": [
                    {"value": "6000", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                    {"value": "11.04", "measurand": "Power.Active.Import", "unit": "kW"},
                ],
            }
        ],
    }
    status = {"connectorId": 1, "errorCode": "NoError", "status": "Charging", "timestamp": iso(now)}
    transfer = {"vendorId": "com.example", "messageId": "temp", "data": "41C"}

    async def scenario():
        answers = []
        for attempt in ("first", "resent"):
            for action, payload in (
                ("MeterValues", meter_values),
                ("StatusNotification", status),
                ("DataTransfer", transfer),
            ):
                answers.append(
                    await _send_on_a_new_connection(asgi_server, "ALPHA-1", f"{action}-{attempt}", action, payload)
                )
        return answers

    answers = asyncio.run(scenario())

    assert [answer[0] for answer in answers] == [3] * 6  # every one answered with a CALLRESULT
    assert MeterValue.objects.filter(charge_point=world.cp_a).count() == 2
    assert StatusEvent.objects.filter(charge_point=world.cp_a).count() == 1
    assert ChargerEvent.objects.filter(charge_point=world.cp_a).count() == 1


def test_times_from_a_wrong_clock_are_replaced_by_the_time_received(asgi_server, world):
    now = datetime.now(UTC).replace(microsecond=0)

    async def scenario():
        async with connected(asgi_server, "ALPHA-1") as charger:
            start = await charger.call(
                call.StartTransaction(
                    connector_id=1, id_tag=world.alice_card.uid, meter_start=1000, timestamp="2000-01-01T00:00:00Z"
                )
            )
            await charger.call(
                call.StatusNotification(
                    connector_id=2, error_code="NoError", status="Available", timestamp="9999-12-31T23:59:59Z"
                )
            )
            await charger.call(
                call.StatusNotification(connector_id=2, error_code="GroundFailure", status="Faulted", timestamp=iso())
            )
            stop = await charger.call(
                call.StopTransaction(
                    transaction_id=start.transaction_id, meter_stop=9000, timestamp="9999-12-31T23:59:59Z"
                )
            )
            return start, stop

    start, stop = asyncio.run(scenario())

    assert start.id_tag_info["status"] == "Accepted" and stop is not None
    session = ChargingSession.objects.get(pk=start.transaction_id)
    assert now - timedelta(seconds=5) <= session.started_at <= session.stopped_at <= now + timedelta(minutes=1)
    assert (session.charger_started_at.year, session.charger_stopped_at.year) == (2000, 9999)
    assert set(SessionFlag.objects.filter(session=session).values_list("code", flat=True)) == {
        SessionFlag.Code.PAST_TIMESTAMP,
        SessionFlag.Code.FUTURE_TIMESTAMP,
    }
    assert session.energy_wh == 8000
    assert Connector.objects.get(charge_point=world.cp_a, number=2).status == "Faulted"
