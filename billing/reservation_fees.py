"""The reservation fee: a reservation that ended is priced once by its driver's tariff and charged to the ledger.

Which reservations are billed (OCPI 2.2.1 reservation elements, ``billing.pricing_reservation``), only those the
charger accepted:

* USED (the driver started on it): ``RESERVATION`` elements, for the time from the reservation to the start;
* CANCELLED by the driver (``Reservation.cancelled_by`` is a user of the card's customer account):
  ``RESERVATION`` elements, for the time from the reservation to the cancel;
* EXPIRED: ``RESERVATION_EXPIRES`` elements (else ``RESERVATION`` ones), for the whole reserved time.

Never billed: refused reservations (nothing was held), faulted ones (the charger ended them) and those an operator
cancelled (or whose canceller is not recorded). Reserved time starts when the reservation was made (the
charger's acceptance follows within the command's timeout) and never runs past the expiry.

The tariff is the one that applies to the card's customer at that charger when the reservation was made
(``selectors.tariff_for``: the reserved connector, else the session's, else the charger's first connector). The
price is frozen in a ``ReservationPrice`` (a zero one too, so the sweep knows it is decided) and charged under
the key ``reservation-charge:<id>``. ``reservation_fee_by_id`` is the ``hooks.reservation_ended_handlers`` entry
(after the commit that ended the reservation); the hook is not retried, so ``reservation_fees_sweep`` (beat,
every few minutes) prices what a crash left unpriced and charges what was priced but not charged.
"""

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from billing.ledger import reservation_charge_book
from billing.models import LedgerEntry, ReservationPrice
from billing.pricing_reservation import (
    RESERVATION,
    RESERVATION_EXPIRES,
    ReservationKind,
    ReservationTimeline,
    price_reservation,
)
from billing.quotes import connector_prices_for_driver, money_display
from billing.selectors import priced_lines_to_breakdown, tariff_for, tariff_spec, tariff_spec_to_snapshot
from core import money
from sessions_app.models import ChargePoint, Connector, Reservation

logger = logging.getLogger(__name__)

#: How far back the sweep looks, and how many reservations it handles per run.
SWEEP_DAYS = 7
SWEEP_BATCH = 200

_ACCEPTED = "Accepted"


def _driver_cancelled() -> Q:
    return Q(status=Reservation.Status.CANCELLED, cancelled_by__customer_account_id=F("id_tag__customer_account_id"))


def _billable() -> Q:
    """Reservations that are billed (see the module's docstring), as a filter."""
    return Q(charger_answer=_ACCEPTED) & (
        Q(status__in=[Reservation.Status.USED, Reservation.Status.EXPIRED]) | _driver_cancelled()
    )


def reservation_fee_kind(reservation: Reservation) -> ReservationKind | None:
    """RESERVATION or RESERVATION_EXPIRES for a reservation that is billed, None for one that is not."""
    if reservation.charger_answer != _ACCEPTED or reservation.ended_at is None:
        return None
    if reservation.status == Reservation.Status.USED:
        return RESERVATION
    if reservation.status == Reservation.Status.EXPIRED:
        return RESERVATION_EXPIRES
    if reservation.status == Reservation.Status.CANCELLED:
        cancelled_by = reservation.cancelled_by
        account_id = reservation.id_tag.customer_account_id
        if cancelled_by is not None and account_id is not None and cancelled_by.customer_account_id == account_id:
            return RESERVATION
    return None


def reserved_time(reservation: Reservation) -> tuple[datetime, datetime]:
    """From when to when the connector was held for the driver: from the reservation to its start (the session's
    start), its cancel or its expiry, never past the expiry."""
    start = reservation.created_at
    if reservation.status == Reservation.Status.EXPIRED:
        end = reservation.expires_at
    elif reservation.status == Reservation.Status.USED and reservation.session is not None:
        end = reservation.session.started_at
    else:
        end = reservation.ended_at or reservation.expires_at
    end = min(end, reservation.expires_at)
    return start, max(start, end)


def _connector_for_tariff(reservation: Reservation) -> Connector | None:
    if reservation.connector is not None:
        return reservation.connector
    if reservation.session is not None and reservation.session.connector is not None:
        return reservation.session.connector
    return reservation.charge_point.connectors.order_by("number").first()


def _time_zone(charge_point: ChargePoint) -> str:
    site = charge_point.site
    return site.time_zone if site is not None else settings.TIME_ZONE


def reservation_price_freeze(*, reservation: Reservation, now: datetime | None = None) -> ReservationPrice | None:
    """Price an ended reservation that is billed, freeze that price and charge it; idempotent.

    A reservation priced already keeps its price (its charge is booked if it was not). None for a reservation
    that is open or not billed.
    """
    existing = ReservationPrice.objects.filter(reservation_id=reservation.pk).first()
    if existing is not None:
        reservation_charge_book(price=existing)  # in case a crash came between the price and its charge
        return existing
    kind = reservation_fee_kind(reservation)
    if kind is None:
        return None
    reserved_from, reserved_until = reserved_time(reservation)
    customer_account = reservation.id_tag.customer_account
    charge_point = reservation.charge_point
    connector = _connector_for_tariff(reservation)
    tariff = (
        None
        if connector is None
        else tariff_for(connector=connector, customer_account=customer_account, at=reservation.created_at)
    )
    fields: dict = {
        "reservation": reservation,
        "customer_account": customer_account,
        "reserved_from": reserved_from,
        "reserved_until": reserved_until,
        "priced_at": now or timezone.now(),
    }
    if tariff is not None:
        spec = tariff_spec(tariff, time_zone=_time_zone(charge_point))
        priced = price_reservation(spec, ReservationTimeline(reserved_from, reserved_until, kind))
        fields.update(
            tariff=tariff,
            tariff_snapshot=tariff_spec_to_snapshot(spec),
            breakdown=priced_lines_to_breakdown(priced),
            currency=priced.currency,
            net_total=priced.net_total,
            vat_rate=priced.vat_rate,
            vat_amount=priced.vat_amount,
            gross_total=priced.gross_total,
        )
    else:
        zero = money.quantize(Decimal(0), charge_point.organization.currency)
        fields.update(
            currency=charge_point.organization.currency,
            net_total=zero,
            vat_rate=0,
            vat_amount=zero,
            gross_total=zero,
        )
    try:
        with transaction.atomic():
            price = ReservationPrice.objects.create(**fields)
            reservation_charge_book(price=price)
            return price
    except IntegrityError:
        # Priced by someone else meanwhile: theirs stands (and they charge it). Anything else is an error.
        existing = ReservationPrice.objects.filter(reservation_id=reservation.pk).first()
        if existing is None:
            raise
        return existing


def _reservations() -> QuerySet[Reservation]:
    return Reservation.objects.select_related(
        "charge_point__site",
        "charge_point__organization",
        "connector__charge_point",
        "id_tag__customer_account",
        "cancelled_by",
        "session__connector__charge_point",
    )


def reservation_fee_by_id(reservation_id: int) -> None:
    """The handler ``sessions_app`` calls after the commit that ended a reservation (``reservation_ended_handlers``)."""
    reservation = _reservations().filter(pk=reservation_id).first()
    if reservation is not None:
        reservation_price_freeze(reservation=reservation)


def reservation_fee_gaps(*, since: datetime, limit: int = SWEEP_BATCH) -> list[int]:
    """Reservations ended since ``since`` that are billed but have no price, and reservation fees priced since then
    above zero without their charge: what a crash (or a failing handler) left undone. At most ``limit`` of each."""
    unpriced = (
        Reservation.objects.filter(_billable(), ended_at__gte=since, price__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    uncharged = (
        ReservationPrice.objects.filter(priced_at__gte=since, gross_total__gt=0)
        .filter(
            ~Exists(LedgerEntry.objects.filter(reservation_id=OuterRef("reservation_id"), kind=LedgerEntry.Kind.CHARGE))
        )
        .order_by("reservation_id")
        .values_list("reservation_id", flat=True)[:limit]
    )
    return sorted({*unpriced, *uncharged})


def reservation_fees_sweep(*, now: datetime | None = None, batch: int = SWEEP_BATCH) -> int:
    """Price and charge the gaps of the last ``SWEEP_DAYS``; how many reservations were handled. One failing is
    logged and does not stop the others."""
    now = now or timezone.now()
    handled = 0
    for reservation_id in reservation_fee_gaps(since=now - timedelta(days=SWEEP_DAYS), limit=batch):
        try:
            reservation_fee_by_id(reservation_id)
        except Exception:
            logger.exception("Could not price or charge the fee of reservation %s.", reservation_id)
        else:
            handled += 1
    return handled


def reservation_fee_offers_for_driver(*, user, connectors, now: datetime) -> dict[int, str]:
    """Connector id -> what reserving it now costs this driver, in words (incl. VAT); connectors without a fee are
    left out. Registered as ``hooks.reservation_fee_offer_handlers`` (the portal's reserve page)."""
    prices = connector_prices_for_driver(user=user, connectors=connectors, at=now)
    return {
        pk: "; ".join(price["reservation_lines"])
        for pk, price in prices.items()
        if price and price["reservation_lines"]
    }


def reservation_fees_charged_text(*, reservation_ids) -> dict[int, str]:
    """Reservation id -> the fee charged for it (incl. VAT), for the fees above zero. Registered as
    ``hooks.reservation_fee_charged_handlers``."""
    return {
        price.reservation_id: money_display(price.gross_total, price.currency)
        for price in ReservationPrice.objects.filter(reservation_id__in=list(reservation_ids), gross_total__gt=0)
    }
