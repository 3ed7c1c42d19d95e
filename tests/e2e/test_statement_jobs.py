"""Monthly statements through real Celery workers on Redis, emailed to a real SMTP receiver.

The job computes "the previous month" from the real clock in each operator's time zone, so the
sessions here are priced in the real previous month. Workers are separate processes: the data is
committed (transactional tests) and the tests wait for the workers, with a deadline.
"""

import io
import os
import time
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from pypdf import PdfReader

from accounts.models import CustomerAccount, Organization
from billing.models import LedgerEntry, SessionPrice, Statement, StatementSequence
from billing.services import session_price_freeze, tariff_assignment_create
from core.timeutil import month_period, previous_month
from tests.factories import (
    make_account,
    make_charge_point,
    make_organization,
    make_session,
    make_site,
    make_tag,
    make_tariff,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.environ.get("REDIS_URL"),
        reason="needs Redis for the real Celery worker: set "
        "REDIS_URL (make test sets it when a local Redis is installed)",
    ),
]

MONTHLY = "billing.statements_monthly"
ZONE = "Europe/Stockholm"


@dataclass
class Customer:
    account: CustomerAccount
    dates: list[str]  # local dates of its sessions, as the statement prints them
    gross: Decimal


def priced_last_month(count: int, *, sessions: int = 3) -> tuple[Organization, list[Customer]]:
    """An operator (Stockholm) whose ``count`` accounts charged ``sessions`` times in the previous month,
    at 4.00 SEK per kWh incl. 25 % VAT, each session priced when it stopped."""
    organization = make_organization("Jobs")
    connector = make_charge_point(make_site(organization, time_zone=ZONE)).connectors.get(number=1)
    tariff_assignment_create(tariff=make_tariff(organization, energy="4.00"))
    month_start, _end = month_period(previous_month(timezone.now(), ZONE), ZONE)
    customers = []
    for i in range(count):
        account = make_account(organization, name=f"Customer {i + 1}")
        card = make_tag(account)
        dates, gross = [], Decimal(0)
        for j in range(sessions):
            started = month_start + timedelta(days=1 + 7 * j, hours=8 + i % 10)  # local wall-clock time
            kwh = 1 + (i + j) % 9
            session = make_session(connector, card, started_at=started, energy_wh=kwh * 1000, minutes=45)
            session_price_freeze(session=session)
            SessionPrice.objects.filter(session=session).update(priced_at=session.stopped_at)
            LedgerEntry.objects.filter(session=session).update(booked_at=session.stopped_at)
            dates.append(started.strftime("%Y-%m-%d"))
            gross += 4 * kwh
        customers.append(Customer(account=account, dates=dates, gross=gross))
    return organization, customers


def wait_until(condition, *, what: str, workers, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"Timed out after {timeout} s waiting for {what}.\n{workers.logs()}")
        time.sleep(0.1)
    return result


def all_sent(organization: Organization, expected: int):
    return lambda: (
        Statement.objects.filter(organization=organization, delivery=Statement.Delivery.SENT).count() == expected
    )


def pdf_attachment(message) -> str:
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    content = attachment.get_content()
    assert content.startswith(b"%PDF")
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def test_the_monthly_job_emails_each_account_one_statement_with_its_sessions_and_totals(celery_workers, smtp_receiver):
    organization, customers = priced_last_month(3)
    celery_workers.start(concurrency=2)

    celery_workers.send(MONTHLY)

    wait_until(all_sent(organization, 3), what="three statements sent", workers=celery_workers)
    celery_workers.wait_idle()
    by_recipient = {}
    for message in smtp_receiver.messages:
        by_recipient.setdefault(message["To"], []).append(message)
    assert sorted(by_recipient) == sorted(c.account.billing_email for c in customers)
    for customer in customers:
        [message] = by_recipient[customer.account.billing_email]
        statement = Statement.objects.get(customer_account=customer.account)
        assert statement.display_number in message["Subject"] and organization.name in message["Subject"]
        text = pdf_attachment(message)
        assert statement.display_number in text and customer.account.name in text
        for day in customer.dates:
            assert day in text
        net = (customer.gross / Decimal("1.25")).quantize(Decimal("0.01"))
        for amount in (customer.gross, net, customer.gross - net):
            assert f"{amount:.2f} SEK" in text
        assert f"Amount due: {customer.gross:.2f} SEK" in " ".join(text.split())
        assert (statement.status, statement.delivery_attempts, statement.gross_total) == (
            Statement.Status.ISSUED,
            1,
            customer.gross,
        )
        with statement.pdf.open("rb") as stored:  # what was sent is what is kept
            assert stored.read() == next(message.iter_attachments()).get_content()


def test_running_the_job_twice_and_concurrently_sends_one_statement_per_account(celery_workers, smtp_receiver):
    organization, customers = priced_last_month(6)
    celery_workers.start(concurrency=2)

    celery_workers.send(MONTHLY)
    celery_workers.send(MONTHLY)  # both fan-outs run at once, one in each pool process
    wait_until(all_sent(organization, 6), what="six statements sent", workers=celery_workers)
    celery_workers.wait_idle()
    celery_workers.send(MONTHLY)  # and once more when all is done: nothing is due
    celery_workers.wait_idle()

    recipients = sorted(message["To"] for message in smtp_receiver.messages)
    assert recipients == sorted(c.account.billing_email for c in customers)
    assert sorted(
        Statement.objects.filter(organization=organization).values_list("customer_account", flat=True)
    ) == sorted(c.account.pk for c in customers)
    assert sorted(Statement.objects.values_list("number", flat=True)) == [1, 2, 3, 4, 5, 6]
    assert set(Statement.objects.values_list("delivery_attempts", flat=True)) == {1}


def test_two_workers_number_thirty_statements_one_to_thirty_without_gaps(celery_workers, smtp_receiver):
    organization, customers = priced_last_month(30, sessions=1)
    celery_workers.start(2, concurrency=2)  # two worker processes, two pool processes each

    celery_workers.send(MONTHLY)

    wait_until(all_sent(organization, 30), what="thirty statements sent", workers=celery_workers, timeout=180)
    celery_workers.wait_idle()
    numbers = sorted(Statement.objects.filter(organization=organization).values_list("number", flat=True))
    assert numbers == list(range(1, 31))
    assert StatementSequence.objects.get(organization=organization).last_number == 30
    assert Statement.objects.filter(organization=organization).values("customer_account").distinct().count() == 30
    assert len(smtp_receiver.messages) == 30
    assert {message["Subject"].split()[3] for message in smtp_receiver.messages} == {f"{n:06d}" for n in numbers}
    for log in celery_workers.log_texts():  # both workers took their share
        assert "Task billing.statement_build[" in log and "succeeded" in log


def test_a_refused_email_is_retried_its_failure_shown_and_sent_once_the_receiver_accepts(celery_workers, smtp_receiver):
    organization, [customer] = priced_last_month(1)
    smtp_receiver.refuse = "451 4.3.0 Mailbox busy, try again later"
    celery_workers.start()

    celery_workers.send(MONTHLY)

    statement = wait_until(
        lambda: Statement.objects.filter(
            organization=organization, delivery=Statement.Delivery.FAILED, delivery_attempts__gte=2
        ).first(),
        what="a second failed attempt",
        workers=celery_workers,
    )
    assert "451" in statement.delivery_error and "SMTP" in statement.delivery_error
    assert statement.status == Statement.Status.ISSUED and statement.sent_at is None
    assert smtp_receiver.messages == [] and smtp_receiver.refused >= 2

    smtp_receiver.refuse = None
    wait_until(all_sent(organization, 1), what="the statement sent", workers=celery_workers)
    celery_workers.wait_idle()
    statement.refresh_from_db()
    assert statement.delivery_error == "" and statement.sent_at is not None
    assert statement.delivery_attempts == smtp_receiver.refused + 1
    [message] = smtp_receiver.messages
    assert message["To"] == customer.account.billing_email
    assert statement.display_number in pdf_attachment(message)
