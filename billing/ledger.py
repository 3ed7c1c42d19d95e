"""Writes to the ledger: charges, payments, top-ups, refunds, credit notes, and the wallet drawing on them.

Every operation books its entries under one idempotency key (see ``billing.models.payments``).
It first takes the customer's payment account row ``FOR UPDATE``, so balances read while
deciding what to book cannot change underneath; then a key already booked returns the
entries booked before instead of booking again. Derived movements are lines of the
operation that caused them: an overpaid session the wallet paid gets that money back, and
after every operation a prepaid wallet pays what the account owes, oldest session first, as
far as it holds.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import CustomerAccount, User
from billing.balances import (
    ZERO,
    reservations_owing,
    session_owed,
    session_paid_from_wallet,
    sessions_owing,
    wallet_balance,
)
from billing.models import CreditNote, LedgerEntry, PaymentAccount, ReservationPrice, SessionPrice
from core import money
from sessions_app.models import ChargingSession

Kind, Method = LedgerEntry.Kind, LedgerEntry.Method

#: An amount as it comes: a Decimal, or the text of a form field, a webhook or a charger's report.
Amount = Decimal | int | str


@dataclass
class _Line:
    kind: str
    receivable: Decimal = ZERO
    wallet: Decimal = ZERO
    method: str = ""
    session_id: int | None = None
    reservation_id: int | None = None
    credit_note: CreditNote | None = None
    reference: str = ""
    note: str = ""


@dataclass
class _Booking:
    """An operation's lines under its key, for one customer (or none: an anonymous terminal session)."""

    key: str
    organization_id: int
    customer_account_id: int | None
    currency: str
    lines: list[_Line] = field(default_factory=list)


def payment_account_of(customer_account: CustomerAccount, *, lock: bool = False) -> PaymentAccount:
    """The account's payment settings, created (paying by invoice) on first use."""
    if lock:
        return payment_account_lock(customer_account.pk)
    account, _created = PaymentAccount.objects.get_or_create(customer_account=customer_account)
    return account


def payment_account_lock(customer_account_id: int) -> PaymentAccount:
    """The account's payment settings taken ``FOR UPDATE``, with its customer and operator, in one query.

    Every booking takes this lock, so it reads nothing else; only an account's first booking creates the row.
    """
    locked = (
        PaymentAccount.objects.select_for_update(of=("self",))
        .select_related("customer_account__organization")
        .filter(customer_account_id=customer_account_id)
    )
    try:
        return locked.get()
    except PaymentAccount.DoesNotExist:
        PaymentAccount.objects.get_or_create(customer_account_id=customer_account_id)
        return locked.get()


def _lock(customer_account_id: int | None) -> PaymentAccount | None:
    return None if customer_account_id is None else payment_account_lock(customer_account_id)


def _booked(key: str) -> list[LedgerEntry]:
    return list(LedgerEntry.objects.filter(idempotency_key=key).order_by("line"))


def _write(
    booking: _Booking, *, user: User | None = None, at: datetime | None = None, first_line: int = 0
) -> list[LedgerEntry]:
    at = at or timezone.now()
    entries = [
        LedgerEntry(
            organization_id=booking.organization_id,
            customer_account_id=booking.customer_account_id,
            session_id=line.session_id,
            reservation_id=line.reservation_id,
            credit_note=line.credit_note,
            kind=line.kind,
            method=line.method,
            currency=booking.currency,
            receivable=line.receivable,
            wallet=line.wallet,
            reference=line.reference[:255],
            note=line.note[:255],
            idempotency_key=booking.key,
            line=number,
            booked_at=at,
            booked_by=user if getattr(user, "pk", None) else None,
        )
        for number, line in enumerate(booking.lines, start=first_line)
    ]
    try:
        with transaction.atomic():
            return LedgerEntry.objects.bulk_create(entries)
    except IntegrityError:
        # Booked by a concurrent request under the same key: that booking stands. Any other failure (a row
        # breaking a check constraint, a missing reference) is an error, never "booked already".
        booked = [entry for entry in _booked(booking.key) if entry.line >= first_line]
        if not booked:
            raise
        return booked


def _paying_owed(
    available: Decimal, customer_account_id: int, currency: str, *, method: str, reference: str = ""
) -> list[_Line]:
    """Payment lines for what the account owes, as far as ``available`` goes: its sessions oldest first, then its
    reservation fees oldest first. Paid from a prepaid wallet (method WALLET), each line takes the money out of the
    wallet too."""
    from_wallet = method == Method.WALLET
    lines: list[_Line] = []
    for is_session, owing in ((True, sessions_owing), (False, reservations_owing)):
        if available <= 0:
            break
        for pk, owed in owing(customer_account_id, currency):
            amount = min(available, owed)
            if amount <= 0:
                break
            wallet = -amount if from_wallet else ZERO
            line = _Line(Kind.PAYMENT, receivable=-amount, wallet=wallet, method=method, reference=reference)
            if is_session:
                line.session_id = pk
            else:
                line.reservation_id = pk
            lines.append(line)
            available -= amount
    return lines


def _wallet_credit_back(session_id: int, owed_after: Decimal, currency: str) -> list[_Line]:
    """An overpaid session gives back to the wallet what the wallet paid for it (never more)."""
    back = min(-owed_after, session_paid_from_wallet(session_id))
    if owed_after >= 0 or back <= 0:
        return []
    return [_Line(Kind.WALLET_CREDIT, receivable=back, wallet=back, session_id=session_id)]


def _book_once(
    booking_of: Callable[[PaymentAccount | None], _Booking],
    *,
    key: str,
    customer_account_id: int | None,
    user: User | None = None,
    at: datetime | None = None,
) -> list[LedgerEntry]:
    """Lock the customer, return an earlier booking of ``key`` or book what ``booking_of`` decides now.

    Then a prepaid wallet pays what the account owes, in further lines under the same key.
    """
    with transaction.atomic():
        payment_account = _lock(customer_account_id)
        earlier = _booked(key)
        if earlier:
            return earlier
        booking = booking_of(payment_account)
        entries = _write(booking, user=user, at=at) if booking.lines else []
        if payment_account is not None and payment_account.method == PaymentAccount.Method.WALLET:
            # Only a wallet reads the account's balances: a charge to an invoice account sums nothing.
            currency = payment_account.customer_account.organization.currency  # the only one a wallet holds
            account_id = payment_account.customer_account_id
            draws = _paying_owed(wallet_balance(account_id, currency), account_id, currency, method=Method.WALLET)
            if draws:
                entries += _write(
                    _Booking(key, booking.organization_id, account_id, currency, draws),
                    user=user,
                    at=at,
                    first_line=len(entries),
                )
        return entries


def session_charge_book(*, price: SessionPrice) -> list[LedgerEntry]:
    """Charge a priced session to its customer; a prepaid wallet pays it at once, as far as it holds."""
    session = price.session
    if price.gross_total <= 0:
        return []
    organization_id = session.charge_point.organization_id

    key = f"charge:{session.pk}"
    return _book_once(
        lambda payment_account: _Booking(
            key,
            organization_id,
            session.customer_account_id,
            price.currency,
            [
                _Line(Kind.CHARGE, receivable=price.gross_total, session_id=session.pk),
            ],
        ),
        key=key,
        customer_account_id=session.customer_account_id,
        at=price.priced_at,
    )


def reservation_charge_book(*, price: ReservationPrice) -> list[LedgerEntry]:
    """Charge a reservation fee to the card's customer account, once (key ``reservation-charge:<id>``); a prepaid
    wallet pays it at once, as far as it holds, as for a session. An invoice account owes it until paid."""
    if price.gross_total <= 0:
        return []
    reservation = price.reservation
    organization_id = reservation.charge_point.organization_id
    key = f"reservation-charge:{reservation.pk}"
    return _book_once(
        lambda payment_account: _Booking(
            key,
            organization_id,
            price.customer_account_id,
            price.currency,
            [_Line(Kind.CHARGE, receivable=price.gross_total, reservation_id=reservation.pk)],
        ),
        key=key,
        customer_account_id=price.customer_account_id,
        at=price.priced_at,
    )


def positive_amount(amount: Amount, currency: str) -> Decimal:
    """A money amount from a form, a webhook or a charger: a finite Decimal above zero, in ``currency``'s minor unit."""
    try:
        value = Decimal(amount)
    except (ArithmeticError, TypeError, ValueError) as exc:
        raise ValidationError(_("The amount is not a number."), code="not_a_number") from exc
    if not value.is_finite() or value <= 0:
        raise ValidationError(_("The amount must be more than zero."), code="not_positive")
    if value != money.quantize(value, currency):
        raise ValidationError(
            _("%(currency)s amounts have at most %(places)s decimals."),
            params={"currency": currency, "places": money.minor_unit(currency)},
            code="too_precise",
        )
    return value


def terminal_payment_record(
    *,
    session: ChargingSession,
    reference: str,
    amount: Amount,
    currency: str | None = None,
    user: User | None = None,
    at: datetime | None = None,
) -> list[LedgerEntry]:
    """A session paid by card at the station's terminal: paid, so never invoiced or drawn from a wallet.

    Keyed by the charge point and the terminal's reference: the same receipt reported twice
    books once. A wallet that already paid the session gets that money back.
    """
    reference = (reference or "").strip()
    if not reference:
        raise ValidationError(_("A terminal payment needs the terminal's payment reference."), code="no_reference")
    price = SessionPrice.objects.filter(session_id=session.pk).first()
    organization_currency = session.charge_point.organization.currency
    currency = (currency or (price.currency if price else organization_currency)).upper()
    if price is not None and currency != price.currency:
        raise ValidationError(
            _("The session is priced in %(currency)s."), params={"currency": price.currency}, code="currency"
        )
    amount = positive_amount(amount, currency)
    key = f"terminal:{session.charge_point_id}:{reference}"

    def booking_of(payment_account: PaymentAccount | None) -> _Booking:
        booking = _Booking(
            key,
            session.charge_point.organization_id,
            session.customer_account_id,
            currency,
            [
                _Line(
                    Kind.PAYMENT, receivable=-amount, method=Method.TERMINAL, session_id=session.pk, reference=reference
                ),
            ],
        )
        booking.lines += _wallet_credit_back(session.pk, session_owed(session.pk) - amount, currency)
        return booking

    return _book_once(booking_of, key=key, customer_account_id=session.customer_account_id, user=user, at=at)


def credit_note_book(*, credit_note: CreditNote) -> list[LedgerEntry]:
    """A credit note lowers what its session owes; a session the wallet paid returns the difference to it."""
    session = credit_note.session
    key = f"credit-note:{credit_note.pk}"

    def booking_of(payment_account: PaymentAccount | None) -> _Booking:
        amount = credit_note.gross_amount
        booking = _Booking(
            key,
            session.charge_point.organization_id,
            session.customer_account_id,
            credit_note.currency,
            [
                _Line(
                    Kind.CREDIT_NOTE,
                    receivable=-amount,
                    session_id=session.pk,
                    credit_note=credit_note,
                    note=credit_note.reason,
                ),
            ],
        )
        booking.lines += _wallet_credit_back(session.pk, session_owed(session.pk) - amount, credit_note.currency)
        return booking

    return _book_once(
        booking_of,
        key=key,
        customer_account_id=session.customer_account_id,
        user=credit_note.created_by,
        at=credit_note.created_at,
    )


def payment_record(
    *,
    customer_account: CustomerAccount,
    amount: Amount,
    method: str,
    reference: str,
    key: str,
    user: User | None = None,
    at: datetime | None = None,
) -> list[LedgerEntry]:
    """Money received for what the account owes (an invoice paid by bank transfer, or online).

    It pays the account's owing sessions oldest first, then its owing reservation fees; what is left stays in the
    customer's favour.
    """
    currency = customer_account.organization.currency
    amount = positive_amount(amount, currency)
    if method not in {Method.BANK, Method.STRIPE, Method.OTHER}:
        raise ValidationError(_("Not a way to pay an invoice."), code="method")

    def booking_of(payment_account: PaymentAccount | None) -> _Booking:
        lines = _paying_owed(amount, customer_account.pk, currency, method=method, reference=reference)
        left = amount + sum((line.receivable for line in lines), ZERO)
        if left > 0:
            lines.append(_Line(Kind.PAYMENT, receivable=-left, method=method, reference=reference))
        return _Booking(key, customer_account.organization_id, customer_account.pk, currency, lines)

    return _book_once(booking_of, key=key, customer_account_id=customer_account.pk, user=user, at=at)


def wallet_top_up(
    *,
    customer_account: CustomerAccount,
    amount: Amount,
    method: str,
    reference: str,
    key: str,
    user: User | None = None,
    at: datetime | None = None,
) -> list[LedgerEntry]:
    """Money into a prepaid wallet; sessions the wallet could not pay before are paid from it at once."""
    currency = customer_account.organization.currency
    amount = positive_amount(amount, currency)
    if method not in {Method.BANK, Method.STRIPE, Method.OTHER}:
        raise ValidationError(_("Not a way to top up a wallet."), code="method")

    def booking_of(payment_account: PaymentAccount | None) -> _Booking:
        if payment_account is None or payment_account.method != PaymentAccount.Method.WALLET:
            raise ValidationError(_("This account pays by invoice and has no prepaid wallet."), code="no_wallet")
        return _Booking(
            key,
            customer_account.organization_id,
            customer_account.pk,
            currency,
            [
                _Line(Kind.TOP_UP, wallet=amount, method=method, reference=reference),
            ],
        )

    return _book_once(booking_of, key=key, customer_account_id=customer_account.pk, user=user, at=at)


def wallet_refund(
    *,
    customer_account: CustomerAccount,
    amount: Amount,
    method: str,
    reference: str,
    key: str,
    user: User | None = None,
    at: datetime | None = None,
) -> list[LedgerEntry]:
    """Pay wallet money back to the customer; never more than the wallet holds."""
    currency = customer_account.organization.currency
    amount = positive_amount(amount, currency)

    def booking_of(payment_account: PaymentAccount | None) -> _Booking:
        held = wallet_balance(customer_account.pk, currency)
        if amount > held:
            raise ValidationError(
                _("The wallet holds only %(held)s %(currency)s."),
                params={"held": held, "currency": currency},
                code="too_much",
            )
        return _Booking(
            key,
            customer_account.organization_id,
            customer_account.pk,
            currency,
            [
                _Line(Kind.REFUND, wallet=-amount, method=method, reference=reference),
            ],
        )

    return _book_once(booking_of, key=key, customer_account_id=customer_account.pk, user=user, at=at)


def payment_refund(
    *,
    customer_account: CustomerAccount,
    amount: Amount,
    method: str,
    reference: str,
    key: str,
    user: User | None = None,
    at: datetime | None = None,
) -> list[LedgerEntry]:
    """Give back money paid for what was owed (a card payment refunded): the account owes it again."""
    currency = customer_account.organization.currency
    amount = positive_amount(amount, currency)
    return _book_once(
        lambda payment_account: _Booking(
            key,
            customer_account.organization_id,
            customer_account.pk,
            currency,
            [
                _Line(Kind.REFUND, receivable=amount, method=method, reference=reference),
            ],
        ),
        key=key,
        customer_account_id=customer_account.pk,
        user=user,
        at=at,
    )


def payment_method_set(
    *, customer_account: CustomerAccount, method: str, wallet_minimum: Decimal | None = None
) -> PaymentAccount:
    """Switch how an account pays. A wallet left with money keeps it (refund it or switch back)."""
    with transaction.atomic():
        payment_account = payment_account_of(customer_account, lock=True)
        payment_account.method = method
        if wallet_minimum is not None:
            payment_account.wallet_minimum = wallet_minimum
        payment_account.full_clean()
        payment_account.save()
    return payment_account
