"""OCPP 2.1 end to end: the `ocpp` package's 2.1 client as the charger on the served project. It gets 2.1 when it
offers every version, boots, has its card accepted, charges (TransactionEvents, 2.1's schemas on both sides) and
is stopped by the operator: the session is recorded and priced as a 2.0.1 or 1.6 one."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from ocpp.routing import on
from ocpp.v21 import ChargePoint as OcppChargePoint21
from ocpp.v21 import call, call_result
from ocpp.v21.enums import Action

from billing.models import SessionPrice
from billing.services import tariff_assignment_create
from sessions_app.models import ChargePoint, ChargingSession
from sessions_app.ocpp.commands import command_send
from tests.e2e.ocpp_client import connected, iso
from tests.factories import make_tariff
from tests.threads import in_thread

pytestmark = pytest.mark.django_db(transaction=True)


class Charger21(OcppChargePoint21):
    __test__ = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.stops: list[str] = []

    @on(Action.request_stop_transaction)
    async def on_request_stop(self, transaction_id: str, **_optional):
        self.stops.append(transaction_id)
        return call_result.RequestStopTransaction(status="Accepted")


def test_a_2_1_charger_charges_is_stopped_by_the_operator_and_its_session_is_priced(asgi_server, world):
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"))
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    token = {"id_token": world.alice_card.uid, "type": "ISO14443"}

    def event(kind: str, seq_no: int, minutes: int, wh: int, **fields) -> call.TransactionEvent:
        at = iso(start + timedelta(minutes=minutes))
        context = {"Started": "Transaction.Begin", "Ended": "Transaction.End"}[kind]
        return call.TransactionEvent(
            event_type=kind,
            timestamp=at,
            trigger_reason="Authorized" if kind == "Started" else "RemoteStop",
            seq_no=seq_no,
            transaction_info={"transaction_id": "v21-tx", **fields.pop("info", {})},
            meter_value=[{"timestamp": at, "sampled_value": [{"value": wh, "context": context}]}],
            **fields,
        )

    async def scenario():
        offered = ("ocpp1.6", "ocpp2.0.1", "ocpp2.1")
        async with connected(asgi_server, "ALPHA-1", subprotocols=offered, charger_class=Charger21) as charger:  # type: ignore[arg-type]
            station = {"vendor_name": "Test", "model": "E2E-21"}
            boot = await charger.call(call.BootNotification(charging_station=station, reason="PowerUp"), suppress=False)
            authorized = await charger.call(call.Authorize(id_token=token), suppress=False)
            await charger.call(event("Started", 0, 0, 2000, id_token=token, evse={"id": 1, "connector_id": 1}))
            session = await in_thread(ChargingSession.objects.get, charger_transaction_id="v21-tx")
            online = await in_thread(ChargePoint.objects.get, pk=world.cp_a.pk)
            stop = await in_thread(command_send, online, "RemoteStopTransaction", {"transaction_id": session.pk})
            ended = await charger.call(event("Ended", 1, 50, 7000, info={"stopped_reason": "Remote"}), suppress=False)
            return charger._connection.subprotocol, boot, authorized, stop, charger.stops, ended

    subprotocol, boot, authorized, stop, stops, ended = asyncio.run(scenario())

    assert subprotocol == "ocpp2.1" and boot.status == "Accepted"
    assert ChargePoint.objects.get(pk=world.cp_a.pk).ocpp_protocol == "ocpp2.1"
    assert authorized.id_token_info["status"] == "Accepted"
    assert (stop.outcome, stop.status, stops) == ("answered", "Accepted", ["v21-tx"])
    session = ChargingSession.objects.get(charger_transaction_id="v21-tx")
    assert (session.state, session.energy_wh, session.stop_reason) == ("completed", 5000, "Remote")
    assert SessionPrice.objects.get(session=session).gross_total == 20
    assert ended is not None
