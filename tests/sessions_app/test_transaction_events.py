"""OCPP 2.0.1 transactions told as events: one session however its events arrive (in order, replayed, reordered,
the start late or missing), its readings stored once, 2.0.1's sampled values read as 1.6's."""

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuthorizationStatus
from sessions_app import transaction_events
from sessions_app.models import ChargingSession, MeterValue, PostStopWork, SessionFlag, TransactionEvent
from sessions_app.ocpp.v201_transactions import readings
from sessions_app.post_stop import post_stop_work_run
from sessions_app.transaction_events import START_WAIT, TransactionEventReport, transaction_event_record

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def _reading(minutes: int, wh: int, context: str) -> dict:
    return {
        "timestamp": T0 + timedelta(minutes=minutes),
        "sampled_value": [{"value": str(wh), "unit": "Wh", "context": context}],
    }


def _event(world, kind: str, seq_no: int, minutes: int, wh: int | None, **fields) -> TransactionEventReport:
    context = {"Started": "Transaction.Begin", "Ended": "Transaction.End"}.get(kind, "Sample.Periodic")
    defaults = {
        "charge_point": world.cp_a,
        "transaction_id": "tx-7f3a",
        "seq_no": seq_no,
        "event_type": kind,
        "trigger_reason": {"Started": "Authorized", "Ended": "EVCommunicationLost"}.get(kind, "MeterValuePeriodic"),
        "timestamp": T0 + timedelta(minutes=minutes),
        "connector_number": 1 if kind == "Started" else None,
        "raw_token": world.alice_card.uid if kind == "Started" else "",
        "meter_value": [] if wh is None else [_reading(minutes, wh, context)],
        "stopped_reason": "EVDisconnected" if kind == "Ended" else "",
    }
    return TransactionEventReport(**{**defaults, **fields})


def _transaction(world) -> list[TransactionEventReport]:
    return [
        _event(world, "Started", 0, 0, 1000),
        _event(world, "Updated", 1, 30, 4000),
        _event(world, "Ended", 2, 60, 8000),
    ]


def _record(events, now=None) -> ChargingSession:
    for event in events:
        session = transaction_event_record(report=event, now=now or T0 + timedelta(minutes=61))
    session.refresh_from_db()
    return session


def _summary(session: ChargingSession) -> tuple:
    return (
        session.state,
        session.started_at,
        session.stopped_at,
        session.meter_start_wh,
        session.meter_stop_wh,
        session.energy_wh,
        session.id_tag_id,
        session.customer_account_id,
        session.auth_status,
        session.stop_reason,
        session.connector.number,
    )


def _completed(world) -> tuple:
    """``_summary`` of the transaction of ``_transaction``, however it arrived."""
    return (
        "completed",
        T0,
        T0 + timedelta(hours=1),
        1000,
        8000,
        7000,
        world.alice_card.pk,
        world.alice.customer_account.pk,
        AuthorizationStatus.ACCEPTED,
        "EVDisconnected",
        1,
    )


def test_a_transaction_in_order_is_one_completed_session_with_its_readings(world):
    session = _record(_transaction(world))

    assert _summary(session) == _completed(world)
    assert session.charger_transaction_id == "tx-7f3a"
    assert list(session.transaction_events.values_list("seq_no", "event_type")) == [
        (0, "Started"),
        (1, "Updated"),
        (2, "Ended"),
    ]
    assert sorted(MeterValue.objects.filter(session=session).values_list("value", flat=True)) == [1000, 4000, 8000]
    assert not session.flags.exists()
    assert PostStopWork.objects.get(session=session).next_attempt_at <= timezone.now()


def test_replayed_events_change_nothing_and_store_nothing_twice(world):
    first = _summary(_record(_transaction(world)))
    session = _record(_transaction(world) + list(reversed(_transaction(world))))

    assert _summary(session) == first
    assert ChargingSession.objects.count() == 1
    assert TransactionEvent.objects.count() == 3
    assert MeterValue.objects.count() == 3


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_any_order_gives_the_same_session(world, order):
    events = _transaction(world)
    session = _record([events[index] for index in order])

    assert _summary(session) == _completed(world)
    assert not session.flags.filter(resolved_at__isnull=True).exists()


def test_an_end_before_its_start_waits_for_it_before_the_price_and_is_flagged_until_it_comes(world):
    now = T0 + timedelta(minutes=61)
    started, updated, ended = _transaction(world)
    session = _record([updated, ended], now=now)

    assert session.state == "completed" and session.started_at == T0 + timedelta(minutes=30)
    assert (session.meter_start_wh, session.meter_stop_wh) == (4000, 8000)  # the earliest register known
    assert PostStopWork.objects.get(session=session).next_attempt_at == now + START_WAIT
    assert session.flags.filter(code=SessionFlag.Code.MISSING_START, resolved_at__isnull=True).exists()

    session = _record([started], now=now + timedelta(minutes=1))

    assert (session.started_at, session.meter_start_wh, session.energy_wh) == (T0, 1000, 7000)
    assert PostStopWork.objects.get(session=session).next_attempt_at == now + timedelta(minutes=1)
    assert not session.flags.filter(resolved_at__isnull=True).exists()


def test_a_start_after_the_price_was_made_is_kept_and_flagged_not_applied(world):
    started, updated, ended = _transaction(world)
    session = _record([updated, ended])
    PostStopWork.objects.filter(session=session).update(done_at=timezone.now())

    session = _record([started])

    assert (session.started_at, session.meter_start_wh, session.energy_wh) == (T0 + timedelta(minutes=30), 4000, 4000)
    assert session.flags.filter(code=SessionFlag.Code.LATE_EVENT).exists()
    assert TransactionEvent.objects.filter(session=session).count() == 3


def test_a_card_presented_after_the_cable_is_the_sessions_card(world):
    """TxStartPoint EVConnected: the transaction starts at the plug, the card comes in an Updated event."""
    started = _event(world, "Started", 0, 0, 1000, raw_token="", trigger_reason="CablePluggedIn")
    session = _record([started])
    assert session.state == "active" and session.id_tag_id is None

    authorized = _event(world, "Updated", 1, 2, None, raw_token=world.alice_card.uid, trigger_reason="Authorized")
    session = _record([authorized, _event(world, "Ended", 2, 60, 8000)])

    assert (session.id_tag_id, session.auth_status) == (world.alice_card.pk, AuthorizationStatus.ACCEPTED)
    assert not session.flags.exists()


def test_an_evse_named_after_the_start_shares_its_load_group_again_and_has_its_readings(world, monkeypatch):
    """TxStartPoint Authorized: the card starts the transaction, the EVSE comes with the cable in a routine
    Updated event; only then does the session have a connector to be given a share."""
    told = []
    monkeypatch.setattr(transaction_events, "load_changed", lambda charge_points: told.append(list(charge_points)))
    session = _record([_event(world, "Started", 0, 0, 1000, connector_number=None)])
    assert session.connector is None and told == [[world.cp_a]]

    plugged = _event(world, "Updated", 1, 1, 1000, connector_number=1, trigger_reason="CablePluggedIn")
    session = _record([plugged])

    assert session.connector.number == 1
    assert told == [[world.cp_a], [world.cp_a]]
    assert MeterValue.objects.get(session=session, value=1000, timestamp=T0 + timedelta(minutes=1)).connector == (
        session.connector
    )


def test_a_transaction_no_card_was_ever_presented_for_is_flagged(world):
    events = [
        _event(world, "Started", 0, 0, 1000, raw_token=""),
        _event(world, "Ended", 1, 60, 8000),
    ]
    session = _record(events)

    assert session.state == "completed" and session.auth_status == AuthorizationStatus.INVALID
    assert session.flags.filter(code=SessionFlag.Code.UNAUTHORIZED_START).exists()


def test_an_end_without_a_register_uses_the_latest_reading(world):
    started, updated, _ended = _transaction(world)
    session = _record([started, updated, _event(world, "Ended", 2, 60, None)])

    assert (session.meter_stop_wh, session.energy_wh) == (4000, 3000)


def test_a_completed_session_is_priced_once_when_its_work_runs(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        session = _record(_transaction(world))
    work = PostStopWork.objects.get(session=session)
    assert work.done_at is not None
    assert post_stop_work_run(session_id=session.pk) is None  # done: nothing runs again


def test_2_0_1_sampled_values_read_as_1_6_ones():
    meter_value = [
        {
            "timestamp": "2026-11-20T08:00:00Z",
            "sampled_value": [
                {"value": 12.5, "unit_of_measure": {"unit": "kWh", "multiplier": 0}, "context": "Transaction.Begin"},
                {"value": 7.4, "measurand": "Power.Active.Import", "unit_of_measure": {"unit": "W", "multiplier": 3}},
                {"value": 230, "measurand": "Voltage", "phase": "L1-N"},
                {
                    "value": 12500,
                    "signed_meter_value": {
                        "signed_meter_data": "OCMF|{}|{}",
                        "signing_method": "",
                        "encoding_method": "OCMF",
                    },
                },
            ],
        }
    ]

    converted = readings(meter_value)

    assert converted[0]["timestamp"] == T0
    assert converted[0]["sampled_value"] == [
        {"context": "Transaction.Begin", "value": "12.5", "unit": "kWh"},
        {"measurand": "Power.Active.Import", "value": "7.4E+3", "unit": "W"},
        {"measurand": "Voltage", "phase": "L1-N", "value": "230", "unit": "Wh"},
        {"value": "12500", "unit": "Wh"},
        {"value": "OCMF|{}|{}", "format": "SignedData"},
    ]
    assert Decimal(converted[0]["sampled_value"][1]["value"]) == 7400


def test_the_admin_session_page_shows_the_chargers_transaction_id_and_its_events(client, world):
    session = _record(_transaction(world))
    client.force_login(world.carol)

    page = client.get(reverse("admin:sessions_app_chargingsession_change", args=[session.pk])).content.decode()
    found = client.get(reverse("admin:sessions_app_chargingsession_changelist"), {"q": "tx-7f3a"}).content.decode()

    assert "tx-7f3a" in page and "EVCommunicationLost" in page and "MeterValuePeriodic" in page
    assert f"/{session.pk}/change/" in found


def test_events_missing_before_the_end_are_flagged_until_they_come(world):
    started, updated, ended = _transaction(world)
    session = _record([started, ended])

    flag = session.flags.get(code=SessionFlag.Code.MISSING_EVENTS)
    assert flag.detail == "Events 1 of 3 not received." and flag.resolved_at is None

    session = _record([updated])

    assert session.flags.get(code=SessionFlag.Code.MISSING_EVENTS).resolved_at is not None
