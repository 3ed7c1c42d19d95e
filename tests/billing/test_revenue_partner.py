"""Revenue per roaming partner: a partner is a customer account of kind "roaming", its drivers' sessions priced with
its roaming tariff are its row (sessions, energy, net, VAT, gross); everyone else's share the "Not roaming" row; on the
admin page, its CSV and the operator API alike."""

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.revenue import revenue_report
from billing.services import session_price_freeze, tariff_assignment_create
from tests.factories import make_partner, make_session, make_tag, make_tariff

pytestmark = pytest.mark.django_db

START = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2026, 12, 1, tzinfo=UTC)
D = Decimal


def priced(connector, card, *, day: int, energy_wh: int):
    session = make_session(connector, card, started_at=datetime(2026, 11, day, 10, tzinfo=UTC), energy_wh=energy_wh)
    assert session_price_freeze(session=session) is not None
    return session


@pytest.fixture
def partners(world):
    """Alpha's tariff for everyone (4.00/kWh); two partners, one with its own roaming tariff (5.00/kWh), both
    incl. 25 % VAT; operator B's partner charging at B."""
    tariff_assignment_create(tariff=make_tariff(world.org_a, "Everyone", energy="4.00"))
    roam, hub = make_partner(world.org_a, "Roam eMSP"), make_partner(world.org_a, "Hub Nordic", party_id="HUB")
    tariff_assignment_create(
        tariff=make_tariff(world.org_a, "Roaming", energy="5.00"), customer_group=roam.customer_group
    )
    c1, c2 = world.cp_a.connectors.order_by("number")
    roam_card, hub_card = make_tag(roam.customer_account), make_tag(hub.customer_account)
    priced(c1, roam_card, day=2, energy_wh=10_000)  # 50.00
    priced(c2, roam_card, day=3, energy_wh=4_000)  # 20.00
    priced(c1, hub_card, day=4, energy_wh=5_000)  # 20.00
    priced(c2, world.alice_card, day=5, energy_wh=10_000)  # 40.00
    make_session(c1, roam_card, started_at=datetime(2026, 11, 6, tzinfo=UTC), energy_wh=None)  # charging: not revenue

    tariff_assignment_create(tariff=make_tariff(world.org_b, "B", energy="3.00"))
    b_partner = make_partner(world.org_b, "Beta Roam")
    priced(world.cp_b.connectors.get(number=1), make_tag(b_partner.customer_account), day=2, energy_wh=10_000)
    return roam, hub


def test_each_partner_is_a_row_with_its_sessions_energy_and_money_and_the_rest_is_not_roaming(world, partners):
    roam, hub = partners

    report = revenue_report(organization=world.org_a, start=START, end=END, group_by="roaming_partner")

    rows = [(row.key, row.label, row.sessions, row.energy_kwh, row.net, row.vat, row.gross) for row in report.rows]
    assert rows == [
        (hub.customer_account_id, "Hub Nordic", 1, D("5.000"), D("16.00"), D("4.00"), D("20.00")),
        (roam.customer_account_id, "Roam eMSP", 2, D("14.000"), D("56.00"), D("14.00"), D("70.00")),
        (None, "Not roaming", 1, D("10.000"), D("32.00"), D("8.00"), D("40.00")),
    ]
    [total] = report.totals
    assert (total.sessions, total.gross) == (4, D("130.00"))
    assert sum(row.gross for row in report.rows) == total.gross
    assert report.rows[1].outstanding == D("70.00")  # charged to the partner's account, not paid yet


def test_another_operators_partner_is_never_in_the_report(world, partners):
    report_a = revenue_report(organization=world.org_a, start=START, end=END, group_by="roaming_partner")
    report_b = revenue_report(organization=world.org_b, start=START, end=END, group_by="roaming_partner")

    assert "Beta Roam" not in {row.label for row in report_a.rows}
    assert [(row.label, row.gross) for row in report_b.rows] == [("Beta Roam", D("30.00"))]


def test_the_revenue_page_offers_the_grouping_and_its_csv_has_a_row_per_partner(client, world, partners):
    client.force_login(world.carol)
    params = {"period": "custom", "start": "2026-11-01", "end": "2026-11-30", "group_by": "roaming_partner"}

    page = client.get(reverse("admin:billing_revenue"), params)
    response = client.get(reverse("admin:billing_revenue"), {**params, "format": "csv"})

    assert page.status_code == 200 and "Roaming partner" in page.content.decode()
    header, *body = list(csv.reader(io.StringIO(response.content.decode())))
    by_group = {row[0]: row for row in body}
    assert header[:7] == ["Group", "Currency", "Sessions", "Energy (kWh)", "Net", "VAT", "Gross"]
    assert by_group["Roam eMSP"][1:7] == ["SEK", "2", "14.000", "56.00", "14.00", "70.00"]
    assert by_group["Hub Nordic"][6] == "20.00" and by_group["Not roaming"][6] == "40.00"
    assert by_group["Total"][6] == "130.00"
    assert "Beta Roam" not in by_group


def test_the_operator_api_groups_by_roaming_partner_too(carol_api, world, partners):
    response = carol_api.get(
        reverse("api:operator_revenue"),
        {"period": "custom", "start": "2026-11-01", "end": "2026-11-30", "group_by": "roaming_partner"},
    )

    assert response.status_code == 200, response.content
    assert [(row["label"], row["gross"]) for row in response.json()["rows"]] == [
        ("Hub Nordic", "20.00"),
        ("Roam eMSP", "70.00"),
        ("Not roaming", "40.00"),
    ]
