"""Routine 2.0.1 Updated events of many chargers kept in one transaction (``routine_events_record_many``, the
load a fleet mostly sends): the same sessions, events and readings as one at a time; anything else is left to
``transaction_event_record``."""

from datetime import timedelta

import pytest

from sessions_app.models import ChargingSession, MeterValue, TransactionEvent
from sessions_app.transaction_events import routine_events_record_many, transaction_event_record
from tests.sessions_app.test_transaction_events import T0, _completed, _event, _summary, _transaction

pytestmark = pytest.mark.django_db

NOW = T0 + timedelta(minutes=61)


def test_routine_events_batched_with_replays_make_the_same_session_as_one_at_a_time(world):
    started, updated, ended = _transaction(world)
    transaction_event_record(report=started, now=NOW)

    sessions = routine_events_record_many(reports=[updated, updated], now=NOW)  # sent twice at once
    assert routine_events_record_many(reports=[updated], now=NOW) == sessions[:1]  # and again later
    transaction_event_record(report=ended, now=NOW)

    session = ChargingSession.objects.get()
    assert sessions == [session, session]
    assert _summary(session) == _completed(world)
    assert list(session.transaction_events.values_list("seq_no", "event_type")) == [
        (0, "Started"),
        (1, "Updated"),
        (2, "Ended"),
    ]
    assert sorted(MeterValue.objects.filter(session=session).values_list("value", flat=True)) == [1000, 4000, 8000]
    assert not session.flags.exists()


def test_each_chargers_routine_event_goes_to_its_own_session(world):
    for cp, card in ((world.cp_a, world.alice_card), (world.cp_b, world.bob_card)):
        transaction_event_record(
            report=_event(world, "Started", 0, 0, 1000, charge_point=cp, raw_token=card.uid), now=NOW
        )
    alpha, beta = (ChargingSession.objects.get(charge_point=cp) for cp in (world.cp_a, world.cp_b))

    reports = [
        _event(world, "Updated", 1, 30, 4000, charge_point=world.cp_b),
        _event(world, "Updated", 1, 30, 3000, charge_point=world.cp_a),
        _event(world, "Updated", 2, 45, 5000, charge_point=world.cp_b),
    ]
    assert routine_events_record_many(reports=reports, now=NOW) == [beta, alpha, beta]

    assert list(beta.transaction_events.values_list("seq_no", flat=True)) == [0, 1, 2]
    assert list(alpha.transaction_events.values_list("seq_no", flat=True)) == [0, 1]
    assert sorted(MeterValue.objects.filter(session=beta).values_list("value", flat=True)) == [1000, 4000, 5000]
    assert sorted(MeterValue.objects.filter(session=alpha).values_list("value", flat=True)) == [1000, 3000]


def test_events_that_may_change_their_session_are_left_to_be_recorded_one_at_a_time(world):
    for minutes, (transaction_id, register) in enumerate((("no-register", None), ("ended", 1000), ("running", 2000))):
        transaction_event_record(
            report=_event(world, "Started", 0, minutes, register, transaction_id=transaction_id), now=NOW
        )
    transaction_event_record(report=_event(world, "Ended", 1, 60, 3000, transaction_id="ended"), now=NOW)
    reports = [
        _event(world, "Updated", 1, 30, 4000, transaction_id="not-started"),  # its session not made yet
        _event(world, "Updated", 1, 30, 4000, transaction_id="no-register"),  # its start may still come
        _event(world, "Updated", 2, 30, 4000, transaction_id="ended"),  # late: the stop may change
        _event(world, "Updated", 1, 30, 4000, transaction_id="running", raw_token=world.alice_card.uid),  # a card
        _event(world, "Started", 0, 2, 2000, transaction_id="running"),
    ]
    before = set(TransactionEvent.objects.values_list("pk", flat=True)), MeterValue.objects.count()

    assert routine_events_record_many(reports=reports, now=NOW) == [None] * len(reports)

    assert (set(TransactionEvent.objects.values_list("pk", flat=True)), MeterValue.objects.count()) == before
