"""Monthly statements: content, numbering, PDF, email once, immutability."""

import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from pypdf import PdfReader

from billing.ledger import payment_method_set, payment_record, terminal_payment_record, wallet_top_up
from billing.models import LedgerEntry, PaymentAccount, SessionPrice, Statement
from billing.services import credit_note_issue, session_price_freeze, tariff_assignment_create
from billing.statement_content import statement_content
from billing.statements import (
    monthly_statements_due,
    statement_create,
    statement_email_send,
    statement_issue,
    statement_render,
    statement_resend,
)
from core.timeutil import month_period, previous_month
from tests.factories import make_account, make_driver, make_session, make_tag, make_tariff

pytestmark = pytest.mark.django_db

D = Decimal
MARCH = month_period(date(2026, 3, 1), "Europe/Stockholm")
NOW = datetime(2026, 4, 1, 0, 30, tzinfo=UTC)  # 02:30 on 1 April in Stockholm


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def march(world):
    """Alice charged three times in March 2026 (4.00 SEK per kWh incl. 25 % VAT), once in April."""
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"))
    connector = world.cp_a.connectors.get(number=1)
    sessions = []
    for day, kwh in ((2, 10), (15, 5), (31, 20), (32, 1)):
        started = datetime(2026, 3, 1, 8, tzinfo=UTC) + timedelta(days=day - 1)
        session = make_session(connector, world.alice_card, started_at=started, energy_wh=kwh * 1000, minutes=90)
        session_price_freeze(session=session)
        SessionPrice.objects.filter(session=session).update(priced_at=session.stopped_at)
        LedgerEntry.objects.filter(session=session).update(booked_at=session.stopped_at)
        sessions.append(session)
    return sessions


def pdf_text(statement: Statement) -> str:
    with statement.pdf.open("rb") as pdf:
        return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.read())).pages)


def test_periods_are_the_operators_local_months():
    start, end = MARCH
    assert start == datetime(2026, 2, 28, 23, tzinfo=UTC)
    assert end == datetime(2026, 3, 31, 22, tzinfo=UTC)  # summer time began on 29 March
    assert previous_month(NOW, "Europe/Stockholm") == date(2026, 3, 1)
    assert previous_month(datetime(2026, 1, 1, 0, tzinfo=UTC), "Europe/Stockholm") == date(2025, 12, 1)


def test_the_content_lists_the_months_sessions_and_adds_up(world, march):
    content = statement_content(customer_account=world.alice.customer_account, start=MARCH[0], end=MARCH[1])

    assert [s["id"] for s in content["sessions"]] == [s.pk for s in march[:3]]
    totals = content["totals"]
    assert (totals["gross"], totals["net"], totals["vat"]) == ("140.00", "112.00", "28.00")
    assert content["vat"] == [{"rate": "0.2500", "net": "112.00", "vat": "28.00", "gross": "140.00"}]
    assert (totals["owed_start"], totals["charges"], totals["owed_end"]) == ("0.00", "140.00", "140.00")


def test_a_statement_pdf_holds_every_session_and_the_right_totals(world, march):
    statement = statement_issue(customer_account=world.alice.customer_account, start=MARCH[0], end=MARCH[1])

    assert statement.status == Statement.Status.ISSUED and statement.number == 1
    text = pdf_text(statement)
    assert "Statement" in text and "000001" in text and "2026-03-01 – 2026-03-31" in text
    assert world.org_a.name in text and world.alice.customer_account.name in text
    for started in ("2026-03-02", "2026-03-15", "2026-03-31"):
        assert started in text
    assert "2026-04-01" not in text.split("Issued")[1]  # April's session is on April's statement
    assert "140.00 SEK" in text and "112.00 SEK" in text and "28.00 SEK" in text
    assert "Amount due" in text


def test_a_statement_in_swedish_for_a_swedish_customer(world, march):
    world.alice.language = "sv"
    world.alice.save()
    statement = statement_issue(customer_account=world.alice.customer_account, start=MARCH[0], end=MARCH[1])
    text = pdf_text(statement)
    assert statement.language == "sv"
    assert "Laddningar" in text or "laddningar" in text
    assert "140,00 SEK" in text


def test_wallet_credit_notes_and_terminal_payments_appear_with_how_each_was_paid(world, march):
    account = world.alice.customer_account
    payment_method_set(customer_account=account, method=PaymentAccount.Method.WALLET)
    wallet_top_up(
        customer_account=account,
        amount="100.00",
        method=LedgerEntry.Method.BANK,
        reference="BG 1",
        key="t1",
        at=datetime(2026, 3, 20, tzinfo=UTC),
    )
    terminal_payment_record(
        session=march[2], reference="T-000042", amount="80.00", at=datetime(2026, 3, 31, 10, tzinfo=UTC)
    )
    credit_note_issue(session=march[1], net_amount=D("4.00"), reason="Slow charger", user=world.carol)
    statement = statement_issue(customer_account=account, start=MARCH[0], end=MARCH[1])
    text = pdf_text(statement)
    assert "T-000042" in text and "Card at the station" in text and "Prepaid wallet" in text
    assert "BG 1" in text
    assert "Slow charger" not in text or "Credit notes" in text


def test_numbers_run_in_sequence_per_operator_and_a_month_is_built_once(world, march):
    bob_session = make_session(
        world.cp_a.connectors.get(number=2), world.bob_card, started_at=datetime(2026, 3, 10, tzinfo=UTC)
    )
    session_price_freeze(session=bob_session)
    SessionPrice.objects.filter(session=bob_session).update(priced_at=bob_session.stopped_at)
    other_operator = make_account(world.org_b)
    make_driver(world.org_b, account=other_operator)

    first = statement_issue(customer_account=world.alice.customer_account, start=MARCH[0], end=MARCH[1])
    second = statement_issue(customer_account=world.bob.customer_account, start=MARCH[0], end=MARCH[1])
    again = statement_issue(customer_account=world.alice.customer_account, start=MARCH[0], end=MARCH[1])
    elsewhere = statement_issue(customer_account=other_operator, start=MARCH[0], end=MARCH[1])

    assert (first.number, second.number, again.pk, elsewhere.number) == (1, 2, first.pk, 1)
    on_demand = statement_issue(
        customer_account=world.alice.customer_account, start=MARCH[0], end=MARCH[1], kind=Statement.Kind.ON_DEMAND
    )
    assert on_demand.number == 3 and on_demand.pk != first.pk


def test_an_issued_statement_never_changes_and_corrections_go_to_the_next(world, march):
    statement = statement_issue(customer_account=world.alice.customer_account, start=MARCH[0], end=MARCH[1])
    pdf_before = statement.pdf.read()
    credit_note_issue(session=march[0], net_amount=D("8.00"), reason="Meter fault", user=world.carol)

    statement = statement_render(statement=Statement.objects.get(pk=statement.pk))
    statement.pdf.open("rb")
    assert statement.pdf.read() == pdf_before
    assert statement.content["totals"]["owed_end"] == "140.00"
    content = statement_content(
        customer_account=world.alice.customer_account, start=MARCH[1], end=datetime.now(UTC) + timedelta(days=1)
    )  # the next statement, with the note
    assert [note["reason"] for note in content["credit_notes"]] == ["Meter fault"]
    assert content["totals"]["credit_notes"] == "10.00"


def test_the_monthly_job_finds_each_account_once_and_again_only_if_not_issued(world, march):
    due = monthly_statements_due(now=NOW)
    assert due == [(world.alice.customer_account.pk, *MARCH)]

    half = statement_create(customer_account=world.alice.customer_account, start=MARCH[0], end=MARCH[1])
    assert monthly_statements_due(now=NOW) == due  # created, not issued: a worker died; due again
    statement_render(statement=half)
    assert monthly_statements_due(now=NOW) == []


def test_a_statement_is_emailed_once_with_its_pdf(world, march):
    statement = statement_issue(customer_account=world.alice.customer_account, start=MARCH[0], end=MARCH[1])

    assert statement_email_send(statement_id=statement.pk) == "sent"
    assert statement_email_send(statement_id=statement.pk) == "not due"

    [message] = mail.outbox
    assert message.to == [world.alice.customer_account.billing_email]
    assert "000001" in message.subject
    [(filename, content, mimetype)] = message.attachments
    assert mimetype == "application/pdf" and content.startswith(b"%PDF") and "000001" in filename
    statement.refresh_from_db()
    assert statement.delivery == Statement.Delivery.SENT and statement.delivery_attempts == 1

    assert statement_resend(statement=statement)
    assert statement_email_send(statement_id=statement.pk) == "sent"
    assert len(mail.outbox) == 2


def test_a_failed_email_is_recorded_and_can_be_retried(world, march, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # nothing listens there
    settings.EMAIL_USE_TLS = False
    statement = statement_issue(customer_account=world.alice.customer_account, start=MARCH[0], end=MARCH[1])

    with pytest.raises(OSError):
        statement_email_send(statement_id=statement.pk)

    statement.refresh_from_db()
    assert statement.delivery == Statement.Delivery.FAILED and statement.delivery_attempts == 1
    assert "Error" in statement.delivery_error
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert statement_email_send(statement_id=statement.pk) == "sent"


def test_a_period_must_have_an_end_after_its_start(world):
    with pytest.raises(ValidationError):
        statement_create(customer_account=world.alice.customer_account, start=MARCH[1], end=MARCH[0])


def test_customers_without_activity_get_no_statement(world, march):
    quiet = make_account(world.org_a, "Quiet")
    make_tag(quiet)
    assert quiet.pk not in {account for account, _s, _e in monthly_statements_due(now=NOW)}
    payment_record(
        customer_account=world.alice.customer_account,
        amount="10.00",
        method="bank",
        reference="x",
        key="k",
        at=datetime(2026, 3, 5, tzinfo=UTC),
    )
    assert len(monthly_statements_due(now=NOW)) == 1
