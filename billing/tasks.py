"""Celery tasks for statements and reservation fees: they take ids and call services (billing.statements,
billing.reservation_fees)."""

from datetime import datetime

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import CustomerAccount
from billing.reservation_fees import reservation_fees_sweep
from billing.statements import monthly_statements_due, statement_email_send, statement_issue


@shared_task(name="billing.statements_monthly")
def statements_monthly() -> int:
    """Beat's hourly job: one task per customer account whose previous month has no statement yet."""
    due = monthly_statements_due(now=timezone.now())
    for account_id, start, end in due:
        statement_build.delay(account_id, start.isoformat(), end.isoformat())
    return len(due)


@shared_task(name="billing.statement_build", acks_late=True, reject_on_worker_lost=True)
def statement_build(customer_account_id: int, start: str, end: str) -> int:
    account = CustomerAccount.objects.select_related("organization").get(pk=customer_account_id)
    statement = statement_issue(
        customer_account=account, start=datetime.fromisoformat(start), end=datetime.fromisoformat(end)
    )
    transaction.on_commit(lambda: statement_email.delay(statement.pk))
    return statement.pk


@shared_task(name="billing.statement_email", bind=True, acks_late=True, max_retries=5)
def statement_email(self, statement_id: int) -> str:
    """Send once; an SMTP failure is retried after 1, 2, 4, 8 and 16 minutes (the state shows in the admin).

    The first wait is ``STATEMENT_EMAIL_RETRY_BASE_SECONDS`` (60 s by default; the tests shorten it).
    """
    try:
        return statement_email_send(statement_id=statement_id)
    except Exception as exc:
        countdown = settings.STATEMENT_EMAIL_RETRY_BASE_SECONDS * 2**self.request.retries
        raise self.retry(exc=exc, countdown=countdown) from exc


@shared_task(name="billing.reservation_fees_sweep", acks_late=True)
def reservation_fees_sweep_task() -> int:
    """Beat's job: price and charge the reservation fees a crash or a failing handler left undone."""
    return reservation_fees_sweep(now=timezone.now())
