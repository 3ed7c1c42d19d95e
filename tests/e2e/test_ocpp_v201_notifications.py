"""OCPP 2.0.1 notifications end to end: the `ocpp` package's 2.0.1 client as the charger on the uvicorn server sends
the device model, a connector's problem, security, firmware and log progress, vendor data, a reservation it ended,
and is told its driver's prices when a card is accepted."""

import asyncio
from datetime import timedelta

import pytest
from django.utils import timezone
from ocpp.v201 import ChargePoint as OcppChargePoint201
from ocpp.v201 import call

from billing.models import TariffAssignment
from sessions_app.models import (
    ChargerEvent,
    Connector,
    Reservation,
    SecurityEvent,
    StationVariable,
)
from tests.e2e.ocpp_client import connected, iso
from tests.factories import make_tariff

pytestmark = pytest.mark.django_db(transaction=True)


class Charger201(OcppChargePoint201):
    """A 2.0.1 charger that only sends."""

    __test__ = False


def _report(seq_no: int, tbc: bool, component: str, variable: str, value: str) -> call.NotifyReport:
    return call.NotifyReport(
        request_id=1,
        generated_at=iso(),
        seq_no=seq_no,
        tbc=tbc,
        report_data=[
            {
                "component": {"name": component},
                "variable": {"name": variable},
                "variable_attribute": [{"value": value, "mutability": "ReadOnly"}],
                "variable_characteristics": {"data_type": "string", "supports_monitoring": False},
            }
        ],
    )


def test_a_2_0_1_chargers_notifications_reach_the_device_model_faults_events_and_reservations(asgi_server, world):
    TariffAssignment.objects.create(tariff=make_tariff(world.org_a, energy="4.00"), site=world.site_a)
    reservation = Reservation.objects.create(
        charge_point=world.cp_a,
        connector=Connector.objects.get(charge_point=world.cp_a, number=2),
        id_tag=world.bob_card,
        status=Reservation.Status.ACTIVE,
        charger_answer="Accepted",
        expires_at=timezone.now() + timedelta(minutes=30),
    )
    problem = {
        "event_id": 7,
        "timestamp": iso(),
        "trigger": "Alerting",
        "actual_value": "true",
        "event_notification_type": "HardWiredNotification",
        "component": {"name": "Connector", "evse": {"id": 1, "connector_id": 1}},
        "variable": {"name": "Problem"},
        "tech_code": "GF",
    }

    async def scenario():
        async with connected(asgi_server, "ALPHA-1", subprotocols=("ocpp2.0.1",), charger_class=Charger201) as charger:
            station = {"vendor_name": "Test", "model": "E2E-201"}
            await charger.call(call.BootNotification(charging_station=station, reason="PowerUp"), suppress=False)
            for message in (
                _report(0, True, "ChargingStation", "Model", "E2E-201"),
                _report(1, False, "OCPPCommCtrlr", "NetworkProfileConnectionAttempts", "3"),
                call.NotifyEvent(generated_at=iso(), seq_no=0, event_data=[problem]),
                call.SecurityEventNotification(type="InvalidFirmwareSignature", timestamp=iso(), tech_info="v2"),
                call.FirmwareStatusNotification(status="Downloading", request_id=3),
                call.LogStatusNotification(status="Uploading", request_id=4),
                call.ReservationStatusUpdate(reservation_id=reservation.pk, reservation_update_status="Removed"),
            ):
                await charger.call(message, suppress=False)
            vendor = await charger.call(call.DataTransfer(vendor_id="Nobody", data={"x": 1}), suppress=False)
            authorized = await charger.call(
                call.Authorize(id_token={"id_token": world.alice_card.uid, "type": "ISO14443"}), suppress=False
            )
            return vendor.status, authorized.id_token_info

    vendor_status, token_info = asyncio.run(scenario())

    variables = dict(StationVariable.objects.filter(charge_point=world.cp_a).values_list("variable", "value"))
    assert variables == {"Model": "E2E-201", "NetworkProfileConnectionAttempts": "3"}
    assert Connector.objects.get(charge_point=world.cp_a, number=1).error_code == "OtherError"
    events = ChargerEvent.objects.filter(charge_point=world.cp_a)
    assert set(events.values_list("kind", flat=True)) == {
        ChargerEvent.Kind.NOTIFY_EVENT,
        ChargerEvent.Kind.SIGNED_FIRMWARE_STATUS,
        ChargerEvent.Kind.LOG_STATUS,
        ChargerEvent.Kind.DATA_TRANSFER,
    }
    assert SecurityEvent.objects.get(charge_point=world.cp_a).event_type == "InvalidFirmwareSignature"
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.FAULTED
    assert vendor_status == "UnknownVendorId"
    assert token_info["status"] == "Accepted"
    assert token_info["personal_message"] == {"format": "UTF8", "language": "en", "content": "4.00 SEK/kWh"}
