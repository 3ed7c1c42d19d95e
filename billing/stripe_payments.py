"""Online card payment through Stripe Checkout: open a checkout, book only what Stripe's signed webhook says.

A driver tops up a prepaid wallet or pays what the account owes. ``checkout_start`` opens a
Stripe Checkout Session for one ``StripeCheckout`` row (one per form key: a double click opens one).
Coming back from Stripe books nothing: only a verified webhook event books, through the ledger's
services, under the key ``stripe:<checkout session id>``, so a replayed event, or both
``checkout.session.completed`` and ``checkout.session.async_payment_succeeded`` for one payment,
book once. Refunds made in Stripe's dashboard arrive as ``charge.refunded`` and are booked as the
difference to what was booked for that payment before.

Amounts are ``Decimal`` in the operator's currency; minor units only in what Stripe is sent and sends.
"""

import logging
import re
from decimal import Decimal
from typing import TypedDict, cast

import stripe
from django.conf import settings
from django.core import checks
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Sum
from django.utils.translation import gettext as _
from stripe.params.checkout import SessionCreateParams

from accounts.models import CustomerAccount
from billing.balances import ZERO, account_balance, wallet_balance
from billing.ledger import (
    payment_account_of,
    payment_record,
    payment_refund,
    positive_amount,
    wallet_refund,
    wallet_top_up,
)
from billing.models import LedgerEntry, PaymentAccount, StripeCheckout
from core import money

logger = logging.getLogger(__name__)

Purpose, Status = StripeCheckout.Purpose, StripeCheckout.Status
Kind, Method = LedgerEntry.Kind, LedgerEntry.Method

_REQUEST_KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")  # a form's one-time key, e.g. uuid4().hex
_PAID_EVENTS = {"checkout.session.completed", "checkout.session.async_payment_succeeded"}


class StripeUnavailable(Exception):
    """Stripe is not configured, or could not open the checkout (network or API error): try again later."""


class WebhookRejected(Exception):
    """The request is not a Stripe event signed with our webhook secret (the view answers 400)."""


class WebhookTooEarly(Exception):
    """A signed event refers to a payment not booked yet (Stripe does not keep events in order).

    The view answers 503, so Stripe sends the event again later (it retries for up to three days).
    """


def stripe_enabled() -> bool:
    """Online card payment is offered only when a Stripe secret key is configured."""
    return bool(settings.STRIPE_SECRET_KEY)


def stripe_settings_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """billing.E001: the Stripe secret key and the webhook secret come together or not at all."""
    has_key, has_secret = bool(settings.STRIPE_SECRET_KEY), bool(settings.STRIPE_WEBHOOK_SECRET)
    if has_key == has_secret:
        return []
    missing, given = (
        ("STRIPE_WEBHOOK_SECRET", "STRIPE_SECRET_KEY") if has_key else ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET")
    )
    return [
        checks.Error(
            f"{given} is set but {missing} is not.",
            hint="Set both to offer online card payment (payments are booked only by Stripe's signed webhook), "
            "or neither.",
            id="billing.E001",
        )
    ]


def _client() -> stripe.StripeClient:
    if not stripe_enabled():
        raise StripeUnavailable(_("Online card payment is not available."))
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses={"api": settings.STRIPE_API_BASE},
        max_network_retries=2,
    )


def _checkout_amount(customer_account: CustomerAccount, purpose: str, amount) -> Decimal:
    currency = customer_account.organization.currency
    if purpose == Purpose.TOP_UP:
        if payment_account_of(customer_account).method != PaymentAccount.Method.WALLET:
            raise ValidationError(_("This account pays by invoice and has no prepaid wallet."), code="no_wallet")
        return positive_amount(amount, currency)
    if purpose == Purpose.PAY_BALANCE:
        owed = account_balance(customer_account).owed
        if owed <= 0:
            raise ValidationError(_("Nothing is owed."), code="nothing_owed")
        if amount not in (None, "") and positive_amount(amount, currency) != owed:
            raise ValidationError(
                _("What you owe has changed: it is now %(owed)s %(currency)s. Please check and try again."),
                params={"owed": owed, "currency": currency},
                code="owed_changed",
            )
        return owed
    raise ValidationError(_("Not a purpose of an online payment."), code="purpose")


def _checkout_row(*, customer_account: CustomerAccount, purpose: str, amount, request_key: str, user) -> StripeCheckout:
    """The form key's checkout, made now (amount validated) or earlier by the same form (same account and purpose)."""
    earlier = StripeCheckout.objects.filter(request_key=request_key).first()
    if earlier is None:
        amount = _checkout_amount(customer_account, purpose, amount)
        money.to_minor_units(amount, customer_account.organization.currency)
        earlier, _created = StripeCheckout.objects.get_or_create(
            request_key=request_key,
            defaults={
                "customer_account": customer_account,
                "purpose": purpose,
                "amount": amount,
                "currency": customer_account.organization.currency,
                "created_by": user if getattr(user, "pk", None) else None,
            },
        )
    if (
        earlier.customer_account_id != customer_account.pk
        or earlier.purpose != purpose
        or (purpose == Purpose.TOP_UP and positive_amount(amount, earlier.currency) != earlier.amount)
    ):
        raise ValidationError(_("This form was used already. Please reload the page and try again."), code="used")
    if earlier.status == Status.PAID:
        raise ValidationError(_("This payment is made already."), code="paid")
    if earlier.status == Status.EXPIRED:
        raise ValidationError(_("This payment page has expired. Please reload the page and try again."), code="expired")
    return earlier


def checkout_start(
    *,
    customer_account: CustomerAccount,
    purpose: str,
    amount,
    request_key: str,
    user,
    success_url: str,
    cancel_url: str,
) -> StripeCheckout:
    """Open (or, for a form key used before, reopen) a Stripe Checkout for a wallet top-up or the amount owed.

    ``amount``: for a top-up (wallet accounts only) more than zero, in the currency's minor unit; for paying
    the balance it may be left out and must otherwise equal what the account owes now (the page the driver
    saw may be stale). The checkout row is saved first, then locked while Stripe is asked, and Stripe gets
    the form key as its ``Idempotency-Key``: double clicks get one Checkout Session. Raises
    ``ValidationError`` for a bad form and ``StripeUnavailable`` when Stripe is off or failed (the row stays
    open without a session; the same form may retry, and Stripe answers a retry of a request it had
    executed with the saved result, so a page reload, which brings a new form key, is the sure way).
    """
    client = _client()
    request_key = (request_key or "").strip()
    if not _REQUEST_KEY.fullmatch(request_key):
        raise ValidationError(_("This form has expired. Please reload the page and try again."), code="request_key")
    checkout = _checkout_row(
        customer_account=customer_account, purpose=purpose, amount=amount, request_key=request_key, user=user
    )
    with transaction.atomic():
        checkout = StripeCheckout.objects.select_for_update().get(pk=checkout.pk)
        if checkout.stripe_session_id:
            return checkout
        metadata = {
            "checkout_id": str(checkout.pk),
            "customer_account_id": str(customer_account.pk),
            "purpose": checkout.purpose,
        }
        params: SessionCreateParams = {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": checkout.currency.lower(),
                        "unit_amount": money.to_minor_units(checkout.amount, checkout.currency),
                        "product_data": {
                            "name": f"{customer_account.organization.name}: {checkout.get_purpose_display()}"
                        },
                    },
                }
            ],
            "client_reference_id": str(checkout.pk),
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        if customer_account.billing_email:
            params["customer_email"] = customer_account.billing_email
        try:
            session = client.v1.checkout.sessions.create(params, {"idempotency_key": f"checkout-{request_key}"})
        except stripe.StripeError as exc:
            logger.warning("Stripe did not open checkout %s: %s", checkout.pk, exc)
            raise StripeUnavailable(_("The card payment could not be started. Please try again later.")) from exc
        checkout.stripe_session_id, checkout.url = session.id, cast(str, session.url)  # hosted: it has a page
        checkout.save(update_fields=["stripe_session_id", "url"])
    return checkout


# --- the webhook ------------------------------------------------------------------------------


def webhook_handle(*, payload: bytes, signature: str) -> str:
    """Verify a Stripe webhook request and act on its event; returns what was done, for the log and the answer.

    Raises ``WebhookRejected`` when the signature (``Stripe-Signature`` header: HMAC-SHA256 with the webhook
    secret, at most 5 minutes old) or the payload is not valid. Nothing but the verified event is trusted.
    Other errors propagate (the view answers 500 and Stripe retries later).
    """
    if not settings.STRIPE_WEBHOOK_SECRET:
        raise WebhookRejected("No webhook secret is configured.")
    try:
        event = stripe.Webhook.construct_event(
            payload, signature, settings.STRIPE_WEBHOOK_SECRET, api_key=settings.STRIPE_SECRET_KEY or None
        )
        data = event.to_dict()
        event_type, obj = data["type"], data["data"]["object"]
    except stripe.SignatureVerificationError as exc:
        raise WebhookRejected(f"Bad signature: {exc.user_message or exc}") from exc
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise WebhookRejected(f"Not a Stripe event: {exc}") from exc
    if not isinstance(obj, dict):
        raise WebhookRejected("The event carries no object.")
    if event_type in _PAID_EVENTS:
        outcome = _checkout_paid(obj)
    elif event_type == "checkout.session.expired":
        updated = StripeCheckout.objects.filter(stripe_session_id=obj.get("id") or "-", status=Status.OPEN).update(
            status=Status.EXPIRED
        )
        outcome = "expired" if updated else "ignored"
    elif event_type == "charge.refunded":
        outcome = _charge_refunded(obj)
    else:
        outcome = "ignored"
    logger.info("Stripe event %s (%s): %s", data.get("id"), event_type, outcome)
    return outcome


def _id(value) -> str:
    """An id from a field Stripe sends as an id or, when expanded, as the object."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else ""


def _checkout_paid(session: dict) -> str:
    """Book a paid Checkout Session once: ``stripe:<session id>`` whichever event says so, however often."""
    if session.get("payment_status") != "paid":
        return "not paid yet"  # an asynchronous method: async_payment_succeeded follows
    session_id = _id(session)
    checkout = (
        StripeCheckout.objects.select_related("customer_account__organization")
        .filter(stripe_session_id=session_id)
        .first()
        if session_id
        else None
    )
    if checkout is None:
        logger.warning("Stripe checkout session %r is not ours: nothing booked.", session_id)
        return "unknown checkout"
    currency = checkout.currency
    if (
        session.get("amount_total") != money.to_minor_units(checkout.amount, currency)
        or str(session.get("currency") or "").upper() != currency
        or currency != checkout.customer_account.organization.currency
        or session.get("client_reference_id") not in (None, str(checkout.pk))
    ):
        logger.error(
            "Stripe checkout session %s paid %r %r, but checkout %s is for %s %s (client reference %r): "
            "nothing booked, check it in Stripe.",
            session_id,
            session.get("amount_total"),
            session.get("currency"),
            checkout.pk,
            checkout.amount,
            currency,
            session.get("client_reference_id"),
        )
        return "mismatch"
    key = f"stripe:{session_id}"
    reference = _id(session.get("payment_intent")) or session_id
    with transaction.atomic():
        checkout = (
            StripeCheckout.objects.select_for_update()
            .select_related("customer_account__organization")
            .get(pk=checkout.pk)
        )
        booked_before = LedgerEntry.objects.filter(idempotency_key=key).exists()
        if not booked_before:
            _book_paid(checkout, reference=reference, key=key)
        if checkout.status != Status.PAID:
            checkout.status = Status.PAID
            checkout.save(update_fields=["status"])
    return "booked already" if booked_before else "booked"


class _StripeBooking(TypedDict):
    """What every booking of a Stripe event says besides its amount and key."""

    customer_account: CustomerAccount
    method: str
    reference: str


def _book_paid(checkout: StripeCheckout, *, reference: str, key: str) -> None:
    """A top-up goes into the wallet; an account that stopped paying by wallet meanwhile gets it as a payment."""
    account = checkout.customer_account
    common = _StripeBooking(customer_account=account, method=Method.STRIPE, reference=reference)
    if checkout.purpose == Purpose.TOP_UP:
        if payment_account_of(account).method == PaymentAccount.Method.WALLET:
            wallet_top_up(amount=checkout.amount, key=key, **common)
            return
        logger.warning(
            "Checkout %s topped up the wallet of %s, which now pays by invoice: booked as a payment "
            "in the customer's favour.",
            checkout.pk,
            account.pk,
        )
    payment_record(amount=checkout.amount, key=key, **common)


def _charge_refunded(charge: dict) -> str:
    """Book the part of a Stripe refund not booked yet for its payment (``amount_refunded`` is cumulative).

    The payment is found by its PaymentIntent id, the reference of the booking of the checkout. A balance
    payment refunded is owed again (``payment_refund``). A wallet top-up refunded leaves the wallet
    (``wallet_refund``) as far as the wallet still holds money; what it no longer holds was spent on
    charging, so those sessions were in effect not paid: that part is owed again (``payment_refund``),
    and a warning is logged. The key ``stripe-refund:<charge>:<amount_refunded>`` and the customer's lock
    make replays, reordered partial refunds and concurrent events book each refunded cent exactly once.
    """
    charge_id, payment_intent = _id(charge), _id(charge.get("payment_intent"))
    refunded_minor = charge.get("amount_refunded")
    if not charge_id or not payment_intent or not isinstance(refunded_minor, int) or refunded_minor <= 0:
        return "ignored"
    paid = LedgerEntry.objects.filter(
        reference=payment_intent,
        method=Method.STRIPE,
        kind__in=[Kind.TOP_UP, Kind.PAYMENT],
        idempotency_key__startswith="stripe:",
    )
    first = paid.select_related("customer_account__organization").order_by("line").first()
    if first is None or first.customer_account is None:
        logger.warning(
            "Stripe refunded charge %s of payment %s, which is not booked (yet): asking Stripe to retry.",
            charge_id,
            payment_intent,
        )
        raise WebhookTooEarly(f"payment {payment_intent} is not booked yet")
    account, currency = first.customer_account, first.currency
    if str(charge.get("currency") or "").upper() != currency:
        logger.error(
            "Stripe refunded charge %s in %r, but payment %s was booked in %s: nothing booked.",
            charge_id,
            charge.get("currency"),
            payment_intent,
            currency,
        )
        return "mismatch"
    refunded = money.from_minor_units(refunded_minor, currency)
    paid_total = -money.stored_amount(paid.aggregate(total=Sum(F("receivable") - F("wallet")))["total"])
    if refunded > paid_total:
        logger.error(
            "Stripe refunded %s %s of payment %s, which booked only %s: refunding what was booked.",
            refunded,
            currency,
            payment_intent,
            paid_total,
        )
        refunded = paid_total
    key = f"stripe-refund:{charge_id}:{refunded_minor}"
    common = _StripeBooking(customer_account=account, method=Method.STRIPE, reference=payment_intent)
    with transaction.atomic():
        payment_account_of(account, lock=True)
        booked = LedgerEntry.objects.filter(reference=payment_intent, method=Method.STRIPE, kind=Kind.REFUND)
        due = refunded - money.stored_amount(booked.aggregate(total=Sum(F("receivable") - F("wallet")))["total"])
        if due <= 0:
            return "booked already"
        if first.kind != Kind.TOP_UP:
            payment_refund(amount=due, key=key, **common)
            return "refunded"
        from_wallet = min(due, max(wallet_balance(account.pk, currency), ZERO))
        if from_wallet > 0:
            wallet_refund(amount=from_wallet, key=key, **common)
        if due > from_wallet:
            logger.warning(
                "Stripe refunded %s %s of top-up %s, but the wallet of %s held only %s: the rest is owed.",
                due,
                currency,
                payment_intent,
                account.pk,
                from_wallet,
            )
            payment_refund(amount=due - from_wallet, key=f"{key}:owed", **common)
    return "refunded"
