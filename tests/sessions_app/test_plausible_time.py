"""A charger's clock is believed only within a window; outside it the time received is used, the original kept."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from billing.models import SessionPrice
from billing.services import tariff_assignment_create
from reporting.models import ConnectorDay, ConnectorHour, DriverDay, SiteHour
from sessions_app.models import ChargePoint, ChargingSession, Connector, MeterValue, SessionFlag, StatusEvent
from sessions_app.ocpp.v16 import parse_time
from sessions_app.services import (
    MeterValuesReport,
    StatusReport,
    charger_time,
    connector_status_record_many,
    meter_values_record_many,
    session_start,
    session_stop,
)
from tests.factories import make_tariff

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
REGISTERED = NOW - timedelta(days=10)
Y2K = datetime(2000, 1, 1, tzinfo=UTC)
FAR = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


@pytest.fixture
def cp(world) -> ChargePoint:
    """ALPHA-1, registered ten days before NOW."""
    ChargePoint.objects.filter(pk=world.cp_a.pk).update(created_at=REGISTERED)
    world.cp_a.refresh_from_db()
    return world.cp_a


def _flags(session) -> dict[str, str]:
    return dict(SessionFlag.objects.filter(session=session).values_list("code", "detail"))


def _start(cp, world, at, now=NOW, meter_wh=1000):
    return session_start(
        charge_point=cp, connector_id=1, raw_uid=world.alice_card.uid, meter_start_wh=meter_wh, timestamp=at, now=now
    )


def _stop(cp, world, session, at, now, meter_wh=31_000):
    return session_stop(
        charge_point=cp,
        transaction_id=session.pk,
        raw_uid=world.alice_card.uid,
        meter_stop_wh=meter_wh,
        timestamp=at,
        reason="EVDisconnected",
        transaction_data=[],
        now=now,
    )


@pytest.mark.parametrize(
    ("reported", "believed"),
    [
        (REGISTERED - timedelta(hours=23), True),  # charged offline the day before it was added
        (REGISTERED - timedelta(hours=25), False),
        (NOW + timedelta(minutes=4), True),  # a clock a little fast
        (NOW + timedelta(minutes=6), False),
        (Y2K, False),
        (FAR, False),
    ],
)
def test_the_window_runs_from_a_day_before_registration_to_five_minutes_ahead(cp, reported, believed):
    assert charger_time(charge_point=cp, reported=reported, received=NOW) == (reported if believed else NOW)


def test_the_window_is_configurable(cp, settings):
    settings.OCPP_TIME_BEFORE_REGISTRATION, settings.OCPP_TIME_AHEAD = 0, 3600
    assert charger_time(charge_point=cp, reported=REGISTERED - timedelta(hours=1), received=NOW) == NOW
    assert charger_time(charge_point=cp, reported=NOW + timedelta(minutes=50), received=NOW) == NOW + timedelta(
        minutes=50
    )


def test_a_start_dated_2000_is_stored_at_its_received_time_with_the_original_kept_and_flagged(cp, world):
    session = _start(cp, world, Y2K)

    assert (session.started_at, session.charger_started_at) == (NOW, Y2K)
    assert session.auth_status == "Accepted"
    assert "2000-01-01" in _flags(session)[SessionFlag.Code.PAST_TIMESTAMP]


def test_a_clamped_start_sent_again_later_is_the_same_session(cp, world):
    session = _start(cp, world, Y2K)
    again = _start(cp, world, Y2K, now=NOW + timedelta(minutes=3))
    assert again.pk == session.pk and ChargingSession.objects.count() == 1


def test_a_start_a_little_ahead_sent_again_once_it_is_believed_is_the_same_session(cp, world):
    ahead = NOW + timedelta(minutes=8)
    session = _start(cp, world, ahead)
    again = _start(cp, world, ahead, now=NOW + timedelta(minutes=10))
    assert again.pk == session.pk and session.started_at == NOW and session.charger_started_at == ahead


def test_a_start_dated_2000_writes_a_handful_of_rollup_rows(cp, world, django_capture_on_commit_callbacks):
    session = _start(cp, world, Y2K)
    with django_capture_on_commit_callbacks(execute=True):
        _stop(cp, world, session, NOW + timedelta(hours=1), NOW + timedelta(hours=1))

    rows = sum(model.objects.count() for model in (ConnectorHour, ConnectorDay, SiteHour, DriverDay))
    assert 0 < rows < 20


def test_a_stop_dated_9999_stops_when_received_and_is_priced_normally(cp, world, django_capture_on_commit_callbacks):
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"))  # incl. VAT
    session = _start(cp, world, NOW)
    with django_capture_on_commit_callbacks(execute=True):
        session = _stop(cp, world, session, FAR, NOW + timedelta(hours=1))

    session.refresh_from_db()
    assert (session.stopped_at, session.charger_stopped_at.year) == (NOW + timedelta(hours=1), 9999)
    assert session.energy_wh == 30_000
    assert SessionFlag.Code.FUTURE_TIMESTAMP in _flags(session)
    assert SessionPrice.objects.get(session=session).gross_total == 120  # 30 kWh at 4.00


def test_a_session_whose_charger_sent_9999_shows_on_every_page(cp, world, client, django_capture_on_commit_callbacks):
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"))
    with time_machine.travel(NOW + timedelta(hours=2)):
        session = _start(cp, world, FAR, now=NOW)
        with django_capture_on_commit_callbacks(execute=True):
            _stop(cp, world, session, FAR, NOW + timedelta(hours=1))
        connector_status_record_many(reports=[StatusReport(cp, 1, "Available", "NoError", FAR)], now=NOW)
        ChargingSession.objects.filter(pk=session.pk).update(charger_started_at=FAR)  # exactly as sent, no margin

        client.force_login(world.alice)
        for url in (
            reverse("history"),
            reverse("history_session", args=[session.pk]),
            reverse("history_export_csv"),
            reverse("history_export_pdf"),
            reverse("api:history"),
            reverse("api:history_session", args=[session.pk]),
        ):
            assert client.get(url).status_code == 200, url
        client.force_login(world.carol)
        for url in (
            reverse("admin:sessions_app_chargingsession_changelist"),
            reverse("admin:sessions_app_chargingsession_change", args=[session.pk]),
            reverse("admin:sessions_app_statusevent_changelist"),
            reverse("admin:sessions_app_statusevent_change", args=[StatusEvent.objects.get().pk]),
            reverse("admin:sessions_app_sessionflag_changelist"),
        ):
            assert client.get(url).status_code == 200, url


def test_a_status_dated_9999_does_not_hold_the_connector_against_a_later_fault(cp):
    connector_status_record_many(reports=[StatusReport(cp, 1, "Available", "NoError", FAR)], now=NOW)
    connector_status_record_many(
        reports=[StatusReport(cp, 1, "Faulted", "GroundFailure", NOW + timedelta(minutes=1))],
        now=NOW + timedelta(minutes=1),
    )

    assert Connector.objects.get(charge_point=cp, number=1).status == "Faulted"
    stored = StatusEvent.objects.get(status="Available")
    assert (stored.timestamp, stored.charger_timestamp.year) == (NOW, 9999)
    assert StatusEvent.objects.get(status="Faulted").charger_timestamp is None


def test_meter_values_dated_2000_get_their_received_time_and_flag_the_session(cp, world):
    session = _start(cp, world, NOW)
    reading = {"timestamp": Y2K, "sampled_value": [{"value": "2000"}]}
    later = NOW + timedelta(minutes=10)

    assert meter_values_record_many(reports=[MeterValuesReport(cp, 1, session.pk, [reading])], now=later) == [1]

    assert MeterValue.objects.get(session=session).timestamp == later
    assert SessionFlag.Code.PAST_TIMESTAMP in _flags(session)


@pytest.mark.parametrize(
    ("sent", "parsed"),
    [
        ("9999-12-31T23:59:59Z", FAR),
        ("9999-12-31T23:59:59-05:00", datetime.max.replace(tzinfo=UTC)),  # past Python's last year once in UTC
        ("0001-01-01T00:00:00+05:00", datetime.min.replace(tzinfo=UTC)),
        ("2026-11-20T13:00:00+01:00", NOW),
    ],
)
def test_any_iso_time_a_charger_sends_parses_to_a_utc_moment(sent, parsed):
    assert parse_time(sent) == parsed


def test_a_reading_outside_any_session_keeps_the_time_its_charger_sent(cp):
    reading = {"timestamp": Y2K, "sampled_value": [{"value": "230", "measurand": "Voltage"}]}
    later = NOW + timedelta(minutes=10)

    meter_values_record_many(reports=[MeterValuesReport(cp, 0, None, [reading])], now=later)

    stored = MeterValue.objects.get(charge_point=cp, measurand="Voltage")
    assert (stored.timestamp, stored.charger_timestamp) == (later, Y2K)


@pytest.mark.parametrize("source", ["status", "station reading", "session reading", "start", "stop"])
def test_a_wrong_clock_marks_its_charger_for_review_whatever_sent_it(cp, world, source):
    later = NOW + timedelta(minutes=10)
    if source == "status":
        connector_status_record_many(reports=[StatusReport(cp, 1, "Available", "NoError", Y2K)], now=later)
    elif source == "station reading":
        reading = {"timestamp": Y2K, "sampled_value": [{"value": "230", "measurand": "Voltage"}]}
        meter_values_record_many(reports=[MeterValuesReport(cp, 0, None, [reading])], now=later)
    elif source == "session reading":
        session = _start(cp, world, NOW)
        reading = {"timestamp": Y2K, "sampled_value": [{"value": "2000"}]}
        meter_values_record_many(reports=[MeterValuesReport(cp, 1, session.pk, [reading])], now=later)
    elif source == "start":
        _start(cp, world, Y2K, now=later)
    else:
        _stop(cp, world, _start(cp, world, NOW), Y2K, now=later)

    cp.refresh_from_db()
    assert (cp.clock_wrong_at, cp.clock_wrong_sent) == (later, Y2K)


def test_plausible_times_mark_no_charger(cp, world):
    session = _start(cp, world, NOW)
    connector_status_record_many(reports=[StatusReport(cp, 1, "Charging", "NoError", NOW)], now=NOW)
    _stop(cp, world, session, NOW + timedelta(hours=1), now=NOW + timedelta(hours=1))

    cp.refresh_from_db()
    assert cp.clock_wrong_at is None


def test_needs_attention_lists_a_charger_whose_clock_was_wrong_in_the_period(cp, world):
    from reporting.faults import needs_attention

    connector_status_record_many(reports=[StatusReport(cp, 1, "Available", "NoError", Y2K)], now=NOW)

    def reasons(start, end):
        stations = needs_attention(organization=world.org_a, start=start, end=end, now=NOW + timedelta(days=40))
        return [reason.text for station in stations if station.charge_point == cp for reason in station.reasons]

    assert any(
        "Clock wrong" in text and "2000-01-01" in text
        for text in reasons(NOW - timedelta(days=1), NOW + timedelta(days=1))
    )
    assert not any("Clock wrong" in text for text in reasons(NOW + timedelta(days=1), NOW + timedelta(days=30)))
    assert not any(
        "Clock wrong" in text
        for station in needs_attention(
            organization=world.org_b, start=NOW - timedelta(days=1), end=NOW + timedelta(days=1)
        )
        for text in [reason.text for reason in station.reasons]
    )


def test_a_batch_from_a_wrong_clock_writes_its_charger_once(cp):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    later = NOW + timedelta(minutes=10)
    statuses = [
        StatusReport(cp, 1, status, "NoError", Y2K + timedelta(minutes=n))
        for n, status in enumerate(["Available", "Preparing", "Charging", "SuspendedEV", "Finishing"])
    ]
    readings = [
        MeterValuesReport(
            cp,
            0,
            None,
            [{"timestamp": Y2K + timedelta(minutes=n), "sampled_value": [{"value": "230", "measurand": "Voltage"}]}],
        )
        for n in range(5)
    ]
    with CaptureQueriesContext(connection) as queries:
        connector_status_record_many(reports=statuses, now=later)
        meter_values_record_many(reports=readings, now=later)

    charger_writes = [q["sql"] for q in queries if q["sql"].startswith("UPDATE") and "clock_wrong_at" in q["sql"]]
    assert len(charger_writes) == 2  # one per batch, not one per report
    cp.refresh_from_db()
    assert cp.clock_wrong_at == later
