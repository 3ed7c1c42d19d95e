"""A charger's transaction told as events (OCPP 2.0.1 TransactionEvent): one session, whatever order they come in.

1.6 sends a transaction as StartTransaction, MeterValues and StopTransaction, and our session id is its number.
2.0.1 sends Started, Updated... and Ended events numbered by the charger (``seqNo``), under the charger's own
transaction id, and a charger back from being offline may replay them, or a lost one may come late. So:

- Every event is kept once (``TransactionEvent``: one per charger, transaction and seqNo); the same event
  again changes nothing.
- The session is derived from all of its events, not from the last one: its start from the Started event
  (or, until that comes, the earliest event), the meter at start from the Started event's energy register
  (else the earliest register read), the card from the first event carrying an idToken (2.0.1 often starts
  a transaction when the cable is plugged in and authorizes it later), its stop from the Ended event, the
  meter at stop from the Ended event's register (else the latest one read).
- An Ended event closes the session through ``services.session_stop``, as 1.6's stop does; when its Started
  event is still missing, the price waits ``START_WAIT`` for it (``post_stop``), so a late Started still
  counts; one after the price was made is kept, changes nothing and flags the session for review.
- The readings inside the events are stored as MeterValues are (``services.meter_values_record_many``).
- Most events are routine: an Updated event with readings and no card, of a session running from a Started
  event with a register; nothing derived can change. Those of many chargers are kept in one transaction
  (``routine_events_record_many``, through ``ocpp.batching`` as 1.6's MeterValues): one event a transaction
  cost about 6 ms of CPU whatever it held, a batch of 50 about 0.5 ms each.

The events arrive here already translated from the wire (``sessions_app.ocpp.v201_transactions``).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import cast

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q

from accounts.models import AuthorizationStatus
from accounts.uids import id_tag_presented
from sessions_app import hooks, services
from sessions_app.board_push import board_changed
from sessions_app.load_triggers import load_changed
from sessions_app.models import (
    ChargePoint,
    ChargingSession,
    PostStopWork,
    SessionFlag,
    StopReason,
    TransactionEvent,
)
from sessions_app.post_stop import post_stop_work_begin
from sessions_app.services import ENERGY_REGISTER, session_flag

#: How long the price of a session whose Ended event came before its Started waits for the Started.
START_WAIT = timedelta(minutes=5)
_BEGIN, _END = "Transaction.Begin", "Transaction.End"


@dataclass(frozen=True)
class TransactionEventReport:
    """One TransactionEvent; ``meter_value`` in the shape ``services.meter_values_record_many`` reads, times
    parsed; ``connector_number`` ours for the event's EVSE (None when the event names none)."""

    charge_point: ChargePoint
    transaction_id: str
    seq_no: int
    event_type: str
    trigger_reason: str
    timestamp: datetime
    connector_number: int | None
    raw_token: str
    meter_value: list[dict]
    charging_state: str = ""
    stopped_reason: str = ""
    offline: bool = False
    reservation_id: int | None = None


def energy_register(meter_value: list[dict], context: str) -> Decimal | None:
    """The energy register (Wh) an event carries: its reading in ``context`` if there is one, else its latest."""
    reads: list[tuple[bool, datetime, Decimal]] = []
    for reading in meter_value:
        for sampled in reading.get("sampled_value", []):
            if sampled.get("phase") or sampled.get("location") not in (None, "", "Outlet"):
                continue
            measured = services.sampled_measurement(sampled)
            if measured is not None and measured[0] == ENERGY_REGISTER and measured[2] == "Wh":
                reads.append((sampled.get("context") == context, reading["timestamp"], measured[1]))
    return max(reads)[2] if reads else None


def _wh(value: Decimal) -> int:
    return int(value.to_integral_value(ROUND_HALF_UP))


def transaction_event_record(*, report: TransactionEventReport, now: datetime) -> ChargingSession:
    """Keep one TransactionEvent and bring its session up to date with all of its events (module docstring).

    A card the event names is judged once before the transaction that locks its session: that may ask a roaming
    partner over the network (``hooks.realtime_authorization``), which must not hold the lock or a database
    connection in a transaction meanwhile; the partner's answer is remembered, so the judgement inside asks no one.
    """
    if report.raw_token:
        services.id_tag_authorize(charge_point=report.charge_point, raw_uid=report.raw_token, at=now)
    return _event_record(report=report, now=now)


@transaction.atomic
def _event_record(*, report: TransactionEventReport, now: datetime) -> ChargingSession:
    try:
        with transaction.atomic():
            session = _session_of(report, now)
    except IntegrityError:  # its first event, sent twice at once: the other made the session
        session = _session_of(report, now)
    seen = TransactionEvent.objects.filter(
        charge_point=report.charge_point, transaction_id=report.transaction_id, seq_no=report.seq_no
    )
    if seen.exists():
        return session
    _event_row(report, session, now).save(force_insert=True)
    located = False  # its EVSE named at last (2.0.1 may start a transaction before the cable is in)
    if session.connector is None and report.connector_number:
        session.connector = services.connector_by_number(report.charge_point, report.connector_number)
        session.save(update_fields=["connector"])
        located = True
    if report.meter_value:
        services.meter_values_record_many(reports=[_readings(session, report)], now=now)
        _unstorable_flag(session, report)
    if not located and _routine(session, report):
        board_changed([report.charge_point], readings_only=True)
        return session
    if not _derive(session, report, now):  # a stop has told them already
        board_changed([report.charge_point])
        load_changed([report.charge_point])  # a transaction started or got its card or connector: shares change
    return session


@transaction.atomic
def routine_events_record_many(*, reports: list[TransactionEventReport], now: datetime) -> list[ChargingSession | None]:
    """Keep many chargers' routine events (``_routine``) in one transaction, each once, their readings stored, as
    ``transaction_event_record`` would; for each report its session, or None when it is not routine (its
    session not running from a Started event with a register, or its connector not known yet): the caller
    records that one with ``transaction_event_record``."""
    sessions = _running_sessions(reports)
    kept = set(
        TransactionEvent.objects.filter(
            session__in=[session.pk for session in sessions.values()], seq_no__in={r.seq_no for r in reports}
        ).values_list("session_id", "seq_no")
    )
    results: list[ChargingSession | None] = []
    events, readings, new = [], [], []
    for report in reports:
        session = sessions.get((report.charge_point.pk, report.transaction_id))
        if session is None or not routine_report(report) or (session.connector is None and report.connector_number):
            results.append(None)
            continue
        results.append(session)
        if (session.pk, report.seq_no) in kept:
            continue
        kept.add((session.pk, report.seq_no))
        events.append(_event_row(report, session, now))
        if report.meter_value:
            readings.append(_readings(session, report))
            new.append((session, report))
    TransactionEvent.objects.bulk_create(events, ignore_conflicts=True)  # one sent twice at once: kept once
    if readings:
        services.meter_values_record_many(reports=readings, now=now)
    for session, report in new:
        _unstorable_flag(session, report)
    board_changed([r.charge_point for r, session in zip(reports, results, strict=True) if session], readings_only=True)
    return results


#: A Started event with an energy register: the start of a session that routine events cannot change.
_REGISTERED_START = Q(event_type=TransactionEvent.EventType.STARTED, energy_register_wh__isnull=False)


def routine_report(report: TransactionEventReport) -> bool:
    """Whether the report alone allows the event to be routine (``_routine``): an Updated event with no card."""
    return report.event_type == TransactionEvent.EventType.UPDATED and not report.raw_token


def _routine(session: ChargingSession, report: TransactionEventReport) -> bool:
    """An Updated event that can change nothing derived (no card, its session running from a Started event with
    a register): most of a transaction's events, spared reading all the others."""
    return (
        routine_report(report)
        and session.state == ChargingSession.State.ACTIVE
        and session.transaction_events.filter(_REGISTERED_START).exists()
    )


def _running_sessions(reports: list[TransactionEventReport]) -> dict[tuple[int, str], ChargingSession]:
    """The reports' sessions that run from a Started event with a register, locked (in id order: two batches
    wait rather than deadlock), by (charge point id, charger's transaction id)."""
    named = Q()
    for report in reports:
        named |= Q(charge_point=report.charge_point, charger_transaction_id=report.transaction_id)
    started = TransactionEvent.objects.filter(_REGISTERED_START, session=OuterRef("pk"))
    running = (
        ChargingSession.objects.select_for_update(of=("self",))
        .select_related("connector")
        .filter(named, Exists(started), state=ChargingSession.State.ACTIVE)
        .order_by("pk")
    )
    return {(session.charge_point_id, session.charger_transaction_id): session for session in running}


def _event_row(report: TransactionEventReport, session: ChargingSession, now: datetime) -> TransactionEvent:
    """The event as kept (not saved yet)."""
    return TransactionEvent(
        charge_point=report.charge_point,
        session=session,
        transaction_id=report.transaction_id,
        seq_no=report.seq_no,
        event_type=report.event_type,
        trigger_reason=report.trigger_reason,
        timestamp=report.timestamp,
        charging_state=report.charging_state,
        stopped_reason=report.stopped_reason,
        offline=report.offline,
        id_token=report.raw_token[:36],
        energy_register_wh=energy_register(report.meter_value, _END if report.event_type == "Ended" else _BEGIN),
        received_at=now,
    )


def _readings(session: ChargingSession, report: TransactionEventReport) -> services.MeterValuesReport:
    """The event's readings as a MeterValues report of its session's connector."""
    number = session.connector.number if session.connector else 0
    return services.MeterValuesReport(report.charge_point, number, session.pk, report.meter_value)


def _unstorable_flag(session: ChargingSession, report: TransactionEventReport) -> None:
    if problem := services.meter_value_unstorable(report.meter_value):
        session_flag(session, SessionFlag.Code.UNSTORABLE_READING, problem)


def _session_of(report: TransactionEventReport, now: datetime) -> ChargingSession:
    """The transaction's session, locked; made from this event when it is the first to arrive."""
    cp = report.charge_point
    session = (
        ChargingSession.objects.select_for_update(of=("self",))
        .select_related("connector")
        .filter(charge_point=cp, charger_transaction_id=report.transaction_id)
        .first()
    )
    if session is not None:
        return session
    connector = services.connector_by_number(cp, report.connector_number) if report.connector_number else None
    started_at = services.charger_time(charge_point=cp, reported=report.timestamp, received=now)
    register = energy_register(report.meter_value, _BEGIN)
    busy = (
        connector is not None
        and ChargingSession.objects.filter(connector=connector, state=ChargingSession.State.ACTIVE).exists()
    )
    session = ChargingSession.objects.create(
        charge_point=cp,
        connector=connector,
        charger_transaction_id=report.transaction_id,
        id_tag_uid="",
        auth_status=AuthorizationStatus.INVALID,  # until an event presents a card
        started_at=started_at,
        charger_started_at=None if started_at == report.timestamp else report.timestamp,
        meter_start_wh=_wh(register) if register is not None else 0,
        created_at=now,
    )
    if busy:
        session_flag(session, SessionFlag.Code.CONCURRENT_START, "Another session was still open on the connector.")
    return session


def _derive(session: ChargingSession, report: TransactionEventReport, now: datetime) -> bool:
    """Set the session's start, card and stop from all its events (see the module docstring); whether it stopped
    now (``services.session_stop`` then told the board and load management)."""
    cp = report.charge_point
    events = list(session.transaction_events.order_by("seq_no"))
    started = next((event for event in events if event.event_type == TransactionEvent.EventType.STARTED), None)
    ended = next((event for event in events if event.event_type == TransactionEvent.EventType.ENDED), None)
    registers = sorted((e.timestamp, e.energy_register_wh) for e in events if e.energy_register_wh is not None)
    first = started or min(events, key=lambda event: event.timestamp)
    start_register = started.energy_register_wh if started and started.energy_register_wh is not None else None
    if start_register is None and registers:
        start_register = registers[0][1]
    started_at = services.charger_time(charge_point=cp, reported=first.timestamp, received=now)
    start: dict[str, object] = {
        "started_at": started_at,
        "charger_started_at": None if started_at == first.timestamp else first.timestamp,
        "meter_start_wh": _wh(start_register) if start_register is not None else session.meter_start_wh,
    }
    token = next((event.id_token for event in events if event.id_token), "")
    if token and session.id_tag_uid != id_tag_presented(token):
        verdict = services.id_tag_authorize(charge_point=cp, raw_uid=token, at=started_at)
        start |= {
            "id_tag_uid": id_tag_presented(token),
            "id_tag": verdict.id_tag,
            "customer_account": verdict.id_tag.customer_account if verdict.id_tag else None,
            "auth_status": verdict.status,
        }
    changed = {name: value for name, value in start.items() if getattr(session, name) != value}
    if changed:
        _start_update(session, changed, report, now)
    if report.event_type == TransactionEvent.EventType.STARTED and report.reservation_id is not None:
        from sessions_app.reservations import reservation_use  # it imports services, which this module imports

        reservation_use(session=session, reservation_id=report.reservation_id, now=now)
    stopped = False
    if ended is not None and session.state == ChargingSession.State.ACTIVE:
        _stop(session, cp, ended, registers, started is not None, now)
        stopped = True
    if started is not None:  # the start came after all: the flag stays as history, resolved
        _resolve(session, SessionFlag.Code.MISSING_START, now)
    if ended is not None:
        _gaps_check(session, events, ended, now)
    return stopped


def _start_update(session: ChargingSession, changed: dict, report: TransactionEventReport, now: datetime) -> None:
    """Apply a changed start or card; to a session already priced only as a flag for review."""
    work = PostStopWork.objects.filter(session=session).first()
    if work is not None and work.done_at is not None:
        described = ", ".join(f"{name} {value}" for name, value in changed.items() if name != "id_tag")
        session_flag(
            session,
            SessionFlag.Code.LATE_EVENT,
            f"{report.event_type} event {report.seq_no} came after the price was made; it said {described}.",
        )
        return
    for name, value in changed.items():
        setattr(session, name, value)
    fields = list(changed)
    if session.state == ChargingSession.State.COMPLETED:
        session.energy_wh = max(0, cast(int, session.meter_stop_wh) - session.meter_start_wh)
        fields.append("energy_wh")
        # What the stop judged from a start it had to guess may no longer hold.
        if session.energy_wh > 0:
            _resolve(session, SessionFlag.Code.ZERO_ENERGY, now)
        if cast(datetime, session.stopped_at) >= session.started_at:
            _resolve(session, SessionFlag.Code.STOP_BEFORE_START, now)
    session.save(update_fields=fields)
    hooks.sessions_changed([session.pk])  # its card or start may make it a partner's session, or change it
    if "auth_status" in changed and session.auth_status != AuthorizationStatus.ACCEPTED:
        session_flag(session, SessionFlag.Code.UNAUTHORIZED_START, f"The tag's status was {session.auth_status}.")
    elif "auth_status" in changed:  # a card came late, and it is good
        _resolve(session, SessionFlag.Code.UNAUTHORIZED_START, now)
    if work is not None and report.event_type == TransactionEvent.EventType.STARTED:
        post_stop_work_begin(session=session, now=now, due=now)  # it was waiting for this start


def _gaps_check(
    session: ChargingSession, events: list[TransactionEvent], ended: TransactionEvent, now: datetime
) -> None:
    """Flag an ended transaction whose events up to its Ended are not all here (seqNo counts them from its first:
    the missing ones' readings are missing too); resolved once they arrive."""
    missing = sorted(set(range(events[0].seq_no, ended.seq_no)) - {event.seq_no for event in events})
    if missing:
        shown = ", ".join(str(seq_no) for seq_no in missing[:10]) + (", ..." if len(missing) > 10 else "")
        session_flag(session, SessionFlag.Code.MISSING_EVENTS, f"Events {shown} of {ended.seq_no + 1} not received.")
    else:
        _resolve(session, SessionFlag.Code.MISSING_EVENTS, now)


def _resolve(session: ChargingSession, code: str, now: datetime) -> None:
    services.session_flags_resolve(flags=session.flags.filter(code=code), at=now)


def _stop(
    session: ChargingSession,
    cp: ChargePoint,
    ended: TransactionEvent,
    registers: list,
    has_start: bool,
    now: datetime,
) -> None:
    """Close the session from its Ended event, as 1.6's StopTransaction does."""
    if ended.energy_register_wh is not None:
        meter_stop = _wh(ended.energy_register_wh)
    else:
        meter_stop = _wh(registers[-1][1]) if registers else session.meter_start_wh
    if not has_start:
        session_flag(
            session,
            SessionFlag.Code.MISSING_START,
            "The transaction ended before its Started event arrived; the start is the earliest event received.",
        )
    if not session.id_tag_uid:
        session_flag(session, SessionFlag.Code.UNAUTHORIZED_START, "No card was presented for this transaction.")
    services.session_stop(
        charge_point=cp,
        transaction_id=session.pk,
        raw_uid=session.id_tag_uid,
        meter_stop_wh=meter_stop,
        timestamp=ended.timestamp,
        reason=ended.stopped_reason or StopReason.LOCAL,  # 2.0.1, like 1.6, means Local when it says nothing
        transaction_data=[],
        now=now,
        price_from=None if has_start else now + START_WAIT,
    )
    session.refresh_from_db()
