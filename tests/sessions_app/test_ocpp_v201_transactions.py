"""OCPP 2.0.1 TransactionEvent and MeterValues frames through the consumer: the charger's transaction becomes one
session, its card gets a verdict, readings outside a transaction land on the EVSE, bad frames are refused."""

import asyncio

import pytest
from django.utils import timezone

from sessions_app.models import ChargerCommand, ChargingSession, MeterValue
from tests.sessions_app.websocket import ChargerSocket

pytestmark = pytest.mark.django_db(transaction=True)


def _calls(*calls: tuple[str, dict]) -> list[list]:
    async def scenario():
        async with ChargerSocket("ALPHA-1", subprotocols=("ocpp2.0.1",)) as charger:
            return [await charger.call(action, payload) for action, payload in calls]

    return asyncio.run(scenario())


def _energy(at: str, wh: float, context: str, unit: str = "Wh", multiplier: int = 0) -> list[dict]:
    measure = {"unit": unit, "multiplier": multiplier}
    return [{"timestamp": at, "sampledValue": [{"value": wh, "context": context, "unitOfMeasure": measure}]}]


def _event(kind: str, seq_no: int, at: str, **fields) -> tuple[str, dict]:
    trigger = {"Started": "Authorized", "Updated": "MeterValuePeriodic", "Ended": "StopAuthorized"}[kind]
    info = {"transactionId": "b7a1c2d3-0001", **fields.pop("info", {})}
    return "TransactionEvent", {
        "eventType": kind,
        "timestamp": at,
        "triggerReason": trigger,
        "seqNo": seq_no,
        "transactionInfo": info,
        **fields,
    }


def test_a_transaction_over_the_wire_is_one_session_and_its_card_is_answered(world):
    card = {"idToken": world.alice_card.uid, "type": "ISO14443"}
    started = _event(
        "Started",
        0,
        "2026-11-20T08:00:00Z",
        evse={"id": 2, "connectorId": 1},
        idToken=card,
        meterValue=_energy("2026-11-20T08:00:00Z", 1.5, "Transaction.Begin", unit="kWh"),
        info={"chargingState": "Charging"},
    )
    updated = _event(
        "Updated",
        1,
        "2026-11-20T08:30:00Z",
        meterValue=_energy("2026-11-20T08:30:00Z", 4.2, "Sample.Periodic", multiplier=3),
    )
    ended = _event(
        "Ended",
        2,
        "2026-11-20T09:00:00Z",
        idToken=card,
        meterValue=_energy("2026-11-20T09:00:00Z", 9500, "Transaction.End"),
        info={"stoppedReason": "Local"},
        offline=True,
    )

    answers = _calls(started, updated, ended, ended)

    assert [answer[0] for answer in answers] == [3, 3, 3, 3]
    assert answers[0][2]["idTokenInfo"]["status"] == "Accepted"
    assert "idTokenInfo" not in answers[1][2]
    session = ChargingSession.objects.get()
    assert (session.connector.number, session.meter_start_wh, session.meter_stop_wh, session.energy_wh) == (
        2,
        1500,
        9500,
        8000,
    )
    assert (session.state, session.stop_reason, session.id_tag_id) == ("completed", "Local", world.alice_card.pk)
    assert session.transaction_events.get(seq_no=2).offline is True
    assert MeterValue.objects.filter(session=session).count() == 3


def test_readings_outside_a_transaction_land_on_the_evse_or_the_station(world):
    station = _energy("2026-11-20T08:00:00Z", 120000, "Sample.Clock")
    answers = _calls(
        ("MeterValues", {"evseId": 1, "meterValue": _energy("2026-11-20T08:00:00Z", 5000, "Sample.Clock")}),
        ("MeterValues", {"evseId": 0, "meterValue": station}),
    )

    assert [answer[0] for answer in answers] == [3, 3]
    on_evse, on_station = MeterValue.objects.order_by("connector")
    assert (on_evse.connector, on_evse.value) == (None, 120000) or (on_station.connector, on_station.value) == (
        None,
        120000,
    )
    assert {mv.connector.number if mv.connector else 0 for mv in MeterValue.objects.all()} == {0, 1}


def test_bad_transaction_frames_get_call_errors_and_store_nothing(world):
    no_info = (
        "TransactionEvent",
        {"eventType": "Started", "timestamp": "2026-11-20T08:00:00Z", "triggerReason": "Authorized", "seqNo": 0},
    )
    bad_type = _event("Started", 0, "2026-11-20T08:00:00Z")
    bad_type[1]["eventType"] = "Paused"
    too_big = ("MeterValues", {"evseId": 1, "meterValue": _energy("2026-11-20T08:00:00Z", 1e300, "Sample.Clock")})

    answers = _calls(no_info, bad_type, too_big, ("Heartbeat", {}))

    assert [answer[0] for answer in answers] == [4, 4, 4, 3]
    assert answers[2][2] == "TypeConstraintViolation"
    assert (answers[0][2], answers[1][2]) == ("ProtocolError", "FormatViolation")  # 2.0.1's names
    assert not ChargingSession.objects.exists() and not MeterValue.objects.exists()


def test_a_remote_starts_card_is_the_sessions_when_its_events_name_none(world):
    ChargerCommand.objects.create(
        charge_point=world.cp_a,
        action="RequestStartTransaction",
        request={"id_token": {"id_token": world.alice_card.uid, "type": "ISO14443"}, "remote_start_id": 4711},
        outcome="answered",
        sent_at=timezone.now(),
        finished_at=timezone.now(),
    )
    started = _event(
        "Started",
        0,
        "2026-11-20T08:00:00Z",
        evse={"id": 1, "connectorId": 1},
        meterValue=_energy("2026-11-20T08:00:00Z", 1000, "Transaction.Begin"),
        info={"remoteStartId": 4711},
    )

    (answer,) = _calls(started)

    assert answer[0] == 3 and "idTokenInfo" not in answer[2]
    session = ChargingSession.objects.get()
    assert (session.id_tag_id, session.auth_status) == (world.alice_card.pk, "Accepted")
