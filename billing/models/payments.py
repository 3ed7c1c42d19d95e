"""How customers pay, and the ledger of every money movement.

A customer account pays by monthly invoice (sessions are owed until paid) or from a prepaid
wallet (sessions are drawn from it; an empty wallet may not start charging). Either way a
session paid at the station's terminal is paid already. Every movement is a ledger entry,
never changed afterwards; balances are sums over entries. Each entry moves money in one or
both of a customer's two pockets:

* ``receivable``: what the customer owes for sessions (a charge raises it; credit notes and
  payments lower it; a refund of money paid raises it back),
* ``wallet``: prepaid money (top-ups raise it; drawing for a session and refunds lower it).

An operation (a charge, a webhook, a form post) books its entries under one idempotency key,
numbered by ``line``; the key is unique per line, so a replay or a double click books nothing.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import CustomerAccount, Organization
from billing.models.tariffs import CreditNote
from sessions_app.models import ChargingSession, Reservation


class PaymentAccount(models.Model):
    """A customer account's way of paying, and its wallet's floor."""

    class Method(models.TextChoices):
        INVOICE = "invoice", _("Monthly invoice")
        WALLET = "wallet", _("Prepaid wallet")

    customer_account = models.OneToOneField(
        CustomerAccount,
        on_delete=models.CASCADE,
        related_name="payment_account",
        verbose_name=_("customer account"),
    )
    method = models.CharField(_("payment method"), max_length=10, choices=Method.choices, default=Method.INVOICE)
    wallet_minimum = models.DecimalField(
        _("wallet minimum"),
        max_digits=12,
        decimal_places=2,
        default=Decimal("0.00"),
        help_text=_("A prepaid wallet must hold more than this for a card to start charging."),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("payment account")
        verbose_name_plural = _("payment accounts")
        ordering = ["customer_account__name"]
        constraints = [
            models.CheckConstraint(condition=Q(wallet_minimum__gte=0), name="paymentaccount_minimum_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_account}: {self.get_method_display()}"


class LedgerEntry(models.Model):
    """One money movement. Booked once under its idempotency key; never edited or deleted."""

    class Kind(models.TextChoices):
        CHARGE = "charge", _("Charge")
        CREDIT_NOTE = "credit_note", _("Credit note")
        PAYMENT = "payment", _("Payment")
        TOP_UP = "top_up", _("Wallet top-up")
        WALLET_CREDIT = "wallet_credit", _("Credited to wallet")
        REFUND = "refund", _("Refund")

    class Method(models.TextChoices):
        TERMINAL = "terminal", _("Card at the station's terminal")
        STRIPE = "stripe", _("Online card payment")
        WALLET = "wallet", _("Prepaid wallet")
        BANK = "bank", _("Bank transfer")
        OTHER = "other", _("Other")

    organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="ledger_entries",
        verbose_name=_("operator"),
    )
    customer_account = models.ForeignKey(
        CustomerAccount,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_entries",
        verbose_name=_("customer account"),
    )
    session = models.ForeignKey(
        ChargingSession,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_entries",
        verbose_name=_("session"),
    )
    credit_note = models.ForeignKey(
        CreditNote,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_entries",
        verbose_name=_("credit note"),
    )
    reservation = models.ForeignKey(
        Reservation,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_entries",
        verbose_name=_("reservation"),
        help_text=_("A reservation fee's charge, and what paid it."),
    )
    kind = models.CharField(_("kind"), max_length=15, choices=Kind.choices)
    method = models.CharField(_("paid by"), max_length=10, choices=Method.choices, blank=True)
    currency = models.CharField(_("currency"), max_length=3)
    receivable = models.DecimalField(
        _("owed"),
        max_digits=12,
        decimal_places=2,
        default=Decimal("0.00"),
        help_text=_("Change of what the customer owes for sessions."),
    )
    wallet = models.DecimalField(
        _("wallet"),
        max_digits=12,
        decimal_places=2,
        default=Decimal("0.00"),
        help_text=_("Change of the prepaid wallet's balance."),
    )
    reference = models.CharField(
        _("reference"),
        max_length=255,
        blank=True,
        help_text=_("The payment's reference outside: terminal receipt, Stripe payment, bank transfer."),
    )
    note = models.CharField(_("note"), max_length=255, blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=255)
    line = models.PositiveSmallIntegerField(_("line"), default=0)
    booked_at = models.DateTimeField(_("booked"), default=timezone.now)
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="ledger_entries",
        verbose_name=_("booked by"),
    )

    class Meta:
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        ordering = ["-booked_at", "-pk"]
        indexes = [
            models.Index(fields=["customer_account", "booked_at"], name="ledger_account_booked_idx"),
            models.Index(fields=["session"], name="ledger_session_idx"),
            models.Index(fields=["reservation"], name="ledger_reservation_idx"),
            models.Index(fields=["organization", "booked_at"], name="ledger_org_booked_idx"),
            models.Index(fields=["reference"], name="ledger_reference_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["idempotency_key", "line"], name="ledger_idempotency_key_line_unique"),
            models.CheckConstraint(condition=~Q(receivable=0) | ~Q(wallet=0), name="ledger_moves_money"),
            models.CheckConstraint(
                condition=(
                    Q(kind="charge", receivable__gt=0, wallet=0)
                    | Q(kind="credit_note", receivable__lt=0, wallet=0)
                    | Q(kind="payment", receivable__lt=0, wallet__lte=0)
                    | Q(kind="top_up", receivable=0, wallet__gt=0)
                    | Q(kind="wallet_credit", receivable__gt=0, wallet__gt=0)
                    | Q(kind="refund", receivable__gte=0, wallet__lte=0)
                ),
                name="ledger_kind_direction",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.idempotency_key}#{self.line}"

    @property
    def amount(self) -> Decimal:
        """The size of the movement, whichever pocket it touches."""
        return max(abs(self.receivable), abs(self.wallet))


class StripeCheckout(models.Model):
    """A Stripe Checkout we opened: what it is for and how much. Booked only by its signed webhook."""

    class Purpose(models.TextChoices):
        TOP_UP = "top_up", _("Wallet top-up")
        PAY_BALANCE = "pay_balance", _("Payment of the amount owed")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        PAID = "paid", _("Paid")
        EXPIRED = "expired", _("Expired")

    customer_account = models.ForeignKey(
        CustomerAccount,
        on_delete=models.PROTECT,
        related_name="stripe_checkouts",
        verbose_name=_("customer account"),
    )
    purpose = models.CharField(_("purpose"), max_length=12, choices=Purpose.choices)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3)
    request_key = models.CharField(
        _("request key"),
        max_length=64,
        unique=True,
        help_text=_("The form's one-time key: one checkout per click."),
    )
    stripe_session_id = models.CharField(_("Stripe checkout session"), max_length=255, blank=True)
    url = models.URLField(_("payment page"), max_length=2000, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="stripe_checkouts",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("Stripe checkout")
        verbose_name_plural = _("Stripe checkouts")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="stripecheckout_amount_positive"),
            models.UniqueConstraint(
                fields=["stripe_session_id"],
                condition=~Q(stripe_session_id=""),
                name="stripecheckout_session_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} {self.amount} {self.currency}"
