"""What a statement shows, read from the frozen prices and the ledger, as a JSON-ready snapshot.

A session belongs to the statement of the period it was priced (and charged) in, so a session
a charger reports late lands on the next statement instead of none; a reservation fee likewise (a line
"Reservation fee" per reservation billed, ``billing.reservation_fees``). Credit notes, payments,
refunds and wallet movements belong to the period they were booked in. Amounts are strings
(Decimal as written), times ISO 8601 in UTC; the template shows them in the statement's time zone.

A roaming partner's statement is its settlement (``is_settlement``): each session carries the id of the CDR the
partner was sent of it and the EVSE that CDR names (roaming tells them through ``hooks.session_cdrs``).

The account's position: what was owed at the start of the period, plus sessions, less credit
notes and payments, plus refunds, is what is owed at its end (the amount due, or in the
customer's favour when negative); the same for the prepaid wallet.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Sum

from accounts.bank import bank_transfer_for
from accounts.models import CustomerAccount, Organization, User
from billing.balances import ZERO, payment_method_of
from billing.models import CreditNote, LedgerEntry, ReservationPrice, SessionPrice
from billing.selectors import organization_time_zone
from core import money
from sessions_app import hooks

Kind, Method = LedgerEntry.Kind, LedgerEntry.Method


def account_language(customer_account: CustomerAccount) -> str:
    """The language of the account's first user (the one who signed up), else the site's."""
    language = (
        User.objects.filter(customer_account=customer_account).order_by("pk").values_list("language", flat=True).first()
    )
    return language or settings.LANGUAGE_CODE


def _money(value) -> str:
    return str(money.stored_amount(value))


def _address(party) -> dict:
    return {
        field: getattr(party, field)
        for field in ("name", "street", "postal_code", "city", "country", "registration_number", "vat_number")
    }


def _operator(organization: Organization) -> dict:
    return {
        **_address(organization),
        "email": organization.email,
        "phone": organization.phone,
        "logo": organization.logo.name if organization.logo else "",
    }


def _customer(account: CustomerAccount) -> dict:
    return {
        **_address(account),
        "kind": account.kind,
        "billing_email": account.billing_email,
        "reference": account.reference,
    }


_PAID_BY_CARD_OR_BANK = {Method.TERMINAL, Method.STRIPE, Method.BANK, Method.OTHER}


def _period_sums(entries: Iterable[Mapping[str, Any]]) -> dict[str, Decimal]:
    """The period's ledger entries summed by what they were (counted in Python: one query fewer to build)."""
    sums = dict.fromkeys(
        (
            "charges",
            "reservation_fees",
            "credit_notes",
            "paid",
            "paid_from_wallet",
            "wallet_credit",
            "refunds",
            "top_ups",
            "wallet_refunds",
        ),
        ZERO,
    )
    receivable_of = {
        Kind.CHARGE: "charges",
        Kind.CREDIT_NOTE: "credit_notes",
        Kind.WALLET_CREDIT: "wallet_credit",
        Kind.REFUND: "refunds",
    }
    for entry in entries:
        kind, method = entry["kind"], entry["method"]
        if kind == Kind.CHARGE and entry.get("reservation_id"):
            sums["reservation_fees"] += entry["receivable"]
        elif kind in receivable_of:
            sums[receivable_of[kind]] += entry["receivable"]
        elif kind == Kind.PAYMENT and method == Method.WALLET:
            sums["paid_from_wallet"] += entry["receivable"]
        elif kind == Kind.PAYMENT and method in _PAID_BY_CARD_OR_BANK:
            sums["paid"] += entry["receivable"]
        if kind == Kind.TOP_UP:
            sums["top_ups"] += entry["wallet"]
        elif kind == Kind.REFUND:
            sums["wallet_refunds"] += entry["wallet"]
    return sums


def statement_content(
    *, customer_account: CustomerAccount, start: datetime, end: datetime, time_zone: str | None = None
) -> dict:
    """Everything a statement of ``customer_account`` for [start, end) shows."""
    organization = customer_account.organization
    time_zone = time_zone or organization_time_zone(organization)
    currency = organization.currency
    # Plain values, not model instances: a statement run reads tens of thousands of these rows.
    prices = list(
        SessionPrice.objects.filter(session__customer_account=customer_account, priced_at__gte=start, priced_at__lt=end)
        .order_by("session__started_at", "session_id")
        .values(
            "session_id",
            "session__started_at",
            "session__stopped_at",
            "session__charge_point__name",
            "session__charge_point__ocpp_id",
            "session__charge_point__site__name",
            "session__connector__number",
            "session__id_tag__label",
            "session__id_tag__uid",
            "session__id_tag_uid",
            "energy_wh",
            "currency",
            "net_total",
            "vat_rate",
            "vat_amount",
            "gross_total",
        )
    )
    paid_by: dict[int, set[str]] = defaultdict(set)
    references: dict[int, list[str]] = defaultdict(list)
    for session_id, method, reference in LedgerEntry.objects.filter(
        session_id__in=[p["session_id"] for p in prices], kind=Kind.PAYMENT
    ).values_list("session_id", "method", "reference"):
        paid_by[session_id].add(method)
        if method == Method.TERMINAL:
            references[session_id].append(reference)

    vat: dict[str, dict[str, Decimal]] = defaultdict(lambda: {"net": ZERO, "vat": ZERO, "gross": ZERO})
    sessions = []
    for price in prices:
        session_id, stopped_at = price["session_id"], price["session__stopped_at"]
        sessions.append(
            {
                "id": session_id,
                "started_at": price["session__started_at"].isoformat(),
                "stopped_at": stopped_at.isoformat() if stopped_at else None,
                "station": price["session__charge_point__name"] or price["session__charge_point__ocpp_id"],
                "site": price["session__charge_point__site__name"] or "",
                "connector": price["session__connector__number"],
                "card": price["session__id_tag__label"]
                or price["session__id_tag__uid"]
                or price["session__id_tag_uid"],
                "energy_wh": price["energy_wh"],
                "currency": price["currency"],
                "net": _money(price["net_total"]),
                "vat_rate": str(price["vat_rate"]),
                "vat": _money(price["vat_amount"]),
                "gross": _money(price["gross_total"]),
                "paid_by": sorted(paid_by.get(session_id, ())),
                "terminal_references": references.get(session_id, []),
            }
        )
        line = vat[str(price["vat_rate"])]
        line["net"] += price["net_total"]
        line["vat"] += price["vat_amount"]
        line["gross"] += price["gross_total"]

    if is_settlement_account(customer_account):
        _with_cdrs(sessions)

    reservation_fees = []
    for fee in (
        ReservationPrice.objects.filter(
            customer_account=customer_account, priced_at__gte=start, priced_at__lt=end, gross_total__gt=0
        )
        .select_related("reservation__charge_point__site", "reservation__connector", "reservation__id_tag")
        .order_by("reserved_from", "reservation_id")
    ):
        reservation = fee.reservation
        reservation_fees.append(
            {
                "id": reservation.pk,
                "label": "Reservation fee",  # translated when shown (``statement_pdf``)
                "status": reservation.status,
                "reserved_from": fee.reserved_from.isoformat(),
                "reserved_until": fee.reserved_until.isoformat(),
                "station": reservation.charge_point.name or reservation.charge_point.ocpp_id,
                "site": reservation.charge_point.site.name if reservation.charge_point.site else "",
                "connector": reservation.connector.number if reservation.connector else None,
                "card": reservation.id_tag.label or reservation.id_tag.uid,
                "currency": fee.currency,
                "net": _money(fee.net_total),
                "vat_rate": str(fee.vat_rate),
                "vat": _money(fee.vat_amount),
                "gross": _money(fee.gross_total),
            }
        )
        line = vat[str(fee.vat_rate)]
        line["net"] += fee.net_total
        line["vat"] += fee.vat_amount
        line["gross"] += fee.gross_total

    credit_notes = []
    for note in CreditNote.objects.filter(
        session__customer_account=customer_account, created_at__gte=start, created_at__lt=end
    ).order_by("created_at", "pk"):
        credit_notes.append(
            {
                "id": note.pk,
                "session_id": note.session_id,
                "issued_at": note.created_at.isoformat(),
                "reason": note.reason,
                "net": _money(note.net_amount),
                "vat_rate": str(note.vat_rate),
                "vat": _money(note.vat_amount),
                "gross": _money(note.gross_amount),
            }
        )
        line = vat[str(note.vat_rate)]
        line["net"] -= note.net_amount
        line["vat"] -= note.vat_amount
        line["gross"] -= note.gross_amount

    entries = LedgerEntry.objects.filter(customer_account=customer_account, currency=currency)
    in_period = list(
        entries.filter(booked_at__gte=start, booked_at__lt=end)
        .order_by("booked_at", "pk", "line")
        .values("booked_at", "kind", "method", "reference", "session_id", "reservation_id", "receivable", "wallet")
    )
    movements = [
        {
            "booked_at": entry["booked_at"].isoformat(),
            "kind": entry["kind"],
            "method": entry["method"],
            "reference": entry["reference"],
            "session_id": entry["session_id"],
            "reservation_id": entry["reservation_id"],
            "owed": _money(entry["receivable"]),
            "wallet": _money(entry["wallet"]),
        }
        for entry in in_period
        if entry["kind"] not in (Kind.CHARGE, Kind.CREDIT_NOTE)
    ]
    before = entries.filter(booked_at__lt=start).aggregate(owed=Sum("receivable"), wallet=Sum("wallet"))
    sums = _period_sums(in_period)
    sums["owed_start"], sums["wallet_start"] = Decimal(before["owed"] or 0), Decimal(before["wallet"] or 0)
    sums["owed_end"] = sums["owed_start"] + sum((entry["receivable"] for entry in in_period), ZERO)
    sums["wallet_end"] = sums["wallet_start"] + sum((entry["wallet"] for entry in in_period), ZERO)
    bank_transfer = bank_transfer_for(customer_account)
    return {
        "operator": _operator(organization),
        "customer": _customer(customer_account),
        # Where to transfer to and with which reference, as the operator had entered it (None: not entered).
        "bank_transfer": asdict(bank_transfer) if bank_transfer else None,
        "payment_method": payment_method_of(customer_account.pk),
        "currency": currency,
        "time_zone": time_zone,
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "sessions": sessions,
        "reservation_fees": reservation_fees,
        "credit_notes": credit_notes,
        "movements": movements,
        "vat": [{"rate": rate, **{k: _money(v) for k, v in amounts.items()}} for rate, amounts in sorted(vat.items())],
        "totals": {
            "energy_wh": sum(s["energy_wh"] for s in sessions),
            "net": _money(sum((a["net"] for a in vat.values()), ZERO)),
            "vat": _money(sum((a["vat"] for a in vat.values()), ZERO)),
            "gross": _money(sum((a["gross"] for a in vat.values()), ZERO)),
            # owed_end = owed_start + charges + reservation_fees - credit_notes - paid - paid_from_wallet + refunds
            "owed_start": _money(sums["owed_start"]),
            "charges": _money(sums["charges"]),
            "reservation_fees": _money(sums["reservation_fees"]),
            "credit_notes": _money(-sums["credit_notes"]),
            "paid": _money(-sums["paid"]),
            "paid_from_wallet": _money(-sums["paid_from_wallet"] - sums["wallet_credit"]),
            "refunds": _money(sums["refunds"]),
            "owed_end": _money(sums["owed_end"]),
            # wallet_end = wallet_start + top_ups - paid_from_wallet - wallet_refunds
            "wallet_start": _money(sums["wallet_start"]),
            "top_ups": _money(sums["top_ups"]),
            "wallet_refunds": _money(-sums["wallet_refunds"]),
            "wallet_end": _money(sums["wallet_end"]),
        },
    }


def is_settlement_account(customer_account: CustomerAccount) -> bool:
    """A roaming partner's account: its statement is the partner's settlement (its CDRs and their totals)."""
    return customer_account.kind == CustomerAccount.Kind.ROAMING


def is_settlement(content: Mapping[str, Any]) -> bool:
    """Whether a statement's snapshot is a roaming partner's settlement."""
    return content["customer"]["kind"] == CustomerAccount.Kind.ROAMING


def _with_cdrs(sessions: list[dict]) -> None:
    """A settlement's sessions get the id of the CDR the partner was sent and the EVSE it names (roaming tells,
    ``hooks.session_cdrs``); a session it sent none of has them empty."""
    cdrs = hooks.session_cdrs([session["id"] for session in sessions]) if sessions else {}
    for session in sessions:
        cdr = cdrs.get(session["id"])
        session["cdr_id"], session["evse_id"] = (cdr.cdr_id, cdr.evse_id) if cdr else ("", "")


def accounts_with_activity(*, organization: Organization, start: datetime, end: datetime) -> set[int]:
    """Customer accounts of the operator with a session priced or money booked in [start, end)."""
    priced = (
        SessionPrice.objects.filter(
            session__customer_account__organization=organization,
            priced_at__gte=start,
            priced_at__lt=end,
        )
        .values_list("session__customer_account_id", flat=True)
        .distinct()
    )
    booked = (
        LedgerEntry.objects.filter(
            customer_account__organization=organization,
            booked_at__gte=start,
            booked_at__lt=end,
        )
        .values_list("customer_account_id", flat=True)
        .distinct()
    )
    return {pk for pk in priced if pk} | {pk for pk in booked if pk}
