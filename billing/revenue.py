"""Revenue by site, charger, connector, tariff, customer group, roaming partner or period, from the frozen session
prices.

Everything is summed in the database; Python only turns the grouped rows into report rows.
A session counts in the period its charging *started* in (the moment its tariff was chosen).
"""

import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Case, Count, F, OuterRef, Q, QuerySet, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce, TruncDay, TruncMonth, TruncWeek
from django.utils.translation import gettext_lazy as _

from accounts.models import CustomerAccount, Organization
from billing.balances import MONEY_FIELD, ZERO, reservation_owed_subquery, session_owed_subquery
from billing.models import CreditNote, ReservationPrice, SessionPrice
from core import money

PRICE_PER_KWH = Decimal("0.0001")
KWH = Decimal("0.001")

#: group_by -> (label, the fields that identify and name a group).
GROUP_BY = {
    "site": (_("Site"), ("session__charge_point__site_id", "session__charge_point__site__name")),
    "charge_point": (
        _("Charge point"),
        ("session__charge_point_id", "session__charge_point__ocpp_id", "session__charge_point__name"),
    ),
    "connector": (
        _("Connector"),
        ("session__connector_id", "session__charge_point__ocpp_id", "session__connector__number"),
    ),
    "tariff": (_("Tariff"), ("tariff_id", "tariff__name")),
    "customer_group": (
        _("Customer group"),
        (
            "session__customer_account__customer_group_memberships__customer_group_id",
            "session__customer_account__customer_group_memberships__customer_group__name",
        ),
    ),
    # A roaming partner is a customer account of kind "roaming" (the roaming app's Partner holds it): its drivers'
    # sessions; everyone else's sessions share the row with no partner.
    "roaming_partner": (_("Roaming partner"), ("roaming_account_id", "roaming_account_name")),
    "day": (_("Day"), ("bucket",)),
    "week": (_("Week"), ("bucket",)),
    "month": (_("Month"), ("bucket",)),
}
_TRUNC = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}
#: What the row of the sessions outside every group is called (default "(none)").
_NONE_LABEL = {"roaming_partner": _("Not roaming")}


def _roaming_account(account_path: str) -> dict[str, Case]:
    """The annotations the "roaming_partner" grouping reads: the customer account at ``account_path`` and its name
    when it is a roaming partner's, None otherwise."""
    roaming = Q(**{f"{account_path}__kind": CustomerAccount.Kind.ROAMING})
    return {
        "roaming_account_id": Case(When(roaming, then=F(f"{account_path}_id")), default=None),
        "roaming_account_name": Case(When(roaming, then=F(f"{account_path}__name")), default=None),
    }


@dataclass(frozen=True)
class RevenueRow:
    key: object  # the group's id, or its local start date for periods; None for "none" and totals
    label: str
    currency: str
    sessions: int
    energy_kwh: Decimal
    net: Decimal
    vat: Decimal
    gross: Decimal
    refund_net: Decimal
    refund_vat: Decimal
    refund_gross: Decimal
    outstanding: Decimal
    reservations: int = 0  # reservation fees above zero, counted in net, vat, gross and outstanding too
    reservation_gross: Decimal = ZERO

    @property
    def gross_per_kwh(self) -> Decimal | None:
        """Average price per kWh incl. VAT, before refunds; None without energy."""
        if not self.energy_kwh:
            return None
        return (self.gross / self.energy_kwh).quantize(PRICE_PER_KWH)


@dataclass(frozen=True)
class RevenueReport:
    group_by: str
    start: datetime
    end: datetime
    time_zone: str
    rows: list[RevenueRow]
    totals: list[RevenueRow]  # one per currency, usually one


def _credit_sum(field: str) -> Coalesce:
    credits = (
        CreditNote.objects.filter(session_id=OuterRef("session_id"))
        .order_by()
        .values("session_id")
        .annotate(total=Sum(field))
        .values("total")
    )
    return Coalesce(Subquery(credits, output_field=MONEY_FIELD), Value(ZERO), output_field=MONEY_FIELD)


def revenue_prices(*, organization: Organization, start: datetime, end: datetime) -> QuerySet[SessionPrice]:
    """The frozen prices of the organization's sessions started in [start, end), with credits and what is unpaid."""
    return (
        SessionPrice.objects.filter(
            session__charge_point__organization=organization,
            session__started_at__gte=start,
            session__started_at__lt=end,
        )
        .order_by()
        .annotate(
            credit_net=_credit_sum("net_amount"),
            credit_vat=_credit_sum("vat_amount"),
            credit_gross=_credit_sum("gross_amount"),
            owed=session_owed_subquery("session_id"),
        )
        .annotate(unpaid=Case(When(owed__gt=0, then=F("owed")), default=Value(ZERO), output_field=MONEY_FIELD))
    )


_SUMS = {
    "sessions": Count("pk"),
    "energy_wh": Sum("energy_wh"),
    "net": Sum("net_total"),
    "vat": Sum("vat_amount"),
    "gross": Sum("gross_total"),
    "refund_net": Sum("credit_net"),
    "refund_vat": Sum("credit_vat"),
    "refund_gross": Sum("credit_gross"),
    "outstanding": Sum("unpaid"),
}


def _row(values: Mapping[str, Any], *, key, label: str) -> RevenueRow:
    gross, refund_gross = money.stored_amount(values["gross"]), money.stored_amount(values["refund_gross"])
    return RevenueRow(
        key=key,
        label=label,
        currency=values["currency"],
        sessions=values["sessions"],
        energy_kwh=(Decimal(values["energy_wh"] or 0) / 1000).quantize(KWH),
        net=money.stored_amount(values["net"]),
        vat=money.stored_amount(values["vat"]),
        gross=gross,
        refund_net=money.stored_amount(values["refund_net"]),
        refund_vat=money.stored_amount(values["refund_vat"]),
        refund_gross=refund_gross,
        outstanding=money.stored_amount(values["outstanding"]),
    )


def _label(group_by: str, values: dict) -> tuple[object, str]:
    fields = GROUP_BY[group_by][1]
    if group_by in _TRUNC:
        bucket = values["bucket"]
        day = bucket.date() if isinstance(bucket, datetime) else bucket
        if group_by == "month":
            return day, f"{day:%Y-%m}"
        if group_by == "week":
            year, week, _weekday = day.isocalendar()
            return day, f"{year}-W{week:02d}"
        return day, day.isoformat()
    key = values[fields[0]]
    if key is None:
        return None, str(_NONE_LABEL.get(group_by, _("(none)")))
    if group_by == "charge_point":
        return key, values[fields[2]] or values[fields[1]]
    if group_by == "connector":
        return key, f"{values[fields[1]]} #{values[fields[2]]}"
    return key, values[fields[1]]


def _reservation_field(field: str) -> str:
    """A session price's group field, read on a reservation fee instead."""
    if field.startswith("session__customer_account__"):
        return field.removeprefix("session__")
    return field.replace("session__", "reservation__", 1)


def revenue_reservation_fees(*, organization: Organization, start: datetime, end: datetime) -> QuerySet:
    """The fees above zero of the organization's reservations made in [start, end), with what is unpaid."""
    return (
        ReservationPrice.objects.filter(
            reservation__charge_point__organization=organization,
            reservation__created_at__gte=start,
            reservation__created_at__lt=end,
            gross_total__gt=0,
        )
        .order_by()
        .annotate(owed=reservation_owed_subquery("reservation_id"))
        .annotate(unpaid=Case(When(owed__gt=0, then=F("owed")), default=Value(ZERO), output_field=MONEY_FIELD))
    )


_RESERVATION_SUMS = {
    "reservations": Count("pk"),
    "net": Sum("net_total"),
    "vat": Sum("vat_amount"),
    "gross": Sum("gross_total"),
    "outstanding": Sum("unpaid"),
}


def _with_fees(row: RevenueRow | None, values: Mapping[str, Any], *, key, label: str) -> RevenueRow:
    """``row`` (or an empty one) with the reservation fees in ``values`` added."""
    gross = money.stored_amount(values["gross"])
    base = row or RevenueRow(
        key=key,
        label=label,
        currency=values["currency"],
        sessions=0,
        energy_kwh=Decimal(0).quantize(KWH),
        net=ZERO,
        vat=ZERO,
        gross=ZERO,
        refund_net=ZERO,
        refund_vat=ZERO,
        refund_gross=ZERO,
        outstanding=ZERO,
    )
    return replace(
        base,
        net=base.net + money.stored_amount(values["net"]),
        vat=base.vat + money.stored_amount(values["vat"]),
        gross=base.gross + gross,
        outstanding=base.outstanding + money.stored_amount(values["outstanding"]),
        reservations=base.reservations + values["reservations"],
        reservation_gross=base.reservation_gross + gross,
    )


def _add_fees(rows: list[RevenueRow], fee_rows, keyed) -> list[RevenueRow]:
    """Merge the grouped reservation fees into the rows of the same group and currency (new rows for others)."""
    by_key = {(row.key, row.currency): index for index, row in enumerate(rows)}
    rows = list(rows)
    for values in fee_rows:
        key, label = keyed(values)
        index = by_key.get((key, values["currency"]))
        if index is None:
            by_key[(key, values["currency"])] = len(rows)
            rows.append(_with_fees(None, values, key=key, label=label))
        else:
            rows[index] = _with_fees(rows[index], values, key=key, label=label)
    return rows


def revenue_report(
    *, organization: Organization, start: datetime, end: datetime, group_by: str, time_zone: str | None = None
) -> RevenueReport:
    """Sessions, energy and money per group for the organization's sessions started in [start, end).

    Money comes from the frozen ``SessionPrice`` rows (net, VAT, gross as priced); credit
    notes on those sessions are shown separately as refunds, whenever they were issued.
    *Outstanding* is what the sessions still owe by the ledger, now: gross less refunds and
    payments (invoice, wallet, terminal, Stripe), an overpaid session counting as zero.
    Unpriced sessions are not revenue and are left out (the reconciliation report lists them).

    Days, weeks (ISO, from Monday) and months are in ``time_zone`` (IANA; default the
    project's), cut by the database. A customer in several customer groups counts in each
    of them, so those rows may add up to more than the totals; the totals never double count.
    Groups and totals are per currency. By roaming partner, each partner's customer account (kind "roaming") is a
    row and every other session counts in the "Not roaming" row.

    Reservation fees (``billing.reservation_fees``) count in the period their reservation was *made* in, in the
    group of its site, charger, connector (none for a whole-charger reservation), tariff or customer group:
    ``reservations`` and ``reservation_gross`` name them, and they are included in net, VAT, gross and
    outstanding (not in sessions, energy or the price per kWh).
    """
    if group_by not in GROUP_BY:
        raise ValueError(f"Unknown group_by {group_by!r}")
    time_zone = time_zone or settings.TIME_ZONE
    prices = revenue_prices(organization=organization, start=start, end=end)
    fields = GROUP_BY[group_by][1]
    grouped = prices
    if group_by in _TRUNC:
        grouped = grouped.annotate(bucket=_TRUNC[group_by]("session__started_at", tzinfo=zoneinfo.ZoneInfo(time_zone)))
    if group_by == "roaming_partner":
        grouped = grouped.annotate(**_roaming_account("session__customer_account"))
    grouped_rows = grouped.values(*fields, "currency").annotate(**_SUMS).order_by(*fields, "currency")
    rows = [_row(values, key=key, label=label) for values in grouped_rows for key, label in [_label(group_by, values)]]
    fees = revenue_reservation_fees(organization=organization, start=start, end=end)
    fee_fields = tuple(_reservation_field(field) for field in fields)
    if group_by in _TRUNC:
        fees_grouped = fees.annotate(
            bucket=_TRUNC[group_by]("reservation__created_at", tzinfo=zoneinfo.ZoneInfo(time_zone))
        )
    elif group_by == "roaming_partner":
        fees_grouped = fees.annotate(**_roaming_account("customer_account"))
    else:
        fees_grouped = fees
    fee_rows = fees_grouped.values(*fee_fields, "currency").annotate(**_RESERVATION_SUMS).order_by(*fee_fields)
    rows = _add_fees(
        rows,
        fee_rows,
        lambda values: _label(group_by, {field: values[fee] for field, fee in zip(fields, fee_fields, strict=True)}),
    )
    if group_by in _TRUNC:
        rows.sort(key=lambda row: (str(row.key), row.currency))
    if group_by not in _TRUNC:
        rows.sort(key=lambda row: (row.key is None, str(row.label).casefold(), row.currency))
    total_rows = prices.values("currency").annotate(**_SUMS).order_by("currency")
    totals = [_row(values, key=None, label=str(_("Total"))) for values in total_rows]
    totals = _add_fees(
        totals,
        fees.values("currency").annotate(**_RESERVATION_SUMS).order_by("currency"),
        lambda values: (None, str(_("Total"))),
    )
    return RevenueReport(group_by=group_by, start=start, end=end, time_zone=time_zone, rows=rows, totals=totals)
