"""Reads of the ledger: what a customer owes, what their wallet holds, what each session still owes."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import DecimalField, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from accounts.models import AuthorizationStatus, CustomerAccount, IdTag
from billing.models import LedgerEntry, PaymentAccount
from core import money

ZERO = Decimal("0.00")
MONEY_FIELD = DecimalField(max_digits=14, decimal_places=money.STORED_DECIMAL_PLACES)  # sums of money columns


@dataclass(frozen=True)
class Balance:
    """A customer account's position in one currency."""

    currency: str
    owed: Decimal  # for sessions, after credit notes and payments; negative is money in their favour
    wallet: Decimal  # prepaid money not yet spent


def _sum(queryset: QuerySet[LedgerEntry], field: str) -> Decimal:
    return money.stored_amount(queryset.aggregate(total=Sum(field))["total"])


def account_balance(customer_account: CustomerAccount, *, currency: str | None = None) -> Balance:
    """The account's balance in ``currency`` (its operator's by default)."""
    currency = currency or customer_account.organization.currency
    entries = LedgerEntry.objects.filter(customer_account=customer_account, currency=currency)
    totals = entries.aggregate(owed=Sum("receivable"), wallet=Sum("wallet"))
    return Balance(
        currency=currency, owed=money.stored_amount(totals["owed"]), wallet=money.stored_amount(totals["wallet"])
    )


def wallet_balance(customer_account_id: int, currency: str) -> Decimal:
    return _sum(LedgerEntry.objects.filter(customer_account_id=customer_account_id, currency=currency), "wallet")


def session_owed(session_id: int) -> Decimal:
    """What a session still owes: its charge less credit notes and payments (negative when overpaid)."""
    return _sum(LedgerEntry.objects.filter(session_id=session_id), "receivable")


def session_paid_from_wallet(session_id: int) -> Decimal:
    return -_sum(LedgerEntry.objects.filter(session_id=session_id, method=LedgerEntry.Method.WALLET), "wallet")


def _owing(customer_account_id: int, currency: str, item: str) -> list[tuple[int, Decimal]]:
    """(id, amount owed) of the account's ``item``s (session or reservation) that still owe money, oldest first
    (sessions by their start, reservations by when they were made)."""
    started = "started_at" if item == "session" else "created_at"
    rows = (
        LedgerEntry.objects.filter(
            customer_account_id=customer_account_id, currency=currency, **{f"{item}__isnull": False}
        )
        .values(f"{item}_id", f"{item}__{started}")
        .order_by(f"{item}__{started}", f"{item}_id")
        .annotate(owed=Sum("receivable"))
        .filter(owed__gt=0)
    )
    owing = [(row[f"{item}_id"], money.stored_amount(row["owed"])) for row in rows]
    return [(pk, owed) for pk, owed in owing if owed > 0]  # not SQLite's float dust


def sessions_owing(customer_account_id: int, currency: str) -> list[tuple[int, Decimal]]:
    """(session id, amount owed) of the account's sessions that still owe money, oldest first."""
    return _owing(customer_account_id, currency, "session")


def reservations_owing(customer_account_id: int, currency: str) -> list[tuple[int, Decimal]]:
    """(reservation id, amount owed) of the account's reservation fees that still owe money, oldest first."""
    return _owing(customer_account_id, currency, "reservation")


def _owed_subquery(item: str, ref: str) -> Coalesce:
    owed = (
        LedgerEntry.objects.filter(**{f"{item}_id": OuterRef(ref)})
        .order_by()
        .values(f"{item}_id")
        .annotate(total=Sum("receivable"))
        .values("total")
    )
    return Coalesce(Subquery(owed, output_field=MONEY_FIELD), Value(ZERO), output_field=MONEY_FIELD)


def reservation_owed_subquery(reservation_ref: str = "reservation_id") -> Coalesce:
    """An annotation: what the reservation ``OuterRef(reservation_ref)`` still owes for its fee, 0 without entries."""
    return _owed_subquery("reservation", reservation_ref)


def session_owed_subquery(session_ref: str = "pk") -> Coalesce:
    """An annotation: what the session ``OuterRef(session_ref)`` still owes, 0 without ledger entries."""
    return _owed_subquery("session", session_ref)


def account_total_subquery(pocket: str) -> Coalesce:
    """An annotation on payment accounts: ``pocket`` (receivable or wallet) summed in the operator's currency."""
    totals = (
        LedgerEntry.objects.filter(
            customer_account_id=OuterRef("customer_account_id"),
            currency=OuterRef("customer_account__organization__currency"),
        )
        .order_by()
        .values("customer_account_id")
        .annotate(total=Sum(pocket))
        .values("total")
    )
    return Coalesce(Subquery(totals, output_field=MONEY_FIELD), Value(ZERO), output_field=MONEY_FIELD)


def payment_method_of(customer_account_id: int | None) -> str:
    """The account's payment method; an account nobody has set one for pays by invoice."""
    if customer_account_id is None:
        return PaymentAccount.Method.INVOICE
    method = (
        PaymentAccount.objects.filter(customer_account_id=customer_account_id).values_list("method", flat=True).first()
    )
    return method or PaymentAccount.Method.INVOICE


def terminal_references(session_id: int) -> list[str]:
    """The terminal receipts a session was paid with on site."""
    return list(
        LedgerEntry.objects.filter(
            session_id=session_id, kind=LedgerEntry.Kind.PAYMENT, method=LedgerEntry.Method.TERMINAL
        )
        .order_by("booked_at")
        .values_list("reference", flat=True)
    )


def ledger_for_account(customer_account: CustomerAccount) -> QuerySet[LedgerEntry]:
    """An account's entries, newest first, with what a statement line shows."""
    return (
        LedgerEntry.objects.filter(customer_account=customer_account)
        .select_related("session__charge_point", "credit_note")
        .order_by("-booked_at", "-pk")
    )


def wallet_refusal(id_tag: IdTag, at) -> AuthorizationStatus | None:
    """NoCredit for a card whose account pays from a prepaid wallet holding no more than its minimum.

    Registered as an authorization check with ``sessions_app.hooks``.
    """
    payment_account = (
        PaymentAccount.objects.filter(customer_account_id=id_tag.customer_account_id)
        .select_related("customer_account__organization")
        .first()
    )
    if payment_account is None or payment_account.method != PaymentAccount.Method.WALLET:
        return None
    currency = payment_account.customer_account.organization.currency
    if wallet_balance(id_tag.customer_account_id, currency) <= payment_account.wallet_minimum:
        return AuthorizationStatus.NO_CREDIT
    return None
