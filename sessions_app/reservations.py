"""Reservations: a connector (or any connector of a charger) held for one card for a while (OCPP 1.6 ReserveNow).

A reservation is kept first (``Reservation.Status.REQUESTED``, its primary key the reservationId), then
ReserveNow goes to the charger through ``commands.command_send`` (so it is on the charger's history) and
the answer decides: Accepted holds it (ACTIVE); Faulted, Occupied, Rejected or Unavailable refuse it
(REFUSED, the answer kept in ``charger_answer``); a charger offline, or not answering in time, refuses it
too, ``charger_answer`` then saying ``offline``, ``timeout``, ``no_answer`` or ``error`` (see
``refusal_reason``). A charger that accepted after its answer timed out holds the connector until the
expiry at the latest: it ends its reservations itself then.

An open reservation ends (``ended_at``) by the card's start on it (USED, its session linked: a
StartTransaction naming the reservationId, or the same card starting on the reserved connector without
one), by its expiry (EXPIRED: beat's ``sessions_app.reservations_expire`` or the server's own sweeper),
by a cancel from the driver or an operator (CANCELLED, CancelReservation sent), or by the connector (or the
whole charger) reporting Faulted or Unavailable (FAULTED). After the commit that ended it, each of
``hooks.reservation_ended_handlers`` is called with its id (refusals too).

Durations: at most ``RESERVATION_MAX_MINUTES``; a driver's lasts ``RESERVATION_MINUTES`` unless chosen.
Who may reserve or cancel which reservation is the views' question (``reservations_for_driver``, the
operator's organization); these functions check what holds for everyone.
"""

import logging
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import AuthorizationStatus, IdTag, User
from sessions_app import hooks
from sessions_app.models import ChargePoint, ChargingSession, Connector, ConnectorStatus, Reservation
from sessions_app.ocpp import command_payloads, commands
from sessions_app.selectors import connectors_for_driver_start
from sessions_app.services import id_tag_authorize

logger = logging.getLogger(__name__)

#: The charger's refusals (``charger_answer``) in words; an outcome kept there instead is told by ``outcome_text``.
REFUSAL_REASONS = {
    "Faulted": gettext_lazy("The charger says the connector is faulted."),
    "Occupied": gettext_lazy("The charger says the connector is in use."),
    "Rejected": gettext_lazy("The charger does not take reservations (for this connector)."),
    "Unavailable": gettext_lazy("The charger says the connector is unavailable."),
}
#: A connector in one of these states may be reserved (Unknown: the charger has not said; it decides).
RESERVABLE_STATUSES = (ConnectorStatus.AVAILABLE, ConnectorStatus.UNKNOWN)
#: A StatusNotification with one of these ends the reservations of its connector (connector 0: all of them).
ENDING_STATUSES = (ConnectorStatus.FAULTED, ConnectorStatus.UNAVAILABLE)


class ReservationRefused(Exception):
    """Why a reservation cannot be made or cancelled, in words for the person asking."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def refusal_reason(reservation: Reservation) -> str:
    """A refused reservation's reason in words (empty for any other)."""
    if reservation.status != Reservation.Status.REFUSED:
        return ""
    answer = reservation.charger_answer
    if answer in commands.OUTCOMES:
        return f"{capfirst(commands.outcome_text(commands.CommandResult(answer)))}."
    reason = REFUSAL_REASONS.get(answer)
    return str(reason) if reason else answer


def _ended(reservation_id: int) -> None:
    """Tell the registered handlers once the ending transaction has committed."""
    transaction.on_commit(partial(hooks.reservation_ended, reservation_id))


def _open(queryset: QuerySet[Reservation]) -> QuerySet[Reservation]:
    return queryset.filter(status__in=Reservation.OPEN)


def _end(reservation: Reservation, status: str, at: datetime, **fields) -> bool:
    """End an open reservation; False when it had ended already (another writer was first)."""
    with transaction.atomic():
        done = _open(Reservation.objects.filter(pk=reservation.pk)).update(status=status, ended_at=at, **fields) == 1
        if done:
            _ended(reservation.pk)
    reservation.refresh_from_db()
    return done


# --- reads ---------------------------------------------------------------------------------------


def reservations_for_driver(*, user: User) -> QuerySet[Reservation]:
    """The reservations of the driver's own cards, newest first."""
    return Reservation.objects.filter(id_tag__owner=user).select_related(
        "charge_point__site", "connector", "id_tag", "session"
    )


def reservations_open_for_driver(*, user: User, now: datetime) -> QuerySet[Reservation]:
    """The driver's reservations still holding a connector (not yet past their expiry)."""
    return _open(reservations_for_driver(user=user)).filter(expires_at__gt=now)


def connectors_for_driver_reservation(*, user: User, now: datetime) -> QuerySet[Connector]:
    """Connectors the driver may reserve: Available ones at their operator's online stations, not reserved."""
    held = _open(Reservation.objects.filter(connector__isnull=False, expires_at__gt=now)).values("connector_id")
    return (
        connectors_for_driver_start(user=user, now=now)
        .filter(status=ConnectorStatus.AVAILABLE)
        .exclude(pk__in=held)
        .exclude(
            charge_point_id__in=_open(Reservation.objects.filter(connector__isnull=True)).values("charge_point_id")
        )
    )


# --- making and cancelling ----------------------------------------------------------------------


def reservation_duration(*, now: datetime, minutes: int | None = None, expires_at: datetime | None = None) -> datetime:
    """The expiry of a reservation made ``now``: ``expires_at``, or ``minutes`` on (by default
    RESERVATION_MINUTES); from one minute to RESERVATION_MAX_MINUTES ahead, else ``ReservationRefused``."""
    if expires_at is None:
        expires_at = now + timedelta(minutes=settings.RESERVATION_MINUTES if minutes is None else minutes)
    longest = settings.RESERVATION_MAX_MINUTES
    if not now + timedelta(minutes=1) <= expires_at <= now + timedelta(minutes=longest):
        raise ReservationRefused(
            _("A reservation lasts from 1 to %(minutes)d minutes.") % {"minutes": longest},
        )
    return expires_at


def _check(*, charge_point: ChargePoint, connector: Connector | None, id_tag: IdTag, now: datetime) -> None:
    """Everything that must hold before a reservation is kept; ``ReservationRefused`` says what does not."""
    if connector is not None and connector.charge_point_id != charge_point.pk:
        raise ReservationRefused(_("That connector belongs to another charger."))
    if id_tag.customer_account.organization_id != charge_point.organization_id:
        raise ReservationRefused(_("That card is not valid at this station."))
    verdict = id_tag_authorize(charge_point=charge_point, raw_uid=id_tag.uid, at=now)
    if verdict.status != AuthorizationStatus.ACCEPTED or verdict.id_tag != id_tag:
        raise ReservationRefused(
            _("This card may not charge here now (%(status)s).") % {"status": verdict.status},
        )
    if _open(Reservation.objects.filter(id_tag=id_tag)).exists():
        raise ReservationRefused(_("This card holds a reservation already: cancel it first."))
    station_wide = _open(Reservation.objects.filter(charge_point=charge_point, connector__isnull=True))
    if station_wide.exists():
        raise ReservationRefused(_("This charger is reserved."))
    if connector is None:
        return
    if _open(Reservation.objects.filter(connector=connector)).exists():
        raise ReservationRefused(_("This connector is reserved."))
    busy = ChargingSession.objects.filter(connector=connector, state=ChargingSession.State.ACTIVE).exists()
    if busy or connector.status not in RESERVABLE_STATUSES:
        raise ReservationRefused(
            _("This connector cannot be reserved now (%(status)s).") % {"status": connector.get_status_display()},
        )


def reservation_create(
    *,
    charge_point: ChargePoint,
    connector: Connector | None,
    id_tag: IdTag,
    created_by: User | None,
    now: datetime,
    minutes: int | None = None,
    expires_at: datetime | None = None,
    timeout: float = 30,
) -> Reservation:
    """Reserve ``connector`` (None: any connector of the charger) for ``id_tag`` and ask the charger to hold it.

    Refused before anything is sent (``ReservationRefused``): a card that may not charge at this charger
    now (``services.id_tag_authorize``: blocked, expired, no credit, already charging...), a card holding
    another reservation, a connector reserved, charging or not Available (by what the database knows), a
    charger reserved as a whole, or a duration outside ``reservation_duration``. Otherwise the reservation is
    kept, ReserveNow sent (waiting up to ``timeout`` seconds) and the answer recorded: the reservation is
    returned ACTIVE, or REFUSED with the reason in ``charger_answer`` (see the module's docstring).
    """
    expiry = reservation_duration(now=now, minutes=minutes, expires_at=expires_at)
    reservations_expire(now=now, charge_point=charge_point)  # a reservation past its time holds nothing
    _check(charge_point=charge_point, connector=connector, id_tag=id_tag, now=now)
    try:
        with transaction.atomic():
            reservation = Reservation.objects.create(
                charge_point=charge_point,
                connector=connector,
                id_tag=id_tag,
                created_by=created_by,
                created_at=now,
                expires_at=expiry,
            )
    except IntegrityError as error:  # one open reservation per connector (and per charger as a whole)
        raise ReservationRefused(_("This connector is reserved.")) from error
    built = command_payloads.reserve_now(
        connector_id=connector.number if connector else 0,
        expiry_date=expiry,
        id_tag=id_tag.uid,
        reservation_id=reservation.pk,
        parent_id_tag=id_tag.parent.uid if id_tag.parent is not None else None,
    )
    action, payload = command_payloads.command_payload(built)
    result = commands.command_send(charge_point, action, payload, timeout=timeout)
    if result.outcome == "answered" and result.status == "Accepted":
        _open(Reservation.objects.filter(pk=reservation.pk, status=Reservation.Status.REQUESTED)).update(
            status=Reservation.Status.ACTIVE, charger_answer=result.status
        )
        reservation.refresh_from_db()
    else:
        answer = result.status if result.outcome == "answered" else result.outcome
        _end(reservation, Reservation.Status.REFUSED, now, charger_answer=(answer or "?")[:20])
    return reservation


def reservation_cancel(
    *, reservation: Reservation, now: datetime, timeout: float = 30, cancelled_by: User | None = None
) -> commands.CommandResult:
    """End an open reservation at the driver's or an operator's wish, and tell the charger (CancelReservation).

    ``cancelled_by`` (kept on the reservation) is who asked: a reservation fee is billed for a driver's cancel only.

    The reservation is cancelled whatever the charger answers: Rejected means it holds no such reservation
    (any more); offline or no answer means it may hold the connector until the expiry. The charger's
    answer is returned so the person can be told. ``ReservationRefused`` for one that has ended already.
    """
    if reservation.status not in Reservation.OPEN:
        raise ReservationRefused(_("This reservation has ended already."))
    built = command_payloads.cancel_reservation(reservation_id=reservation.pk)
    action, payload = command_payloads.command_payload(built)
    result = commands.command_send(reservation.charge_point, action, payload, timeout=timeout)
    by = cancelled_by if getattr(cancelled_by, "pk", None) else None
    _end(reservation, Reservation.Status.CANCELLED, now, cancelled_by=by)
    return result


# --- what chargers report, and time ------------------------------------------------------------------


def reservations_expire(*, now: datetime, charge_point: ChargePoint | None = None) -> int:
    """End the open reservations whose expiry has passed (at their expiry); how many. Beat runs this (and the
    server's own sweeper without a broker); the charger ends its own at the same moment."""
    due = _open(Reservation.objects.filter(expires_at__lte=now))
    if charge_point is not None:
        due = due.filter(charge_point=charge_point)
    ended = 0
    for reservation in due.order_by("expires_at"):
        ended += _end(reservation, Reservation.Status.EXPIRED, reservation.expires_at)
    return ended


def reservation_use(*, session: ChargingSession, reservation_id: int | None, now: datetime) -> Reservation | None:
    """A session started: the reservation it used ends (USED) and is linked to it. Inside the start's transaction.

    With a reservationId: that open reservation of the same charger. Without one: an open reservation of the
    session's card on its connector (or on the charger as a whole), which the card has then used too.
    """
    if reservation_id is not None:
        candidates = Reservation.objects.filter(pk=reservation_id, charge_point_id=session.charge_point_id)
    elif session.id_tag_id is not None and session.connector_id is not None:
        candidates = Reservation.objects.filter(
            Q(connector_id=session.connector_id) | Q(connector__isnull=True),
            charge_point_id=session.charge_point_id,
            id_tag_id=session.id_tag_id,
        )
    else:
        return None
    reservation = _open(candidates).select_for_update().order_by("created_at").first()
    if reservation is None:
        if reservation_id is not None:
            logger.info("Session %s started with reservation %s, which is not open here.", session.pk, reservation_id)
        return None
    _open(Reservation.objects.filter(pk=reservation.pk)).update(
        status=Reservation.Status.USED, ended_at=now, session=session
    )
    _ended(reservation.pk)
    reservation.refresh_from_db()
    return reservation


def reservations_end_on_status(*, charge_point_id: int, connector_id: int | None, at: datetime, now: datetime) -> int:
    """A connector (None: the whole charger, connector 0) reported Faulted or Unavailable at ``at``: its open
    reservations made before then end (FAULTED). Inside the status report's transaction; how many."""
    reservations = _open(Reservation.objects.filter(charge_point_id=charge_point_id, created_at__lte=at))
    if connector_id is not None:
        reservations = reservations.filter(connector_id=connector_id)
    ended = 0
    for pk in reservations.values_list("pk", flat=True):
        if _open(Reservation.objects.filter(pk=pk)).update(status=Reservation.Status.FAULTED, ended_at=now):
            _ended(pk)
            ended += 1
    return ended


#: OCPP 2.0.1's ReservationStatusUpdate: the charger ended a reservation itself, at its expiry (Expired) or because
#: its EVSE became faulted or unavailable (Removed: ended as a StatusNotification of that would end it here).
CHARGER_ENDED = {"Expired": Reservation.Status.EXPIRED, "Removed": Reservation.Status.FAULTED}


def reservation_ended_by_charger(*, charge_point: ChargePoint, reservation_id: int, status: str, now: datetime) -> bool:
    """A 2.0.1 charger's ReservationStatusUpdate ends that open reservation of its own (``CHARGER_ENDED``): an expired
    one at its expiry (or now, if the charger's clock is ahead), a removed one now. False when it names none open."""
    if not 0 < reservation_id <= command_payloads.REQUEST_MAX_ID:
        return False
    reservation = _open(Reservation.objects.filter(pk=reservation_id, charge_point=charge_point)).first()
    if reservation is None:
        logger.info("Charger %s ended reservation %s, which is not open here.", charge_point.ocpp_id, reservation_id)
        return False
    ended = CHARGER_ENDED[status]
    return _end(reservation, ended, min(now, reservation.expires_at) if ended == Reservation.Status.EXPIRED else now)
