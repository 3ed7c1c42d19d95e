"""A partner's monthly settlement is its customer account's monthly statement: found by the monthly job, titled
"Settlement", each session listed as the CDR it was sent (CDR id, session, start, EVSE, kWh, net, VAT, total) with
the totals, as PDF and CSV, emailed to the partner's settlement address with both attached."""

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse
from pypdf import PdfReader

from billing.models import LedgerEntry, SessionPrice, Statement
from billing.services import session_price_freeze, tariff_assignment_create
from billing.statement_content import statement_content
from billing.statements import monthly_statements_due, statement_email_send, statement_issue
from core.timeutil import month_period
from roaming.cdrs import cdr_make
from roaming.models import RoamingSession
from tests.factories import make_session, make_tariff

pytestmark = pytest.mark.django_db

D = Decimal
NOVEMBER = month_period(date(2026, 11, 1), "Europe/Stockholm")
NOW = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)  # 01:30 on 1 December in Stockholm


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def priced_in_november(world, card, *, day: int, energy_wh: int, connector: int = 1):
    """A session on ``day`` November, priced and charged when it stopped."""
    session = make_session(
        world.cp_a.connectors.get(number=connector),
        card,
        started_at=datetime(2026, 11, day, 9, tzinfo=UTC),
        energy_wh=energy_wh,
    )
    session_price_freeze(session=session)
    SessionPrice.objects.filter(session=session).update(priced_at=session.stopped_at)
    LedgerEntry.objects.filter(session=session).update(booked_at=session.stopped_at)
    return session


@pytest.fixture
def november(world, partner, roaming_token, roaming_tariff, emsp):
    """The partner's drivers charged twice in November (10 kWh and 4 kWh, 1 h each: 110.00 and 80.00 at its tariff of
    5.00/kWh + 60.00/h incl. 25 % VAT), each sent as a CDR; Alice (4.00/kWh for everyone) once."""
    tariff_assignment_create(tariff=make_tariff(world.org_a, "Everyone", energy="4.00"))
    sessions = []
    for day, energy_wh, connector in ((3, 10_000, 1), (20, 4_000, 2)):
        session = priced_in_november(world, roaming_token.id_tag, day=day, energy_wh=energy_wh, connector=connector)
        cdr_make(roaming=RoamingSession.objects.create(session=session, partner=partner, token=roaming_token))
        sessions.append(session)
    priced_in_november(world, world.alice_card, day=5, energy_wh=10_000)
    return sessions


def pdf_text(statement: Statement) -> str:
    with statement.pdf.open("rb") as pdf:
        return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.read())).pages)


def test_the_settlement_lists_each_session_with_its_cdr_and_evse(world, partner, november):
    content = statement_content(customer_account=partner.customer_account, start=NOVEMBER[0], end=NOVEMBER[1])

    assert [(s["id"], s["cdr_id"], s["evse_id"], s["gross"]) for s in content["sessions"]] == [
        (november[0].pk, f"CDR{november[0].pk}", "SE*CPO*EALPHA*1*1", "110.00"),
        (november[1].pk, f"CDR{november[1].pk}", "SE*CPO*EALPHA*1*2", "80.00"),
    ]
    totals = content["totals"]
    assert (totals["net"], totals["vat"], totals["gross"], totals["energy_wh"]) == ("152.00", "38.00", "190.00", 14_000)
    assert totals["owed_end"] == "190.00"  # charged to the partner's account like any customer's


def test_a_local_customers_statement_has_no_cdr_columns(world, november):
    content = statement_content(customer_account=world.alice.customer_account, start=NOVEMBER[0], end=NOVEMBER[1])

    [session] = content["sessions"]
    assert "cdr_id" not in session and content["customer"]["kind"] != "roaming"


def test_a_session_sent_as_no_cdr_is_on_the_settlement_without_a_cdr_id(world, partner, roaming_token, november):
    unsent = priced_in_november(world, roaming_token.id_tag, day=25, energy_wh=1_000)

    content = statement_content(customer_account=partner.customer_account, start=NOVEMBER[0], end=NOVEMBER[1])

    assert [(s["id"], s["cdr_id"], s["evse_id"]) for s in content["sessions"]][-1] == (unsent.pk, "", "")


def test_the_monthly_job_makes_the_partners_settlement_as_a_pdf_titled_so(world, partner, november):
    assert (partner.customer_account_id, *NOVEMBER) in monthly_statements_due(now=NOW)

    statement = statement_issue(customer_account=partner.customer_account, start=NOVEMBER[0], end=NOVEMBER[1])

    text = pdf_text(statement)
    assert "Settlement" in text and "Charge detail records" in text and "Statement" not in text
    assert statement.email_to == partner.customer_account.billing_email
    for session, evse in zip(november, ("SE*CPO*EALPHA*1*1", "SE*CPO*EALPHA*1*2"), strict=True):
        line = next(line for line in text.splitlines() if f"CDR{session.pk}" in line)
        assert f"#{session.pk}" in line and evse in line
    assert "110.00 SEK" in text and "80.00 SEK" in text
    assert "152.00 SEK" in text and "38.00 SEK" in text and "190.00 SEK" in text


def _csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _check_settlement_csv(rows: list[list[str]], november) -> None:
    header, *lines, total = rows
    assert header == [
        "What",
        "CDR",
        "Session",
        "Start",
        "End",
        "EVSE",
        "Energy (kWh)",
        "Currency",
        "Net",
        "VAT %",
        "VAT",
        "Gross",
    ]
    assert [(line[1], line[2], line[3], line[5], line[6], line[8], line[10], line[11]) for line in lines] == [
        (
            f"CDR{november[0].pk}",
            str(november[0].pk),
            "2026-11-03T10:00:00+01:00",
            "SE*CPO*EALPHA*1*1",
            "10.000",
            "88.00",
            "22.00",
            "110.00",
        ),
        (
            f"CDR{november[1].pk}",
            str(november[1].pk),
            "2026-11-20T10:00:00+01:00",
            "SE*CPO*EALPHA*1*2",
            "4.000",
            "64.00",
            "16.00",
            "80.00",
        ),
    ]
    assert total[0] == "Total" and (total[6], total[8], total[10], total[11]) == ("14.000", "152.00", "38.00", "190.00")
    assert sum(D(line[11]) for line in lines) == D(total[11])


def test_the_settlement_is_emailed_to_the_partners_settlement_address_with_its_pdf_and_csv(world, partner, november):
    statement = statement_issue(customer_account=partner.customer_account, start=NOVEMBER[0], end=NOVEMBER[1])

    assert statement_email_send(statement_id=statement.pk) == "sent"

    [message] = mail.outbox
    assert message.to == [partner.customer_account.billing_email]
    assert "roaming settlement 000001" in message.subject and "charge detail record" in message.body
    [(pdf_name, pdf, pdf_type), (csv_name, csv_text, csv_type)] = message.attachments
    assert (pdf_name, pdf_type, pdf[:4]) == ("settlement-000001.pdf", "application/pdf", b"%PDF")
    assert (csv_name, csv_type) == ("settlement-000001.csv", "text/csv")
    _check_settlement_csv(_csv(csv_text), november)


def test_staff_download_the_settlement_as_csv_and_pdf_and_another_operators_staff_cannot(
    client, world, partner, november
):
    statement = statement_issue(customer_account=partner.customer_account, start=NOVEMBER[0], end=NOVEMBER[1])
    client.force_login(world.carol)

    listed = client.get(reverse("admin:billing_statement_changelist")).content.decode()
    response = client.get(reverse("admin:billing_statement_csv", args=[statement.pk]))
    pdf = client.get(reverse("admin:billing_statement_pdf", args=[statement.pk]))

    assert reverse("admin:billing_statement_csv", args=[statement.pk]) in listed
    assert response["Content-Disposition"] == 'attachment; filename="settlement-000001.csv"'
    _check_settlement_csv(_csv(response.content.decode()), november)
    assert 'filename="settlement-000001.pdf"' in pdf["Content-Disposition"]
    client.force_login(world.dave)
    assert client.get(reverse("admin:billing_statement_csv", args=[statement.pk])).status_code == 404


def test_a_local_customers_statement_downloads_as_csv_without_cdr_column(client, world, november):
    statement = statement_issue(customer_account=world.alice.customer_account, start=NOVEMBER[0], end=NOVEMBER[1])
    client.force_login(world.carol)

    response = client.get(reverse("admin:billing_statement_csv", args=[statement.pk]))

    header, line, total = _csv(response.content.decode())
    assert response["Content-Disposition"] == 'attachment; filename="statement-000001.csv"'
    assert "CDR" not in header and header[4] == "Station"
    assert (line[0], line[1], line[10]) == ("Charging session", str(statement.content["sessions"][0]["id"]), "40.00")
    assert total[10] == "40.00"
    text = pdf_text(statement)
    assert "Statement" in text and "Charging sessions" in text and "Settlement" not in text
