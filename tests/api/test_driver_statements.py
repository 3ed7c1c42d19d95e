"""The driver's statements from the app: their account's issued statements and each PDF; nobody else's."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from billing.models import LedgerEntry, SessionPrice, Statement
from billing.services import session_price_freeze, tariff_assignment_create
from billing.statements import statement_create, statement_issue
from core.timeutil import month_period
from tests.factories import make_session, make_tariff

pytestmark = pytest.mark.django_db

MARCH = month_period(date(2026, 3, 1), "Europe/Stockholm")
FEBRUARY = month_period(date(2026, 2, 1), "Europe/Stockholm")
APRIL = month_period(date(2026, 4, 1), "Europe/Stockholm")


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def charge(connector, card, started: datetime, kwh: int):
    session = make_session(connector, card, started_at=started, energy_wh=kwh * 1000, minutes=60)
    session_price_freeze(session=session)
    SessionPrice.objects.filter(session=session).update(priced_at=session.stopped_at)
    LedgerEntry.objects.filter(session=session).update(booked_at=session.stopped_at)


@pytest.fixture
def statements(world):
    """Alice: March and April (issued), February (still being produced); Bob: March (issued)."""
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"))
    connector = world.cp_a.connectors.get(number=1)
    charge(connector, world.alice_card, datetime(2026, 3, 3, 8, tzinfo=UTC), 10)
    charge(connector, world.alice_card, datetime(2026, 3, 20, 8, tzinfo=UTC), 5)
    charge(connector, world.bob_card, datetime(2026, 3, 4, 8, tzinfo=UTC), 7)
    alice = world.alice.customer_account
    return {
        "march": statement_issue(customer_account=alice, start=MARCH[0], end=MARCH[1]),
        "april": statement_issue(customer_account=alice, start=APRIL[0], end=APRIL[1]),
        "february": statement_create(customer_account=alice, start=FEBRUARY[0], end=FEBRUARY[1]),
        "bob": statement_issue(customer_account=world.bob.customer_account, start=MARCH[0], end=MARCH[1]),
    }


def as_driver(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


def test_a_driver_lists_their_accounts_issued_statements_newest_first(world, statements):
    body = as_driver(world.alice).get(reverse("api:statement_list")).json()
    assert body["count"] == 2
    april, march = body["results"]
    assert april["id"] == statements["april"].pk and march["id"] == statements["march"].pk
    assert march["number"] == statements["march"].display_number and march["kind"] == "monthly"
    assert march["first_day"] == "2026-03-01" and march["last_day"] == "2026-03-31"
    assert march["period"] == "March 2026" and march["time_zone"] == "Europe/Stockholm"
    assert march["sessions"] == 2 and march["gross_total"] == "60.00" and march["currency"] == "SEK"
    assert Decimal(march["amount_due"]) == statements["march"].amount_due
    assert march["pdf_url"] == reverse("api:statement_pdf", args=[statements["march"].pk])


def test_statements_are_ordered_and_filtered(world, statements):
    api = as_driver(world.alice)
    oldest_first = api.get(reverse("api:statement_list"), {"ordering": "period_start"}).json()["results"]
    assert [s["id"] for s in oldest_first] == [statements["march"].pk, statements["april"].pk]
    assert api.get(reverse("api:statement_list"), {"kind": "on_demand"}).json()["count"] == 0
    assert api.get(reverse("api:statement_list"), {"kind": "monthly", "page_size": 1}).json()["next"]


def test_a_driver_downloads_their_statement_pdf(world, statements):
    response = as_driver(world.alice).get(reverse("api:statement_pdf", args=[statements["march"].pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert (
        "attachment" in response["Content-Disposition"]
        and statements["march"].display_number in response["Content-Disposition"]
    )
    assert b"".join(response.streaming_content).startswith(b"%PDF")
    assert response["Cache-Control"] == "private, no-store"
    asked_for_pdf = as_driver(world.alice).get(
        reverse("api:statement_pdf", args=[statements["march"].pk]), HTTP_ACCEPT="application/pdf"
    )
    assert asked_for_pdf.status_code == 200


def test_nobody_gets_another_accounts_pdf_nor_one_not_issued(world, statements):
    api = as_driver(world.alice)
    for statement in (statements["bob"], statements["february"]):
        response = api.get(reverse("api:statement_pdf", args=[statement.pk]), HTTP_ACCEPT="application/pdf")
        assert response.status_code == 404 and response["Content-Type"] == "application/json"
        assert response.json()["error"]["code"] == "not_found"
    assert [s["id"] for s in as_driver(world.bob).get(reverse("api:statement_list")).json()["results"]] == [
        statements["bob"].pk
    ]


def test_a_statement_whose_file_is_missing_is_not_found(world, statements):
    Statement.objects.filter(pk=statements["march"].pk).update(pdf="statements/gone.pdf")
    assert as_driver(world.alice).get(reverse("api:statement_pdf", args=[statements["march"].pk])).status_code == 404
