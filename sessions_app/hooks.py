"""Hooks higher apps register so this app can trigger their work without importing them.

``billing`` registers, in its ``AppConfig.ready()``, a handler that prices a session once it
is completed and a finder of sessions a crash left unpriced or uncharged, a check that refuses
cards whose prepaid wallet is empty, and the handler of terminal payments chargers report by
DataTransfer (ARCHITECTURE.md: dependencies point one way).

``reservation_ended_handlers`` are called with a reservation's id once the transaction that ended it has
committed, whatever the end (``Reservation.Status``: refused, used, expired, cancelled, faulted); a handler
reads the reservation's status, times and session itself (a reservation fee, say, for reserved time).
"""

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import transaction

if TYPE_CHECKING:
    from decimal import Decimal

    from accounts.models import AuthorizationStatus, IdTag
    from sessions_app.models import ChargePoint, ChargingSession

logger = logging.getLogger(__name__)

#: Called with a session's id after the transaction that completed it has committed, from its post-stop
#: work (``sessions_app.post_stop``): until every handler has succeeded once, so each must be idempotent.
session_completed_handlers: list[Callable[[int], object]] = []  # what a handler returns is not used


def register(handlers: list, handler) -> None:
    """Add ``handler`` to ``handlers`` once: ``ready()`` may run more than once (tests, reloads)."""
    if handler not in handlers:
        handlers.append(handler)


def _run_each(handlers: list[Callable[[Any], object]], subject_id: Any, what: str) -> list[str]:
    """Run every handler with ``subject_id`` (an id, or a list of them); one that fails is logged and does not stop
    the others. Returns the failures."""
    failures = []
    for handler in list(handlers):
        try:
            handler(subject_id)
        except Exception as exc:
            logger.exception("%s handler %r failed for %s", what, handler, subject_id)
            failures.append(f"{getattr(handler, '__qualname__', handler)}: {exc!r}")
    return failures


def _run_after_commit(handlers: list[Callable[[Any], object]], subject_id: Any, what: str) -> None:
    """``_run_each`` once the current transaction commits (now, outside one). Never raises: the change that asked
    for it stands whatever its handlers do."""
    try:
        if handlers:
            transaction.on_commit(lambda: _run_each(handlers, subject_id, what), robust=True)
    except Exception:
        logger.exception("%s handlers not queued for %s", what, subject_id)


#: Called with ``charge_point_ids`` and ``connector_ids`` after the commit that changed connectors' status, from
#: ``connector_status_changed``: a StatusNotification moved these connectors (``connector_ids``), or these chargers'
#: connections began or ended, online or offline (``connector_ids`` None: all their connectors). Roaming pushes the
#: EVSEs' status to its partners. Once per change, not retried: a handler that fails is logged and never reaches the
#: charger's message.
connector_status_handlers: list[Callable[[list[int], list[int] | None], object]] = []


def connector_status_changed(charge_point_ids: Iterable[int], *, connector_ids: Iterable[int] | None = None) -> None:
    """Run the connector-status handlers after the current transaction commits (now, outside one); nothing is done
    without a handler or a charger. Never raises."""
    if not connector_status_handlers:
        return
    try:
        charge_points = sorted(set(charge_point_ids))
        connectors = None if connector_ids is None else sorted(set(connector_ids))
        if charge_points:
            transaction.on_commit(lambda: _connector_status_run(charge_points, connectors), robust=True)
    except Exception:
        logger.exception("connector_status handlers not queued for %s", charge_point_ids)


#: Called with site ids after the commit that changed what those sites are (an operator edited one in the admin:
#: name, address, position, time zone); roaming sends the partners their Locations. Once per change, not retried: a
#: handler that fails is logged (partners that pull see the change, the site's ``updated_at``).
site_changed_handlers: list[Callable[[list[int]], object]] = []


def sites_changed(site_ids: Iterable[int]) -> None:
    """Run the site-changed handlers after the current transaction commits (``_run_after_commit``)."""
    if ids := sorted(set(site_ids)):
        _run_after_commit(site_changed_handlers, ids, "site_changed")


def _connector_status_run(charge_point_ids: list[int], connector_ids: list[int] | None) -> None:
    for handler in list(connector_status_handlers):
        try:
            handler(charge_point_ids, connector_ids)
        except Exception:
            logger.exception("connector_status handler %r failed for %s", handler, charge_point_ids)


def session_completed(session_id: int) -> list[str]:
    """Run every session-completed handler (see ``_run_each``)."""
    return _run_each(session_completed_handlers, session_id, "session_completed")


#: Called with a session's id after the transaction that issued a credit note on its price has committed
#: (``billing.services.credit_note_issue``): roaming corrects the CDR a partner was sent. Once, not retried: a
#: handler that fails is logged, and its own sweep must catch up.
session_credited_handlers: list[Callable[[int], object]] = []  # what a handler returns is not used


def session_credited(session_id: int) -> None:
    """Run every session-credited handler after the current transaction commits (``_run_after_commit``)."""
    _run_after_commit(session_credited_handlers, session_id, "session_credited")


#: Called with a reservation's id after the transaction that ended it has committed (any end status, see
#: ``sessions_app.reservations``); once per end, not retried: a handler that fails is logged.
reservation_ended_handlers: list[Callable[[int], object]] = []  # what a handler returns is not used


def reservation_ended(reservation_id: int) -> list[str]:
    """Run every reservation-ended handler (see ``_run_each``)."""
    return _run_each(reservation_ended_handlers, reservation_id, "reservation_ended")


#: Reservation fees in a driver's words, from billing: each handler is called with ``user``, ``connectors`` and
#: ``now`` and returns connector id -> what reserving it costs the driver now (absent: free), and with
#: ``reservation_ids`` -> reservation id -> the fee charged for it (absent: none). The portal's reserve page shows them.
reservation_fee_offer_handlers: list[Callable[..., dict[int, str]]] = []
reservation_fee_charged_handlers: list[Callable[..., dict[int, str]]] = []


def _texts(handlers: list[Callable[..., dict[int, str]]], **arguments) -> dict[int, str]:
    """Every handler's texts by id, merged (a later handler's text for an id wins)."""
    texts: dict[int, str] = {}
    for handler in list(handlers):
        texts.update(handler(**arguments))
    return texts


def reservation_fee_offers(*, user, connectors, now) -> dict[int, str]:
    return _texts(reservation_fee_offer_handlers, user=user, connectors=connectors, now=now)


def reservation_fees_charged(*, reservation_ids) -> dict[int, str]:
    return _texts(reservation_fee_charged_handlers, reservation_ids=reservation_ids)


#: (name, sweep) pairs higher apps add to the sweeps a server without a broker runs itself (``sessions_app.sweeper``;
#: with a broker, beat runs their tasks): each sweep takes no arguments and is safe to run on many servers at once.
server_sweeps: list[tuple[str, Callable[[], object]]] = []


#: Called with a SecurityEvent's id after the commit that stored a charger's report the operator must hear of at
#: once (tampering, an invalid firmware signature, ...: ``charger_security.ALERT_EVENT_TYPES``); reporting emails
#: the operator's report recipients. Once per stored event, not retried here: a handler that fails is logged.
security_alert_handlers: list[Callable[[int], object]] = []  # what a handler returns is not used


def security_alert(event_id: int) -> list[str]:
    """Run every security-alert handler (see ``_run_each``)."""
    return _run_each(security_alert_handlers, event_id, "security_alert")


#: Called by the post-stop sweeper with ``since`` and ``limit``: each returns ids of sessions completed or
#: priced since then whose follow-up a crash cut short without a pending record (billing: completed without
#: a price, priced without a charge); the sweeper queues their post-stop work again.
post_stop_gap_finders: list[Callable[..., list[int]]] = []


#: Called with an accepted card (and the moment); a handler that returns a status refuses it.
authorization_checks: list[Callable[["IdTag", object], "AuthorizationStatus | None"]] = []


def authorization_refusal(id_tag: "IdTag", at) -> "AuthorizationStatus | None":
    """The first refusal of a registered check, or None when every check lets the card charge."""
    for check in list(authorization_checks):
        status = check(id_tag, at)
        if status is not None:
            return status
    return None


#: Called by ``services.id_tag_authorize`` (a charger's Authorize, StartTransaction and StopTransaction, a reservation's
#: check) before a card is judged, with ``charge_point``, ``raw_uid`` (as presented), ``id_tag`` (the operator's card
#: for it, None when it has none) and ``at``. A handler that asks someone else about cards in real time (roaming: the
#: partner whose token it is, or for an unknown uid the partners that authorize in real time) returns the card to
#: judge (for an unknown uid, one of the charger's operator it has just stored) or the status that refuses it; None:
#: no say, the card is judged as it is. The charger waits for the answer: a handler keeps to a few seconds. The first
#: answer that is not None wins; a handler that fails is logged and skipped.
realtime_authorization_handlers: list[Callable[..., "IdTag | AuthorizationStatus | None"]] = []


def realtime_authorization(
    *, charge_point: "ChargePoint", raw_uid: str, id_tag: "IdTag | None", at: datetime
) -> "IdTag | AuthorizationStatus | None":
    """The first registered handler's answer that is not None (see ``realtime_authorization_handlers``)."""
    for handler in list(realtime_authorization_handlers):
        try:
            answer = handler(charge_point=charge_point, raw_uid=raw_uid, id_tag=id_tag, at=at)
        except Exception:
            logger.exception("realtime_authorization handler %r failed for charger %s", handler, charge_point.pk)
            continue
        if answer is not None:
            return answer
    return None


@dataclass(frozen=True)
class DataTransferAnswer:
    status: str  # OCPP DataTransferStatus: Accepted, Rejected, UnknownMessageId, UnknownVendorId
    data: str | None = None


#: (vendorId, messageId) -> handler(charge_point, data, now) for DataTransfer requests a higher app understands.
data_transfer_handlers: dict[tuple[str, str], Callable[["ChargePoint", str | None, datetime], DataTransferAnswer]] = {}


@dataclass(frozen=True)
class DriverMessage:
    """A short text for a charger to show a driver (OCPP 2.0.1 personalMessage), in ``language`` ("en", "sv")."""

    content: str
    language: str


#: Called with ``charge_point``, ``id_tag`` and ``at``: what the card's driver pays at that charger, in the driver's
#: language (billing), or None when there is nothing to say.
tariff_message_handlers: list[Callable[..., DriverMessage | None]] = []


def tariff_message(*, charge_point: "ChargePoint", id_tag: "IdTag", at: datetime) -> DriverMessage | None:
    """The first handler's message. One that fails is logged and skipped: a card's answer does not wait on it."""
    for handler in list(tariff_message_handlers):
        try:
            message = handler(charge_point=charge_point, id_tag=id_tag, at=at)
        except Exception:
            logger.exception("tariff_message handler %r failed for charger %s", handler, charge_point.pk)
            continue
        if message is not None:
            return message
    return None


#: Called with a running session and the moment: what it costs so far (gross, in its tariff's currency), or None when
#: unpriced. billing registers it; ``sessions_app.session_cost`` tells an OCPP 2.0.1 charger (CostUpdated).
session_cost_handlers: list[Callable[["ChargingSession", datetime], "Decimal | None"]] = []


def session_cost(session: "ChargingSession", at: datetime) -> "Decimal | None":
    """The first registered handler's cost of ``session`` that is not None; one that fails is logged and skipped."""
    for handler in list(session_cost_handlers):
        try:
            cost = handler(session, at)
        except Exception:
            logger.exception("session_cost handler %r failed for session %s", handler, session.pk)
            continue
        if cost is not None:
            return cost
    return None


#: Called with session ids: each returns {session id: charging priority} (higher first) for the sessions it knows
#: (billing: the customer groups of their accounts). Load management shares a site's power by it.
load_priority_handlers: list[Callable[[list[int]], dict[int, int]]] = []


def load_priorities(session_ids: list[int]) -> dict[int, int]:
    """Every handler's priorities merged, the highest kept; a session none knows is absent (priority 0). One that
    fails is logged and skipped: sharing goes on without it."""
    priorities: dict[int, int] = {}
    for handler in list(load_priority_handlers):
        try:
            found = handler(session_ids)
        except Exception:
            logger.exception("load_priority handler %r failed", handler)
            continue
        for session_id, priority in found.items():
            priorities[session_id] = max(priority, priorities.get(session_id, priority))
    return priorities


#: Called with the ids of sessions that started (or got their card: 2.0.1), got new meter values or stopped, once
#: the transaction that recorded it has committed (``sessions_changed``, from ``services.session_start``,
#: ``services.meter_values_record_many``, ``services.session_stop`` and ``transaction_events``). roaming pushes a
#: partner's sessions (OCPI Sessions). A handler reads what it needs itself and must be cheap for sessions it has no
#: interest in (one query for the batch); one that fails is logged: a charger's message never fails for it.
session_changed_handlers: list[Callable[[list[int]], object]] = []  # what a handler returns is not used


def sessions_changed(session_ids: Iterable[int]) -> None:
    """After the current transaction commits (at once outside one), run every session-changed handler with the ids
    (``_run_after_commit``). Never raises."""
    if ids := sorted(set(session_ids)):
        _run_after_commit(session_changed_handlers, ids, "session_changed")


@dataclass(frozen=True)
class SessionCdr:
    """The charge detail record a roaming partner was sent of one of its drivers' sessions: its id, and the EVSE it
    names (the partner's word for where the session was)."""

    cdr_id: str
    evse_id: str


#: Called by billing's statement content (``billing.statement_content``) with the ids of the sessions on a roaming
#: partner's statement (its monthly settlement): each returns {session id: SessionCdr} for the sessions it sent the
#: partner a CDR of (roaming registers it). A handler that fails fails the statement, which the next run makes again:
#: an issued settlement never changes, so none is made without its CDR ids.
session_cdr_handlers: list[Callable[[list[int]], dict[int, SessionCdr]]] = []


def session_cdrs(session_ids: list[int]) -> dict[int, SessionCdr]:
    """Every handler's CDRs by session, merged (a later handler's wins)."""
    found: dict[int, SessionCdr] = {}
    for handler in list(session_cdr_handlers):
        found.update(handler(session_ids))
    return found
