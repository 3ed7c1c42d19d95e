"""Statements: what a customer account was charged and paid in a period, numbered, as a PDF, once.

A statement is created in one transaction with its number (taken from the operator's
sequence, so numbers never skip or repeat) and a snapshot of its content; the PDF is
rendered from that snapshot afterwards and the statement is issued when it is stored. An
issued statement never changes: corrections appear on the next one as credit notes.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import CustomerAccount, Organization


class StatementSequence(models.Model):
    """The last statement number an operator used; its row is locked while a number is taken."""

    organization = models.OneToOneField(
        Organization,
        on_delete=models.CASCADE,
        related_name="statement_sequence",
        verbose_name=_("operator"),
    )
    last_number = models.PositiveIntegerField(_("last number"), default=0)

    class Meta:
        verbose_name = _("statement number sequence")
        verbose_name_plural = _("statement number sequences")

    def __str__(self) -> str:
        return f"{self.organization}: {self.last_number}"


def statement_pdf_path(statement: "Statement", filename: str) -> str:
    return f"statements/{statement.organization.slug}/{statement.number:06d}.pdf"


class Statement(models.Model):
    class Kind(models.TextChoices):
        MONTHLY = "monthly", _("Monthly")
        ON_DEMAND = "on_demand", _("On demand")

    class Status(models.TextChoices):
        RENDERING = "rendering", _("Being produced")
        ISSUED = "issued", _("Issued")

    class Delivery(models.TextChoices):
        PENDING = "pending", _("Waiting to be sent")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed, will retry")
        GAVE_UP = "gave_up", _("Failed")

    organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="statements",
        verbose_name=_("operator"),
    )
    customer_account = models.ForeignKey(
        CustomerAccount,
        on_delete=models.PROTECT,
        related_name="statements",
        verbose_name=_("customer account"),
    )
    number = models.PositiveIntegerField(_("number"))
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.MONTHLY)
    period_start = models.DateTimeField(_("period start"))
    period_end = models.DateTimeField(_("period end"), help_text=_("The first moment after the period."))
    time_zone = models.CharField(_("time zone"), max_length=64)
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES)
    currency = models.CharField(_("currency"), max_length=3)
    content = models.JSONField(_("content"), help_text=_("Everything the statement shows, as it was when issued."))
    gross_total = models.DecimalField(_("sessions incl. VAT"), max_digits=12, decimal_places=2)
    amount_due = models.DecimalField(
        _("amount due"),
        max_digits=12,
        decimal_places=2,
        help_text=_("What the customer owed at the end of the period; negative is in their favour."),
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.RENDERING)
    pdf = models.FileField(_("PDF"), upload_to=statement_pdf_path, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    issued_at = models.DateTimeField(_("issued"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="statements_created",
        verbose_name=_("produced by"),
    )
    email_to = models.EmailField(_("sent to"), blank=True)
    delivery = models.CharField(_("delivery"), max_length=10, choices=Delivery.choices, default=Delivery.PENDING)
    delivery_attempts = models.PositiveSmallIntegerField(_("delivery attempts"), default=0)
    delivery_error = models.TextField(_("last delivery error"), blank=True)
    delivery_changed_at = models.DateTimeField(_("delivery changed"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    class Meta:
        verbose_name = _("statement")
        verbose_name_plural = _("statements")
        ordering = ["-period_start", "-number"]
        indexes = [
            models.Index(fields=["customer_account", "-period_start"], name="statement_account_period_idx"),
            models.Index(fields=["status", "delivery"], name="statement_status_delivery_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["organization", "number"], name="statement_number_unique"),
            models.UniqueConstraint(
                fields=["customer_account", "period_start", "period_end"],
                condition=Q(kind="monthly"),
                name="statement_one_monthly_per_period",
            ),
            models.CheckConstraint(condition=Q(period_end__gt=F("period_start")), name="statement_period_order"),
        ]

    def __str__(self) -> str:
        return self.display_number

    @property
    def display_number(self) -> str:
        return f"{self.number:06d}"
