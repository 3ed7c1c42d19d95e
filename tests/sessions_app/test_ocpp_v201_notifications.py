"""OCPP 2.0.1 notifications (v201_notifications): device events and reports, security and firmware progress,
DataTransfer, reservations ended by the charger; multi-connector EVSEs; the connector's EVSE in the admin."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.services import id_tag_block
from billing.models import TariffAssignment
from reporting.faults import needs_attention
from sessions_app import device_model, hooks
from sessions_app.evse import EvseNumbering, evse_numbering, evse_pairs_taken_twice
from sessions_app.models import (
    ChargerEvent,
    Connector,
    Reservation,
    SecurityEvent,
    StationVariable,
    StatusEvent,
)
from sessions_app.reservations import reservation_ended_by_charger
from tests.factories import make_tag, make_tariff
from tests.sessions_app.websocket import ChargerSocket

pytestmark = pytest.mark.django_db(transaction=True)

V201 = ("ocpp2.0.1",)
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _z(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _calls(*calls: tuple[str, dict], ocpp_id: str = "ALPHA-1") -> list[list]:
    async def scenario():
        async with ChargerSocket(ocpp_id, subprotocols=V201) as charger:
            return [await charger.call(action, payload) for action, payload in calls]

    return asyncio.run(scenario())


def _describe(charge_point, number: int, evse_id: int, evse_connector_id: int) -> None:
    Connector.objects.filter(charge_point=charge_point, number=number).update(
        evse_id=evse_id, evse_connector_id=evse_connector_id
    )


# --- EVSEs with several connectors -------------------------------------------------------------------------------


def test_a_described_connector_is_its_evses_and_the_others_keep_the_evse_number():
    numbering = EvseNumbering({(1, 2): 3})

    assert numbering.connector_number(1, 2) == 3
    assert numbering.connector_number(1, 1) == 1
    assert numbering.connector_number(2, 0) == 2
    assert numbering.connector_number(0, 0) == 0
    assert numbering.connector_number(3, 1) is None  # number 3 is EVSE 1's second connector
    assert numbering.connector_number(2, 2) is None  # not described
    assert numbering.evse_connector_numbers(1) == [1, 3]
    assert numbering.evse_connector_numbers(2) == [2]


def test_two_connectors_claiming_one_evse_connector_are_found():
    assert evse_pairs_taken_twice([(1, None, None), (2, 1, 1)]) == [(1, 1)]
    assert evse_pairs_taken_twice([(1, None, None), (2, 1, 2)]) == []


def test_the_status_of_an_evses_second_connector_goes_to_the_connector_described_as_it(world):
    _describe(world.cp_a, 2, 1, 2)
    assert evse_numbering(charge_point=world.cp_a).numbers == {(1, 2): 2}

    (answer,) = _calls(
        ("StatusNotification", {"timestamp": _z(T0), "connectorStatus": "Occupied", "evseId": 1, "connectorId": 2})
    )

    assert answer[0] == 3
    assert Connector.objects.get(charge_point=world.cp_a, number=2).status == "Preparing"
    assert Connector.objects.get(charge_point=world.cp_a, number=1).status == "Unknown"


def _inline_post(charge_point, connectors: list[dict]) -> dict:
    data = {
        "organization": charge_point.organization_id,
        "site": charge_point.site_id,
        "ocpp_id": charge_point.ocpp_id,
        "name": "",
        "registration_status": charge_point.registration_status,
        "security_profile": 0,
        "connectors-TOTAL_FORMS": len(connectors),
        "connectors-INITIAL_FORMS": len(connectors),
        "connectors-MIN_NUM_FORMS": 0,
        "connectors-MAX_NUM_FORMS": 1000,
    }
    for index, connector in enumerate(connectors):
        data.update({f"connectors-{index}-{key}": value for key, value in connector.items()})
    return data


def test_the_admin_asks_for_both_evse_numbers_or_neither_and_refuses_one_evse_connector_twice(world, client):
    one, two = Connector.objects.filter(charge_point=world.cp_a).order_by("number")
    base = {"connector_type": "type2", "max_power_kw": "22.0", "phases": "3", "charge_point": world.cp_a.pk}
    url = reverse("admin:sessions_app_chargepoint_change", args=[world.cp_a.pk])
    client.force_login(world.carol)

    def post(first: dict, second: dict) -> str:
        connectors = [
            {**base, "id": one.pk, "number": 1, **first},
            {**base, "id": two.pk, "number": 2, **second},
        ]
        return client.post(url, _inline_post(world.cp_a, connectors)).content.decode()

    half = post({"evse_id": "1"}, {})
    twice = post({}, {"evse_id": "1", "evse_connector_id": "1"})
    fine = post({}, {"evse_id": "1", "evse_connector_id": "2"})

    assert "Which connector of the EVSE is it?" in half
    assert "Two connectors would be EVSE 1&#x27;s connector 1" in twice
    assert "errornote" not in fine and "errorlist" not in fine
    assert Connector.objects.get(pk=two.pk).evse_id == 1 and Connector.objects.get(pk=two.pk).evse_connector_id == 2


# --- NotifyEvent ---------------------------------------------------------------------------------------------


def _event(event_id: int, at: datetime, variable: str, value: str, **fields) -> dict:
    return {
        "eventId": event_id,
        "timestamp": _z(at),
        "trigger": fields.pop("trigger", "Delta"),
        "actualValue": value,
        "eventNotificationType": "HardWiredNotification",
        "component": fields.pop("component", {"name": "Connector", "evse": {"id": 1, "connectorId": 1}}),
        "variable": {"name": variable},
        **fields,
    }


def _notify_event(*events: dict, seq_no: int = 0) -> tuple[str, dict]:
    return "NotifyEvent", {"generatedAt": _z(T0), "seqNo": seq_no, "eventData": list(events)}


def test_a_connector_problem_is_a_fault_the_operator_sees_and_its_clearing_ends_it(world):
    problem = _event(
        1, T0, "Problem", "true", trigger="Alerting", techCode="E42", techInfo="RCD tripped", transactionId="T-9"
    )
    noise = _event(2, T0, "AvailabilityState", "Occupied", component={"name": "Connector", "evse": {"id": 2}})
    cleared = _event(3, T0 + timedelta(minutes=5), "Problem", "false")

    first, again = _calls(_notify_event(problem, noise), _notify_event(problem, noise))

    assert first[0] == 3 and again[0] == 3
    kept = ChargerEvent.objects.filter(charge_point=world.cp_a, kind=ChargerEvent.Kind.NOTIFY_EVENT)
    assert sorted(kept.values_list("message_id", flat=True)) == ["1", "2"]  # the replay is not kept twice
    assert kept.get(message_id="1").data == (
        "2026-03-01T12:00:00Z Connector EVSE 1 connector 1: Problem = true (Alerting); E42: RCD tripped; "
        "transaction T-9"
    )
    connector = Connector.objects.get(charge_point=world.cp_a, number=1)
    assert (connector.status, connector.error_code) == ("Unknown", "OtherError")
    fault = StatusEvent.objects.get(connector=connector)
    assert (fault.info, fault.vendor_error_code) == ("Connector.Problem", "E42")
    attention = needs_attention(organization=world.org_a, start=T0 - timedelta(days=1), end=timezone.now())
    assert any("open fault" in reason.text for station in attention for reason in station.reasons)

    _calls(_notify_event(cleared, seq_no=1))

    assert Connector.objects.get(pk=connector.pk).error_code == "NoError"


def test_a_station_problem_is_a_station_fault_and_an_evse_problem_one_on_each_of_its_connectors(world):
    _describe(world.cp_a, 2, 1, 2)
    station = _event(1, T0, "Problem", "true", component={"name": "ChargingStation"})
    evse = _event(2, T0, "Problem", "true", component={"name": "EVSE", "evse": {"id": 1}})

    made = device_model.device_events_record(
        charge_point=world.cp_a,
        events=[
            device_model.DeviceEvent(
                event_id=data["eventId"],
                timestamp=T0,
                trigger="Delta",
                actual_value="true",
                component=data["component"]["name"],
                evse_id=data["component"].get("evse", {}).get("id", 0),
                variable="Problem",
            )
            for data in (station, evse)
        ],
        now=timezone.now(),
    )

    assert made == 3
    assert StatusEvent.objects.get(charge_point=world.cp_a, connector=None).error_code == "OtherError"
    assert set(Connector.objects.filter(charge_point=world.cp_a).values_list("number", "error_code")) == {
        (1, "OtherError"),
        (2, "OtherError"),
    }


# --- NotifyReport --------------------------------------------------------------------------------------------


def _report_data(value: str) -> list[dict]:
    return [
        {
            "component": {"name": "SmartChargingCtrlr"},
            "variable": {"name": "Enabled"},
            "variableAttribute": [{"type": "Actual", "value": value, "mutability": "ReadWrite"}],
            "variableCharacteristics": {"dataType": "boolean", "supportsMonitoring": False},
        },
        {
            "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
            "variable": {"name": "MaxCurrent", "instance": "L1"},
            "variableAttribute": [
                {"type": "Actual", "value": "32", "mutability": "ReadOnly"},
                {"type": "MaxSet", "value": "32"},
            ],
            "variableCharacteristics": {"unit": "A", "dataType": "decimal", "maxLimit": 32, "supportsMonitoring": True},
        },
    ]


def _notify_report(seq_no: int, value: str, generated_at: datetime, tbc: bool = False) -> tuple[str, dict]:
    payload = {"requestId": 5, "generatedAt": _z(generated_at), "seqNo": seq_no, "tbc": tbc}
    return "NotifyReport", {**payload, "reportData": _report_data(value)}


def test_a_report_in_parts_is_stored_one_row_per_attribute_and_a_replay_or_an_older_part_changes_nothing(world):
    answers = _calls(
        _notify_report(0, "false", T0, tbc=True),
        _notify_report(1, "true", T0 + timedelta(seconds=1)),
        _notify_report(1, "true", T0 + timedelta(seconds=1)),  # the same part again
        _notify_report(0, "false", T0),  # an older one, late
    )

    assert [answer[0] for answer in answers] == [3, 3, 3, 3]
    rows = {
        (row.component, row.variable, row.variable_instance, row.evse_id, row.connector_id, row.attribute_type): row
        for row in StationVariable.objects.filter(charge_point=world.cp_a)
    }
    assert len(rows) == 3
    enabled = rows[("SmartChargingCtrlr", "Enabled", "", 0, 0, "Actual")]
    assert (enabled.value, enabled.mutability, enabled.updated_at) == ("true", "ReadWrite", T0 + timedelta(seconds=1))
    current = rows[("Connector", "MaxCurrent", "L1", 1, 1, "Actual")]
    assert (current.value, current.mutability) == ("32", "ReadOnly")
    assert current.characteristics == {"unit": "A", "dataType": "decimal", "maxLimit": 32, "supportsMonitoring": True}
    assert rows[("Connector", "MaxCurrent", "L1", 1, 1, "MaxSet")].mutability == ""


def test_station_variables_are_listed_per_station_for_the_operator_only(world, client):
    device_model.station_variables_store(
        charge_point=world.cp_a,
        variables=[device_model.ReportedVariable(component="OCPPCommCtrlr", variable="HeartbeatInterval", value="60")],
        generated_at=T0,
        now=timezone.now(),
    )
    url = reverse("admin:sessions_app_stationvariable_changelist")

    client.force_login(world.carol)
    own = client.get(url, {"charge_point__id__exact": world.cp_a.pk, "q": "heartbeat"}).content.decode()
    page = client.get(reverse("admin:sessions_app_chargepoint_change", args=[world.cp_a.pk])).content.decode()
    client.force_login(world.dave)
    other = client.get(url).content.decode()

    assert "HeartbeatInterval" in own and "OCPPCommCtrlr" in own
    assert f"{url}?charge_point__id__exact={world.cp_a.pk}" in page
    assert "HeartbeatInterval" not in other


# --- the notifications 1.6 has too, reservations, and those only answered ---------------------------------------


def test_security_firmware_log_and_data_transfer_go_where_1_6_sends_them(world):
    hooks.data_transfer_handlers[("Acme", "Echo")] = lambda cp, data, now: hooks.DataTransferAnswer("Accepted", data)
    try:
        security, firmware_status, log_status, echo, unknown_message, unknown_vendor = _calls(
            ("SecurityEventNotification", {"type": "TamperDetectionActivated", "timestamp": _z(T0), "techInfo": "lid"}),
            ("FirmwareStatusNotification", {"status": "Downloading", "requestId": 7}),
            ("LogStatusNotification", {"status": "Uploading", "requestId": 8}),
            ("DataTransfer", {"vendorId": "Acme", "messageId": "Echo", "data": "ping"}),
            ("DataTransfer", {"vendorId": "Acme", "messageId": "Other", "data": {"a": 1}}),
            ("DataTransfer", {"vendorId": "Nobody"}),
        )
    finally:
        del hooks.data_transfer_handlers[("Acme", "Echo")]

    assert [answer[0] for answer in (security, firmware_status, log_status)] == [3, 3, 3]
    event = SecurityEvent.objects.get(charge_point=world.cp_a, kind=SecurityEvent.Kind.CHARGER_REPORTED)
    assert (event.event_type, event.detail) == ("TamperDetectionActivated", "lid")
    kept = {
        (kind, status, data)
        for kind, status, data in ChargerEvent.objects.filter(charge_point=world.cp_a).values_list(
            "kind", "status", "data"
        )
    }
    assert (ChargerEvent.Kind.SIGNED_FIRMWARE_STATUS, "Downloading", "requestId 7") in kept
    assert (ChargerEvent.Kind.LOG_STATUS, "Uploading", "requestId 8") in kept
    assert (ChargerEvent.Kind.DATA_TRANSFER, "", '{"a": 1}') in kept
    assert echo[2] == {"status": "Accepted", "data": "ping"}
    assert unknown_message[2]["status"] == "UnknownMessageId" and unknown_vendor[2]["status"] == "UnknownVendorId"


def _reservation(world, connector_number: int, minutes: int = 30) -> Reservation:
    return Reservation.objects.create(
        charge_point=world.cp_a,
        connector=Connector.objects.get(charge_point=world.cp_a, number=connector_number),
        id_tag=world.alice_card if connector_number == 1 else world.bob_card,
        status=Reservation.Status.ACTIVE,
        charger_answer="Accepted",
        created_at=timezone.now() - timedelta(minutes=5),
        expires_at=timezone.now() + timedelta(minutes=minutes),
    )


def test_a_reservation_the_charger_ends_ends_here_expired_or_faulted_once(world):
    expired, removed = _reservation(world, 1), _reservation(world, 2)

    answers = _calls(
        ("ReservationStatusUpdate", {"reservationId": expired.pk, "reservationUpdateStatus": "Expired"}),
        ("ReservationStatusUpdate", {"reservationId": removed.pk, "reservationUpdateStatus": "Removed"}),
        ("ReservationStatusUpdate", {"reservationId": 999999, "reservationUpdateStatus": "Removed"}),
    )

    assert [answer[0] for answer in answers] == [3, 3, 3]
    expired.refresh_from_db()
    removed.refresh_from_db()
    assert expired.status == Reservation.Status.EXPIRED and expired.ended_at <= expired.expires_at
    assert removed.status == Reservation.Status.FAULTED
    assert not reservation_ended_by_charger(
        charge_point=world.cp_b, reservation_id=removed.pk, status="Removed", now=timezone.now()
    )


def test_the_notifications_nothing_acts_on_are_answered_as_2_0_1_asks(world):
    schedule = {"id": 1, "chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7000}]}
    profile = {
        "id": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [schedule],
    }
    answers = _calls(
        ("NotifyChargingLimit", {"chargingLimit": {"chargingLimitSource": "EMS", "isGridCritical": True}, "evseId": 1}),
        ("ClearedChargingLimit", {"chargingLimitSource": "EMS"}),
        ("NotifyEVChargingNeeds", {"evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "AC_three_phase"}}),
        ("NotifyEVChargingSchedule", {"timeBase": _z(T0), "evseId": 1, "chargingSchedule": schedule}),
        ("NotifyDisplayMessages", {"requestId": 1}),
        ("NotifyCustomerInformation", {"data": "card 04A1", "seqNo": 0, "generatedAt": _z(T0), "requestId": 2}),
        ("NotifyMonitoringReport", {"requestId": 3, "seqNo": 0, "generatedAt": _z(T0)}),
        ("PublishFirmwareStatusNotification", {"status": "Idle"}),
        (
            "ReportChargingProfiles",
            {"requestId": 4, "chargingLimitSource": "CSO", "evseId": 0, "chargingProfile": [profile]},
        ),
    )

    assert [answer[0] for answer in answers] == [3] * 9
    assert answers[2][2]["status"] == "Rejected" and answers[2][2]["statusInfo"]["reasonCode"] == "NotSupported"
    assert answers[3][2] == {"status": "Accepted"}


# --- Authorize: the driver's prices as the personal message ------------------------------------------------------


def test_an_accepted_card_is_told_its_drivers_prices_in_the_drivers_language_a_refused_one_nothing(world):
    TariffAssignment.objects.create(tariff=make_tariff(world.org_a, energy="4.00", flat="10.00"), site=world.site_a)
    type(world.alice).objects.filter(pk=world.alice.pk).update(language="sv")
    english = make_tag(world.bob.customer_account, world.bob, uid="04C0C0C0")
    id_tag_block(id_tag=world.bob_card)

    def authorize(uid: str) -> dict:
        return {"idToken": {"idToken": uid, "type": "ISO14443"}}

    swedish, in_english, refused = (
        answer[2]["idTokenInfo"]
        for answer in _calls(
            ("Authorize", authorize("04A1B2C3")),
            ("Authorize", authorize("04C0C0C0")),
            ("Authorize", authorize("04B0B0B0")),
        )
    )
    connector_two = Connector.objects.get(charge_point=world.cp_a, number=2)
    TariffAssignment.objects.create(tariff=make_tariff(world.org_a, energy="6.00"), connector=connector_two)
    (differing,) = (answer[2]["idTokenInfo"] for answer in _calls(("Authorize", authorize(english.uid))))

    assert swedish["personalMessage"] == {
        "format": "UTF8",
        "language": "sv",
        "content": "4,00 SEK/kWh; Startavgift 10,00 SEK",
    }
    assert swedish["language1"] == "sv"
    assert in_english["personalMessage"]["content"] == "4.00 SEK/kWh; Start fee 10.00 SEK"
    assert refused["status"] == "Blocked" and "personalMessage" not in refused
    assert differing["personalMessage"]["content"] == "#1: 4.00 SEK/kWh; Start fee 10.00 SEK | #2: 6.00 SEK/kWh"


def test_a_failing_price_lookup_leaves_the_card_accepted_without_a_message(world, monkeypatch):
    def broken(**_arguments):
        raise RuntimeError("pricing is down")

    monkeypatch.setattr(hooks, "tariff_message_handlers", [broken])

    (answer,) = _calls(("Authorize", {"idToken": {"idToken": "04A1B2C3", "type": "ISO14443"}}))

    assert answer[2]["idTokenInfo"] == {"status": "Accepted"}
