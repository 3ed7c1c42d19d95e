"""Readings buffered under a wrong clock keep their order and spacing, each stored, the session flagged once."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError

from sessions_app import services
from sessions_app.models import ChargePoint, MeterValue, SessionFlag
from sessions_app.services import MeterValuesReport, meter_values_record_many, session_start, session_stop

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=30)
RESET = [datetime(2000, 1, 1, 10, minute, tzinfo=UTC) for minute in (0, 5, 10)]


@pytest.fixture
def cp(world) -> ChargePoint:
    ChargePoint.objects.filter(pk=world.cp_a.pk).update(created_at=NOW - timedelta(days=10))
    world.cp_a.refresh_from_db()
    return world.cp_a


@pytest.fixture
def session(cp, world):
    return session_start(
        charge_point=cp, connector_id=1, raw_uid=world.alice_card.uid, meter_start_wh=1000, timestamp=NOW, now=NOW
    )


def _readings(times, first_wh=2000):
    return [
        {
            "timestamp": at,
            "sampled_value": [{"value": str(first_wh + 100 * n), "measurand": "Energy.Active.Import.Register"}],
        }
        for n, at in enumerate(times)
    ]


def _stored(session) -> list[tuple[datetime, int]]:
    return [(row.timestamp, int(row.value)) for row in MeterValue.objects.filter(session=session).order_by("timestamp")]


def test_readings_dated_2000_in_one_meter_values_keep_their_spacing_and_end_at_the_time_received(cp, session):
    stored = meter_values_record_many(reports=[MeterValuesReport(cp, 1, session.pk, _readings(RESET))], now=LATER)

    assert stored == [3]
    assert _stored(session) == [
        (LATER - timedelta(minutes=10), 2000),
        (LATER - timedelta(minutes=5), 2100),
        (LATER, 2200),
    ]
    flag = SessionFlag.objects.get(session=session)
    assert flag.code == SessionFlag.Code.PAST_TIMESTAMP
    assert "2000-01-01T10:00:00+00:00 to 2000-01-01T10:10:00+00:00" in flag.detail


def test_readings_dated_2000_in_a_stops_transaction_data_keep_their_spacing(cp, world, session):
    session_stop(
        charge_point=cp,
        transaction_id=session.pk,
        raw_uid=world.alice_card.uid,
        meter_stop_wh=2200,
        timestamp=LATER,
        reason="EVDisconnected",
        transaction_data=_readings(RESET),
        now=LATER,
    )

    assert _stored(session) == [
        (LATER - timedelta(minutes=10), 2000),
        (LATER - timedelta(minutes=5), 2100),
        (LATER, 2200),
    ]
    assert (
        "2000-01-01T10:00:00+00:00 to 2000-01-01T10:10:00+00:00"
        in SessionFlag.objects.get(session=session, code=SessionFlag.Code.PAST_TIMESTAMP).detail
    )


def test_plausible_readings_in_the_same_message_keep_their_own_times(cp, session):
    plausible = NOW + timedelta(minutes=1)
    meter_values_record_many(
        reports=[MeterValuesReport(cp, 1, session.pk, _readings([RESET[0], plausible, RESET[2]]))], now=LATER
    )

    assert _stored(session) == [(plausible, 2100), (LATER - timedelta(minutes=10), 2000), (LATER, 2200)]


def test_times_spanning_more_than_the_window_all_get_the_time_received(cp, session):
    far = datetime(9999, 12, 31, tzinfo=UTC)
    meter_values_record_many(reports=[MeterValuesReport(cp, 1, session.pk, _readings([RESET[0], far]))], now=LATER)

    assert _stored(session) == [(LATER, 2000)]  # one instant: the second reading is the same key
    assert set(SessionFlag.objects.filter(session=session).values_list("code", flat=True)) == {
        SessionFlag.Code.PAST_TIMESTAMP,
        SessionFlag.Code.FUTURE_TIMESTAMP,
    }


def test_a_hundred_readings_at_wrong_times_flag_the_session_with_a_handful_of_queries(
    cp, session, django_assert_max_num_queries
):
    times = [RESET[0] + timedelta(seconds=10 * n) for n in range(100)]
    with django_assert_max_num_queries(20):
        assert meter_values_record_many(
            reports=[MeterValuesReport(cp, 1, session.pk, _readings(times))], now=LATER
        ) == [100]
    assert SessionFlag.objects.filter(session=session).count() == 1


def test_a_start_breaking_another_constraint_raises_its_own_error(cp, world, monkeypatch):
    def refused(*args, **kwargs):
        raise IntegrityError("CHECK constraint failed")

    monkeypatch.setattr(services, "session_flag_times", refused)
    with pytest.raises(IntegrityError, match="CHECK constraint failed"):
        session_start(
            charge_point=cp,
            connector_id=1,
            raw_uid=world.alice_card.uid,
            meter_start_wh=1000,
            timestamp=RESET[0],
            now=NOW,
        )
