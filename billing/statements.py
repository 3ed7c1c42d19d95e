"""Writes for statements: create (numbered, with its snapshot), render and issue, email exactly once.

Exactly once, step by step:

* **Create** reads the content snapshot, then takes the next number from the operator's
  ``StatementSequence`` row, locked ``FOR UPDATE``, and inserts the statement in the same
  transaction: the lock is held for the insert only, so workers do not queue behind each
  other's reads. A second monthly statement for the same account and period violates a unique
  constraint and rolls back with its number, so numbers never skip or repeat, however many
  workers run.
* **Render** turns the snapshot into the PDF outside that lock, stores it and issues the
  statement with a conditional update. A worker killed before that leaves a statement that is
  not issued (nobody sees it); the next run of the job renders it, with the same number.
* **Email** is claimed with a conditional update (pending or failed -> sending), so two
  workers never send the same statement; a failure is recorded and retried with back-off.
"""

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import CustomerAccount, Organization
from billing.models import Statement, StatementSequence
from billing.selectors import organization_time_zone
from billing.statement_content import account_language, accounts_with_activity, is_settlement, statement_content
from billing.statement_csv import statement_csv, statement_csv_filename
from billing.statement_pdf import statement_pdf
from billing.statement_views import statement_filename
from core.timeutil import month_period, previous_month

logger = logging.getLogger(__name__)

#: A statement claimed for sending longer ago than this is taken to have lost its worker.
SENDING_TIMEOUT = timedelta(minutes=15)
MAX_DELIVERY_ATTEMPTS = 6


def _next_number(organization: Organization) -> int:
    try:
        sequence = StatementSequence.objects.select_for_update().get(organization=organization)
    except StatementSequence.DoesNotExist:  # the operator's first statement
        StatementSequence.objects.get_or_create(organization=organization)
        sequence = StatementSequence.objects.select_for_update().get(organization=organization)
    sequence.last_number += 1
    sequence.save(update_fields=["last_number"])
    return sequence.last_number


def statement_create(
    *,
    customer_account: CustomerAccount,
    start: datetime,
    end: datetime,
    kind: str = Statement.Kind.MONTHLY,
    user=None,
    now: datetime | None = None,
) -> Statement:
    """Number a statement of the account for [start, end) and freeze what it shows.

    A monthly statement that exists already is returned as it is (re-running the job builds
    nothing twice); on-demand statements are always new.
    """
    if end <= start:
        raise ValidationError(_("The period must end after it starts."), code="period")
    organization = customer_account.organization
    if kind == Statement.Kind.MONTHLY:
        existing = Statement.objects.filter(
            customer_account=customer_account, kind=kind, period_start=start, period_end=end
        ).first()
        if existing is not None:
            return existing
    time_zone = organization_time_zone(organization)
    # Read before the number is taken: the operator's number lock is held only for the insert.
    content = statement_content(customer_account=customer_account, start=start, end=end, time_zone=time_zone)
    language = account_language(customer_account)
    try:
        with transaction.atomic():
            number = _next_number(organization)
            return Statement.objects.create(
                organization=organization,
                customer_account=customer_account,
                number=number,
                kind=kind,
                period_start=start,
                period_end=end,
                time_zone=time_zone,
                language=language,
                currency=content["currency"],
                content=content,
                gross_total=Decimal(content["totals"]["gross"]),
                amount_due=Decimal(content["totals"]["owed_end"]),
                created_at=now or timezone.now(),
                created_by=user if getattr(user, "pk", None) else None,
                email_to=customer_account.billing_email,
            )
    except IntegrityError:
        # Another worker created this month's statement meanwhile; our number went back with the rollback.
        return Statement.objects.get(customer_account=customer_account, kind=kind, period_start=start, period_end=end)


def statement_render(*, statement: Statement, now: datetime | None = None) -> Statement:
    """Render and store the PDF of a statement not issued yet, and issue it. Issued ones never change."""
    if statement.status == Statement.Status.ISSUED:
        return statement
    pdf = statement_pdf(statement)
    name = Statement._meta.get_field("pdf").generate_filename(statement, "statement.pdf")
    statement.pdf.storage.delete(name)  # a render a killed worker left behind, never issued
    statement.pdf.save(name, ContentFile(pdf), save=False)
    issued_at = now or timezone.now()
    issued = Statement.objects.filter(pk=statement.pk, status=Statement.Status.RENDERING).update(
        pdf=statement.pdf.name,
        status=Statement.Status.ISSUED,
        issued_at=issued_at,
    )
    if issued:
        statement.status, statement.issued_at = Statement.Status.ISSUED, issued_at
    else:
        logger.info("Statement %s was issued by another worker meanwhile.", statement.pk)
        statement.refresh_from_db()
    return statement


def statement_issue(
    *, customer_account: CustomerAccount, start: datetime, end: datetime, kind: str = Statement.Kind.MONTHLY, user=None
) -> Statement:
    return statement_render(
        statement=statement_create(customer_account=customer_account, start=start, end=end, kind=kind, user=user)
    )


def monthly_statements_due(*, now: datetime) -> list[tuple[int, datetime, datetime]]:
    """(customer account, period start, end) of every monthly statement the previous month still needs.

    The previous month is each operator's, in its time zone, so the job can run every hour and
    builds an operator's statements once its month has ended; a missed run is caught up later.
    Statements created but not issued (a killed worker) are due again.
    """
    due = []
    for organization in Organization.objects.order_by("pk"):
        time_zone = organization_time_zone(organization)
        start, end = month_period(previous_month(now, time_zone), time_zone)
        done = set(
            Statement.objects.filter(
                organization=organization,
                kind=Statement.Kind.MONTHLY,
                period_start=start,
                period_end=end,
                status=Statement.Status.ISSUED,
            ).values_list("customer_account_id", flat=True)
        )
        accounts = accounts_with_activity(organization=organization, start=start, end=end) - done
        due += [(account_id, start, end) for account_id in sorted(accounts)]
    return due


def statement_email_claim(*, statement_id: int, now: datetime) -> Statement | None:
    """Claim an issued statement for sending; None when it is sent, being sent, or given up."""
    stale = now - SENDING_TIMEOUT
    claimed = (
        Statement.objects.filter(
            Q(delivery__in=[Statement.Delivery.PENDING, Statement.Delivery.FAILED])
            | Q(delivery=Statement.Delivery.SENDING, delivery_changed_at__lt=stale),
            pk=statement_id,
            status=Statement.Status.ISSUED,
        )
        .exclude(email_to="")
        .update(
            delivery=Statement.Delivery.SENDING, delivery_changed_at=now, delivery_attempts=F("delivery_attempts") + 1
        )
    )
    return (
        Statement.objects.select_related("organization", "customer_account").get(pk=statement_id) if claimed else None
    )


def _message(statement: Statement) -> EmailMessage:
    """The statement's email with its PDF; a roaming partner's settlement also has its lines as CSV."""
    with translation.override(statement.language):
        context = {
            "statement": statement,
            "customer": statement.content["customer"],
            "operator": statement.content["operator"],
        }
        names = {"number": statement.display_number, "operator": statement.organization.name}
        csv_attachment = None
        if is_settlement(statement.content):
            subject = _("Your roaming settlement %(number)s from %(operator)s") % names
            body = render_to_string("billing/settlement_email.txt", context)
            csv_attachment = (statement_csv_filename(statement), statement_csv(statement), "text/csv")
        else:
            subject = _("Your charging statement %(number)s from %(operator)s") % names
            body = render_to_string("billing/statement_email.txt", context)
        filename = statement_filename(statement)
    message = EmailMessage(
        subject=subject,
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[statement.email_to],
        reply_to=[statement.organization.email] if statement.organization.email else None,
    )
    with statement.pdf.open("rb") as pdf:
        message.attach(filename, pdf.read(), "application/pdf")
    if csv_attachment is not None:
        message.attach(*csv_attachment)
    return message


def statement_email_send(*, statement_id: int, now: datetime | None = None) -> str:
    """Email a statement with its PDF, once. Raises when sending failed (the caller retries)."""
    now = now or timezone.now()
    statement = statement_email_claim(statement_id=statement_id, now=now)
    if statement is None:
        return "not due"
    try:
        _message(statement).send()
    except Exception as exc:
        gave_up = statement.delivery_attempts >= MAX_DELIVERY_ATTEMPTS
        Statement.objects.filter(pk=statement.pk).update(
            delivery=Statement.Delivery.GAVE_UP if gave_up else Statement.Delivery.FAILED,
            delivery_error=f"{type(exc).__name__}: {exc}"[:2000],
            delivery_changed_at=timezone.now(),
        )
        raise
    Statement.objects.filter(pk=statement.pk).update(
        delivery=Statement.Delivery.SENT,
        sent_at=timezone.now(),
        delivery_error="",
        delivery_changed_at=timezone.now(),
    )
    return "sent"


def statement_resend(*, statement: Statement) -> bool:
    """An operator asks for a statement to be sent again (to the account's current billing email)."""
    return bool(
        Statement.objects.filter(pk=statement.pk, status=Statement.Status.ISSUED)
        .exclude(
            delivery=Statement.Delivery.SENDING,
        )
        .update(
            delivery=Statement.Delivery.PENDING,
            delivery_attempts=0,
            delivery_error="",
            email_to=statement.customer_account.billing_email,
            delivery_changed_at=timezone.now(),
        )
    )
