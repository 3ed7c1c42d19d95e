"""Reports a charger sends again (its answer lost in a crash, maybe under a new message id) are stored once."""

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from sessions_app.models import ChargerEvent, Connector, MeterValue, SessionFlag, StatusEvent
from sessions_app.ocpp import batching
from sessions_app.services import (
    EVENT_RESEND_WINDOW,
    MeterValuesReport,
    StatusReport,
    charger_event_record,
    connector_status_record_many,
    meter_values_record_many,
    session_stop,
)
from tests.billing.test_migrations import back_to_latest, migrate  # noqa: F401 - the fixture, used by name
from tests.factories import make_session

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
BEFORE, AFTER = ("sessions_app", "0009_post_stop_work"), ("sessions_app", "0010_exactly_once_and_charger_time")


def _reading(minutes: int, *sampled: dict) -> dict:
    return {"timestamp": T0 + timedelta(minutes=minutes), "sampled_value": list(sampled)}


def _three_values(minutes: int, wh: str) -> dict:
    return _reading(
        minutes,
        {"value": wh},
        {"value": "7.4", "measurand": "Power.Active.Import", "unit": "kW"},
        {"value": "231", "measurand": "Voltage", "unit": "V", "phase": "L1-N"},
    )


def _record(cp, session, *readings: dict) -> list[int]:
    return meter_values_record_many(reports=[MeterValuesReport(cp, 1, session.pk, list(readings))], now=timezone.now())


@pytest.fixture
def session(world):
    return make_session(world.cp_a.connectors.get(number=1), world.alice_card, started_at=T0, energy_wh=None)


def test_a_meter_values_report_sent_again_is_stored_once_and_counted_as_nothing_new(world, session):
    report = MeterValuesReport(world.cp_a, 1, session.pk, [_three_values(5, "1002000")])

    first = meter_values_record_many(reports=[report], now=timezone.now())
    again = meter_values_record_many(reports=[report], now=timezone.now())

    assert (first, again) == ([3], [0])
    assert MeterValue.objects.filter(session=session).count() == 3


def test_a_report_and_its_resend_in_one_batch_are_stored_once(world, session):
    report = MeterValuesReport(world.cp_a, 1, session.pk, [_three_values(5, "1002000")])
    newer = MeterValuesReport(world.cp_a, 1, session.pk, [_reading(6, {"value": "1003000"})])

    counts = meter_values_record_many(reports=[report, newer, report], now=timezone.now())

    assert counts == [3, 1, 0]  # one count per report, as the batcher hands them back
    assert MeterValue.objects.filter(session=session).count() == 4


def test_a_resend_mixed_with_new_readings_stores_only_the_new_ones(world, session):
    _record(world.cp_a, session, _reading(5, {"value": "1002000"}))
    both = MeterValuesReport(
        world.cp_a, 1, session.pk, [_reading(5, {"value": "1002000"}), _reading(10, {"value": "1004000"})]
    )

    assert meter_values_record_many(reports=[both], now=timezone.now()) == [1]
    assert sorted(MeterValue.objects.filter(session=session).values_list("value", flat=True)) == [1002000, 1004000]


def test_station_readings_of_connector_zero_are_stored_once_too(world):
    report = MeterValuesReport(
        world.cp_a, 0, None, [_reading(5, {"value": "230", "measurand": "Voltage", "unit": "V"})]
    )
    other_station = MeterValuesReport(world.cp_b, 0, None, report.meter_value)

    assert meter_values_record_many(reports=[report], now=timezone.now()) == [1]
    assert meter_values_record_many(reports=[report, other_station], now=timezone.now()) == [0, 1]
    assert MeterValue.objects.filter(connector__isnull=True).count() == 2


def test_the_same_instant_with_another_context_phase_or_location_is_another_reading(world, session):
    readings = [
        _reading(5, {"value": "1002000"}),
        _reading(5, {"value": "1002000", "context": "Sample.Clock"}),
        _reading(5, {"value": "16", "measurand": "Current.Import", "unit": "A", "phase": "L1"}),
        _reading(5, {"value": "16", "measurand": "Current.Import", "unit": "A", "phase": "L2"}),
        _reading(5, {"value": "30", "measurand": "Temperature", "unit": "Celsius", "location": "Body"}),
        _reading(5, {"value": "21", "measurand": "Temperature", "unit": "Celsius", "location": "Outlet"}),
    ]

    assert meter_values_record_many(
        reports=[MeterValuesReport(world.cp_a, 1, session.pk, readings)], now=timezone.now()
    ) == [6]


def test_a_reading_sent_again_after_newer_ones_does_not_flag_the_meter_backwards(world, session):
    old = MeterValuesReport(world.cp_a, 1, session.pk, [_reading(5, {"value": "1002000"})])
    meter_values_record_many(reports=[old], now=timezone.now())
    _record(world.cp_a, session, _reading(10, {"value": "1004000"}))

    meter_values_record_many(reports=[old], now=timezone.now())
    # A resend that disagrees with what is stored is not stored, so it cannot fake a meter going back either.
    _record(world.cp_a, session, _reading(10, {"value": "1"}))

    assert not SessionFlag.objects.filter(session=session).exists()
    assert MeterValue.objects.get(session=session, timestamp=T0 + timedelta(minutes=10)).value == 1004000


def test_a_stops_transaction_data_repeating_readings_already_stored_adds_only_new_ones(world, session):
    _record(world.cp_a, session, _reading(30, {"value": "1006000"}))

    session_stop(
        charge_point=world.cp_a,
        transaction_id=session.pk,
        raw_uid=world.alice_card.uid,
        meter_stop_wh=1_008_000,
        timestamp=T0 + timedelta(minutes=40),
        reason="Local",
        now=timezone.now(),
        transaction_data=[
            _reading(30, {"value": "1006000"}),
            _reading(40, {"value": "1008000", "context": "Transaction.End"}),
        ],
    )

    assert MeterValue.objects.filter(session=session).count() == 2


@pytest.mark.django_db(transaction=True)
def test_through_the_batcher_a_resent_report_is_answered_like_the_first(world):
    report = MeterValuesReport(world.cp_a, 1, None, [_reading(1, {"value": "1000"})])

    async def submit_twice():
        return await asyncio.gather(*(batching.submit(meter_values_record_many, report) for _ in range(2)))

    assert sorted(asyncio.run(submit_twice())) == [0, 1]
    assert sorted(asyncio.run(submit_twice())) == [0, 0]
    assert MeterValue.objects.count() == 1


def _status(cp, connector_id: int, status: str, minutes: int, error_code: str = "NoError") -> StatusReport:
    return StatusReport(cp, connector_id, status, error_code, T0 + timedelta(minutes=minutes))


def test_a_status_notification_sent_again_is_stored_once(world):
    first = connector_status_record_many(
        reports=[_status(world.cp_a, 1, "Charging", 1), _status(world.cp_a, 0, "Available", 1)], now=timezone.now()
    )
    again = connector_status_record_many(
        reports=[
            _status(world.cp_a, 1, "Charging", 1),
            _status(world.cp_a, 0, "Available", 1),
            _status(world.cp_a, 0, "Available", 1),
        ],
        now=timezone.now(),
    )

    assert all(first) and again == [None, None, None]
    assert StatusEvent.objects.filter(charge_point=world.cp_a).count() == 2


def test_a_resent_status_does_not_undo_another_reported_for_the_same_moment(world):
    connector_status_record_many(reports=[_status(world.cp_a, 1, "Finishing", 5)], now=timezone.now())
    connector_status_record_many(reports=[_status(world.cp_a, 1, "Available", 5)], now=timezone.now())

    connector_status_record_many(reports=[_status(world.cp_a, 1, "Finishing", 5)], now=timezone.now())  # resent

    assert Connector.objects.get(charge_point=world.cp_a, number=1).status == "Available"
    assert StatusEvent.objects.filter(charge_point=world.cp_a).count() == 2


def test_a_fault_with_another_error_code_at_the_same_moment_is_another_event(world):
    connector_status_record_many(
        reports=[
            _status(world.cp_a, 1, "Faulted", 5, "GroundFailure"),
            _status(world.cp_a, 1, "Faulted", 5, "HighTemperature"),
        ],
        now=timezone.now(),
    )
    assert StatusEvent.objects.filter(charge_point=world.cp_a, status="Faulted").count() == 2


def _transfer(cp, at, data="41C", message_id="temp"):
    return charger_event_record(
        charge_point=cp,
        kind=ChargerEvent.Kind.DATA_TRANSFER,
        vendor_id="com.example",
        message_id=message_id,
        data=data,
        at=at,
    )


def test_a_data_transfer_sent_again_soon_is_stored_once_and_the_same_later_is_kept(world):
    now = timezone.now()
    first = _transfer(world.cp_a, now)

    assert _transfer(world.cp_a, now + timedelta(seconds=30)) == first
    _transfer(world.cp_a, now + timedelta(seconds=40), message_id="humidity")  # another message meanwhile
    assert _transfer(world.cp_a, now + timedelta(seconds=50)) == first
    _transfer(world.cp_a, now + timedelta(seconds=60), data="42C")
    _transfer(world.cp_b, now + timedelta(seconds=60))  # another charger
    _transfer(world.cp_a, now + EVENT_RESEND_WINDOW + timedelta(minutes=1))

    assert list(
        ChargerEvent.objects.filter(charge_point=world.cp_a, message_id="temp")
        .order_by("received_at")
        .values_list("data", flat=True)
    ) == ["41C", "42C", "41C"]
    assert ChargerEvent.objects.filter(charge_point=world.cp_b).count() == 1


def test_a_firmware_status_repeated_after_another_is_kept(world):
    now = timezone.now()
    for seconds, status in enumerate(["Downloading", "Downloading", "DownloadFailed", "Downloading"]):
        charger_event_record(
            charge_point=world.cp_a,
            kind=ChargerEvent.Kind.FIRMWARE_STATUS,
            status=status,
            at=now + timedelta(seconds=seconds),
        )

    assert list(
        ChargerEvent.objects.filter(charge_point=world.cp_a).order_by("received_at").values_list("status", flat=True)
    ) == ["Downloading", "DownloadFailed", "Downloading"]


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_the_first_of_readings_and_events_stored_twice(back_to_latest):  # noqa: F811
    apps = migrate(BEFORE)
    org = apps.get_model("accounts", "Organization").objects.create(name="Op", slug="op")
    cp = apps.get_model("sessions_app", "ChargePoint").objects.create(organization=org, ocpp_id="CP-1")
    connector = apps.get_model("sessions_app", "Connector").objects.create(
        charge_point=cp, number=1, max_power_kw=Decimal("22")
    )
    Reading, Event = apps.get_model("sessions_app", "MeterValue"), apps.get_model("sessions_app", "StatusEvent")
    readings = [
        Reading.objects.create(
            charge_point=cp, connector=where, timestamp=T0 + timedelta(minutes=minutes), value=Decimal(value)
        )
        for where, minutes, value in [
            (connector, 1, 10),
            (connector, 1, 10),
            (connector, 2, 20),
            (None, 1, 10),
            (None, 1, 10),
            (connector, 1, 10),
        ]
    ]
    events = [
        Event.objects.create(charge_point=cp, connector=where, status="Available", error_code="NoError", timestamp=T0)
        for where in (connector, connector, None, None)
    ]

    apps = migrate(AFTER)

    kept = apps.get_model("sessions_app", "MeterValue").objects.order_by("pk").values_list("pk", flat=True)
    assert list(kept) == [readings[0].pk, readings[2].pk, readings[3].pk]
    kept = apps.get_model("sessions_app", "StatusEvent").objects.order_by("pk").values_list("pk", flat=True)
    assert list(kept) == [events[0].pk, events[2].pk]
