"""``manage.py demo_data`` on an empty database: ``--if-empty`` builds, and the demo month's statements get PDFs.

The other demo tests share one build per module (test_demo_data.py); these need the database empty first.
"""

import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from pypdf import PdfReader

from accounts.models import Organization, User
from billing.models import SessionPrice, Statement
from core.timeutil import month_period
from demo.builder import DEMO_LOGINS
from tests.demo.demo_command import run

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("demo_settings")]


def test_if_empty_builds_on_an_empty_database_and_prints_the_logins():
    out = run("--seed", "1", "--if-empty", "--days", "1")
    assert "operator@demo.chargeportal.se" in out and "charging sessions" in out
    assert Organization.objects.filter(slug="laddkraft").exists()


def test_the_demo_month_has_statements_numbered_per_operator_with_pdfs_and_none_emailed(with_pdfs):
    run("--seed", "7", "-v", "0")
    february = month_period(date(2026, 2, 1), "Europe/Stockholm")  # the month before --until 2026-03-02
    statements = Statement.objects.select_related("customer_account", "organization")

    for slug in ("laddkraft", "norrsken"):
        numbers = list(statements.filter(organization__slug=slug).order_by("number").values_list("number", flat=True))
        assert numbers == list(range(1, len(numbers) + 1)) and numbers, slug
    demo_driver = User.objects.get(email=DEMO_LOGINS[2].email).customer_account
    assert statements.filter(customer_account=demo_driver).exists()
    for statement in statements:
        assert (statement.period_start, statement.period_end) == february
        assert statement.kind == Statement.Kind.MONTHLY and statement.status == Statement.Status.ISSUED
        assert statement.issued_at == february[1] + timedelta(minutes=5)
        assert statement.delivery == Statement.Delivery.PENDING and statement.sent_at is None
        with statement.pdf.open("rb") as pdf:
            reader = PdfReader(io.BytesIO(pdf.read()))
        assert statement.display_number in reader.pages[0].extract_text()
        priced = SessionPrice.objects.filter(
            session__customer_account=statement.customer_account, priced_at__gte=february[0], priced_at__lt=february[1]
        )
        assert [s["id"] for s in statement.content["sessions"]] == list(
            priced.order_by("session__started_at", "session_id").values_list("session_id", flat=True)
        )
        totals = {key: Decimal(value) for key, value in statement.content["totals"].items()}
        assert totals["owed_end"] == (
            totals["owed_start"]
            + totals["charges"]
            - totals["credit_notes"]
            - totals["paid"]
            - totals["paid_from_wallet"]
            + totals["refunds"]
        )
    assert any(statement.content["sessions"] for statement in statements)
    assert mail.outbox == []
