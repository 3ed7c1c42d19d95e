"""OCPP 2.0.1 transactions and readings end to end: the `ocpp` package's v201 client as the charger, served.
A transaction starts online; the charger loses its connection, charges on, and back online sends what it queued,
flagged offline, out of order and one event twice; a second transaction's Ended arrives before its Started.
Each is one session, its readings stored once, priced once."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from ocpp.v201 import ChargePoint as OcppChargePoint201
from ocpp.v201 import call

from billing.models import LedgerEntry, SessionPrice
from billing.services import tariff_assignment_create
from sessions_app.models import ChargingSession, MeterValue, SessionFlag, TransactionEvent
from tests.e2e.ocpp_client import connected, iso
from tests.factories import make_tariff

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


class Charger201(OcppChargePoint201):
    __test__ = False


def _event(kind: str, seq_no: int, minutes: int, wh: int, transaction_id: str, **fields) -> call.TransactionEvent:
    at = iso(T0 + timedelta(minutes=minutes))
    context = {"Started": "Transaction.Begin", "Ended": "Transaction.End"}.get(kind, "Sample.Periodic")
    sampled = {"value": wh, "context": context, "measurand": "Energy.Active.Import.Register"}
    info = {"transaction_id": transaction_id, **fields.pop("info", {})}
    return call.TransactionEvent(
        event_type=kind,
        timestamp=at,
        trigger_reason=fields.pop("trigger_reason", "MeterValuePeriodic"),
        seq_no=seq_no,
        transaction_info=info,
        meter_value=[{"timestamp": at, "sampled_value": [sampled]}],
        **fields,
    )


async def _send(url: str, *events) -> list:
    async with connected(url, "ALPHA-1", subprotocols=("ocpp2.0.1",), charger_class=Charger201) as charger:  # type: ignore[arg-type]
        return [await charger.call(event, suppress=False) for event in events]


def test_offline_reordered_and_replayed_events_make_one_session_priced_once(asgi_server, world):
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"))
    card = {"id_token": world.alice_card.uid, "type": "ISO14443"}
    started = _event(
        "Started",
        0,
        0,
        5000,
        "tx-online",
        trigger_reason="Authorized",
        id_token=card,
        evse={"id": 1, "connector_id": 1},
    )
    queued = [
        _event(
            "Ended",
            3,
            90,
            9000,
            "tx-online",
            offline=True,
            trigger_reason="EVCommunicationLost",
            info={"stopped_reason": "EVDisconnected"},
        ),
        _event("Updated", 2, 60, 8000, "tx-online", offline=True),
        _event("Updated", 1, 30, 6500, "tx-online", offline=True),
    ]

    clock = {"timestamp": iso(T0), "sampled_value": [{"value": 41.5, "unit_of_measure": {"unit": "kWh"}}]}
    (answer, _readings) = asyncio.run(_send(asgi_server, started, call.MeterValues(evse_id=0, meter_value=[clock])))
    assert answer.id_token_info["status"] == "Accepted"
    station_reading = MeterValue.objects.get(session=None)  # outside the transaction: the station's own meter
    assert (station_reading.connector, station_reading.value, station_reading.unit) == (None, 41500, "Wh")
    asyncio.run(_send(asgi_server, *queued, started, queued[0]))  # back online: the queue, then two resends

    session = ChargingSession.objects.get(charger_transaction_id="tx-online")
    assert (session.state, session.meter_start_wh, session.meter_stop_wh, session.energy_wh) == (
        "completed",
        5000,
        9000,
        4000,
    )
    assert (session.started_at, session.stopped_at) == (T0, T0 + timedelta(minutes=90))
    assert (session.id_tag_id, session.stop_reason, session.connector.number) == (
        world.alice_card.pk,
        "EVDisconnected",
        1,
    )
    assert list(session.transaction_events.values_list("seq_no", "offline")) == [
        (0, False),
        (1, True),
        (2, True),
        (3, True),
    ]
    assert sorted(MeterValue.objects.filter(session=session).values_list("value", flat=True)) == [
        5000,
        6500,
        8000,
        9000,
    ]
    assert SessionPrice.objects.get(session=session).gross_total == 16
    assert LedgerEntry.objects.filter(session=session, kind=LedgerEntry.Kind.CHARGE).count() == 1
    assert not session.flags.filter(resolved_at__isnull=True).exists()  # events 1-2 came after the Ended: resolved


def test_an_end_before_its_start_is_one_session_once_the_start_comes(asgi_server, world):
    card = {"id_token": world.alice_card.uid, "type": "ISO14443"}
    ended = _event("Ended", 1, 45, 3000, "tx-late", info={"stopped_reason": "Local"}, trigger_reason="StopAuthorized")
    started = _event(
        "Started", 0, 0, 1000, "tx-late", trigger_reason="Authorized", id_token=card, evse={"id": 2, "connector_id": 1}
    )

    asyncio.run(_send(asgi_server, ended))
    waiting = ChargingSession.objects.get(charger_transaction_id="tx-late")
    assert waiting.state == "completed" and waiting.flags.filter(code=SessionFlag.Code.MISSING_START).exists()
    assert not SessionPrice.objects.filter(session=waiting).exists()  # the price waits for the start

    asyncio.run(_send(asgi_server, started))

    session = ChargingSession.objects.get(charger_transaction_id="tx-late")
    assert (session.started_at, session.meter_start_wh, session.energy_wh) == (T0, 1000, 2000)
    assert (session.id_tag_id, session.connector.number) == (world.alice_card.pk, 2)
    assert TransactionEvent.objects.filter(session=session).count() == 2
    assert not session.flags.filter(resolved_at__isnull=True).exists()
