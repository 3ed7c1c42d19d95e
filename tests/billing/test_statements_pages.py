"""The driver's statements page and PDF download: their own account's issued statements, nobody else's."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.urls import reverse

from billing.ledger import payment_record
from billing.models import LedgerEntry, SessionPrice, Statement
from billing.services import session_price_freeze, tariff_assignment_create
from billing.statements import statement_create, statement_issue
from core.timeutil import month_period
from tests.factories import make_account, make_driver, make_session, make_tag, make_tariff

pytestmark = pytest.mark.django_db

MARCH = month_period(date(2026, 3, 1), "Europe/Stockholm")
FEBRUARY = month_period(date(2026, 2, 1), "Europe/Stockholm")


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def charge(connector, card, started: datetime, kwh: int):
    session = make_session(connector, card, started_at=started, energy_wh=kwh * 1000, minutes=60)
    session_price_freeze(session=session)
    SessionPrice.objects.filter(session=session).update(priced_at=session.stopped_at)
    LedgerEntry.objects.filter(session=session).update(booked_at=session.stopped_at)
    return session


@pytest.fixture
def statements(world):
    """Alice: March (issued, 2 sessions) and February (still being produced); Bob: March (issued)."""
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"))
    connector = world.cp_a.connectors.get(number=1)
    charge(connector, world.alice_card, datetime(2026, 3, 3, 8, tzinfo=UTC), 10)
    charge(connector, world.alice_card, datetime(2026, 3, 20, 8, tzinfo=UTC), 5)
    charge(connector, world.alice_card, datetime(2026, 2, 10, 8, tzinfo=UTC), 1)
    charge(connector, world.bob_card, datetime(2026, 3, 4, 8, tzinfo=UTC), 7)
    return {
        "alice": statement_issue(customer_account=world.alice.customer_account, start=MARCH[0], end=MARCH[1]),
        "alice_unissued": statement_create(
            customer_account=world.alice.customer_account, start=FEBRUARY[0], end=FEBRUARY[1]
        ),
        "bob": statement_issue(customer_account=world.bob.customer_account, start=MARCH[0], end=MARCH[1]),
    }


def pdf_url(statement: Statement) -> str:
    return reverse("statement_pdf", args=[statement.pk])


def test_the_urls_are_at_the_site_root():
    assert reverse("statements") == "/statements/"
    assert reverse("statement_pdf", args=[7]) == "/statements/7.pdf"


def test_a_driver_sees_their_accounts_issued_statements_only(client, world, statements):
    client.force_login(world.alice)

    response = client.get(reverse("statements"))

    assert response.status_code == 200
    assert [row["statement"] for row in response.context["rows"]] == [statements["alice"]]
    row = response.context["rows"][0]
    assert (row["period"], row["sessions"], row["total"]) == ("March 2026", 2, "60.00 SEK")
    content = response.content.decode()
    assert statements["alice"].display_number in content and "60.00 SEK" in content
    assert pdf_url(statements["alice"]) in content
    assert pdf_url(statements["bob"]) not in content and pdf_url(statements["alice_unissued"]) not in content
    assert 'href="/statements/"' in content  # the menu links here


def test_a_driver_downloads_their_statement_as_a_pdf_attachment(client, world, statements):
    client.force_login(world.alice)

    response = client.get(pdf_url(statements["alice"]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="statement-000001.pdf"'
    assert "private" in response["Cache-Control"]
    assert b"".join(response.streaming_content).startswith(b"%PDF")


def test_alice_never_gets_bobs_pdf_nor_one_not_issued(client, world, statements):
    client.force_login(world.alice)

    assert client.get(pdf_url(statements["bob"])).status_code == 404
    assert client.get(pdf_url(statements["alice_unissued"])).status_code == 404
    assert client.get(reverse("statement_pdf", args=[statements["bob"].pk + 100])).status_code == 404


def test_drivers_of_another_operator_and_staff_get_no_statements(client, world, statements):
    stranger = make_driver(world.org_b, "erin@beta.example")
    make_tag(stranger.customer_account, stranger)
    for user in (stranger, world.carol):
        client.force_login(user)
        page = client.get(reverse("statements"))
        assert page.status_code == 200 and page.context["rows"] == []
        assert client.get(pdf_url(statements["alice"])).status_code == 404


def test_a_login_without_customer_account_is_told_so(client, world):
    client.force_login(world.carol)
    response = client.get(reverse("statements"))
    assert response.status_code == 200 and 'id="no-account"' in response.content.decode()


def test_a_driver_without_statements_is_told_so(client, world):
    client.force_login(world.alice)
    response = client.get(reverse("statements"))
    assert 'id="no-statements"' in response.content.decode()


def test_anonymous_visitors_are_sent_to_log_in(client, statements):
    for url in (reverse("statements"), pdf_url(statements["alice"])):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]


def test_amounts_in_the_customers_favour_and_on_demand_periods_are_shown_as_such(client, world, statements):
    account = make_account(world.org_a, "Credit Customer")
    driver = make_driver(world.org_a, account=account)
    connector = world.cp_a.connectors.get(number=2)
    charge(connector, make_tag(account, driver), datetime(2026, 3, 5, 8, tzinfo=UTC), 2)
    payment_record(
        customer_account=account,
        amount="20.00",
        method="bank",
        reference="x",
        key="over",
        at=datetime(2026, 3, 6, tzinfo=UTC),
    )
    start = MARCH[0] + timedelta(days=4)
    statement_issue(customer_account=account, start=start, end=start + timedelta(days=3), kind=Statement.Kind.ON_DEMAND)
    client.force_login(driver)

    response = client.get(reverse("statements"))

    [row] = response.context["rows"]
    assert row["period"] == "2026-03-05 – 2026-03-07"
    assert row["amount_due"] < 0 and "12.00 SEK in your favour" in response.content.decode()
    assert row["paid"] == "20.00 SEK"
