"""Revenue report: per group with totals, local-time days, credit notes as refunds, CSV, isolation."""

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.ledger import credit_note_book, payment_record, session_charge_book, terminal_payment_record
from billing.models import CreditNote, CustomerGroup, CustomerGroupMembership, SessionPrice
from billing.revenue import revenue_report
from tests.factories import make_charge_point, make_session, make_site, make_tariff

START = datetime(2026, 3, 1, tzinfo=UTC)
END = datetime(2026, 4, 1, tzinfo=UTC)


def price(session, gross: str, tariff=None) -> SessionPrice:
    gross_total = Decimal(gross)
    net = (gross_total / Decimal("1.25")).quantize(Decimal("0.01"))
    frozen = SessionPrice.objects.create(
        session=session,
        tariff=tariff,
        tariff_snapshot={},
        breakdown=[],
        currency="SEK",
        energy_wh=session.energy_wh,
        net_total=net,
        vat_rate=Decimal("0.2500"),
        vat_amount=gross_total - net,
        gross_total=gross_total,
    )
    session_charge_book(price=frozen)
    return frozen


def credit(session, gross: str) -> CreditNote:
    gross_amount = Decimal(gross)
    net = (gross_amount / Decimal("1.25")).quantize(Decimal("0.01"))
    note = CreditNote.objects.create(
        session=session,
        currency="SEK",
        net_amount=net,
        vat_rate=Decimal("0.2500"),
        vat_amount=gross_amount - net,
        gross_amount=gross_amount,
        reason="test",
    )
    credit_note_book(credit_note=note)
    return note


def priced_session(connector, card, at, energy_wh, gross, tariff=None):
    session = make_session(connector, card, started_at=at, energy_wh=energy_wh)
    price(session, gross, tariff)
    return session


@pytest.fixture
def data(world):
    """Org A: two sites; org B: one session that A must never see."""
    site_a2 = make_site(world.org_a, "Alpha Harbour")
    cp_a2 = make_charge_point(site_a2, "ALPHA-2")
    c1, c2 = world.cp_a.connectors.order_by("number")
    c3 = cp_a2.connectors.get(number=1)
    cheap, dear = make_tariff(world.org_a, "Cheap"), make_tariff(world.org_a, "Dear")
    s1 = priced_session(c1, world.alice_card, datetime(2026, 3, 2, 10, tzinfo=UTC), 10_000, "40.00", cheap)
    s2 = priced_session(c2, world.bob_card, datetime(2026, 3, 3, 10, tzinfo=UTC), 20_000, "100.00", dear)
    s3 = priced_session(c3, world.alice_card, datetime(2026, 3, 4, 10, tzinfo=UTC), 5_000, "25.00", dear)
    credit(s2, "20.00")
    # Outside the period, and unpriced: neither counts.
    priced_session(c1, world.alice_card, datetime(2026, 2, 27, 10, tzinfo=UTC), 7_000, "28.00", cheap)
    make_session(c1, world.alice_card, started_at=datetime(2026, 3, 5, 10, tzinfo=UTC), energy_wh=3_000)
    cb = world.cp_b.connectors.get(number=1)
    b_session = priced_session(cb, None, datetime(2026, 3, 2, 12, tzinfo=UTC), 50_000, "500.00")
    return {
        "site_a2": site_a2,
        "cp_a2": cp_a2,
        "s1": s1,
        "s2": s2,
        "s3": s3,
        "cheap": cheap,
        "dear": dear,
        "b_session": b_session,
    }


def test_revenue_per_site_with_totals_and_refunds(world, data):
    report = revenue_report(
        organization=world.org_a, start=START, end=END, group_by="site", time_zone="Europe/Stockholm"
    )
    rows = {row.label: row for row in report.rows}
    assert set(rows) == {"Alpha Depot", "Alpha Harbour"}
    depot = rows["Alpha Depot"]
    assert depot.sessions == 2
    assert depot.energy_kwh == Decimal("30.000")
    assert depot.gross == Decimal("140.00")
    assert depot.net == Decimal("112.00")
    assert depot.vat == Decimal("28.00")
    assert depot.refund_gross == Decimal("20.00")
    assert depot.refund_net == Decimal("16.00")
    assert depot.outstanding == Decimal("120.00")
    assert depot.gross_per_kwh == Decimal("4.6667")
    [total] = report.totals
    assert total.sessions == 3
    assert total.energy_kwh == Decimal("35.000")
    assert total.gross == Decimal("165.00")
    assert total.net + total.vat == total.gross
    assert total.refund_gross == Decimal("20.00")
    assert total.outstanding == Decimal("145.00")
    assert sum(row.gross for row in report.rows) == total.gross


def test_outstanding_is_what_the_sessions_still_owe_after_every_kind_of_payment(world, data):
    terminal_payment_record(session=data["s1"], reference="T-1", amount="40.00")  # s1 paid on site
    # Bob pays 50 of s2's 80 by bank; alice's s3 (25) stays unpaid.
    payment_record(
        customer_account=world.bob.customer_account, amount="50.00", method="bank", reference="OCR", key="bank:1"
    )

    report = revenue_report(organization=world.org_a, start=START, end=END, group_by="site")
    rows = {row.label: row.outstanding for row in report.rows}
    assert rows == {"Alpha Depot": Decimal("30.00"), "Alpha Harbour": Decimal("25.00")}
    assert report.totals[0].outstanding == Decimal("55.00")

    # An overpaid session owes nothing; it never makes another session's debt smaller.
    terminal_payment_record(session=data["s3"], reference="T-2", amount="30.00")
    report = revenue_report(organization=world.org_a, start=START, end=END, group_by="site")
    assert report.totals[0].outstanding == Decimal("30.00")


@pytest.mark.parametrize(
    ("group_by", "expected"),
    [
        ("tariff", {"Cheap": Decimal("40.00"), "Dear": Decimal("125.00")}),
        ("charge_point", {"ALPHA-1": Decimal("140.00"), "ALPHA-2": Decimal("25.00")}),
        (
            "connector",
            {"ALPHA-1 #1": Decimal("40.00"), "ALPHA-1 #2": Decimal("100.00"), "ALPHA-2 #1": Decimal("25.00")},
        ),
    ],
)
def test_revenue_per_group(world, data, group_by, expected):
    report = revenue_report(organization=world.org_a, start=START, end=END, group_by=group_by)
    assert {row.label: row.gross for row in report.rows} == expected
    assert report.totals[0].gross == sum(expected.values())


def test_revenue_per_customer_group_has_a_row_for_customers_in_none(world, data):
    fleet = CustomerGroup.objects.create(organization=world.org_a, name="Fleet")
    CustomerGroupMembership.objects.create(customer_group=fleet, customer_account=world.bob.customer_account)
    report = revenue_report(organization=world.org_a, start=START, end=END, group_by="customer_group")
    by_label = {row.label: row for row in report.rows}
    assert by_label["Fleet"].gross == Decimal("100.00")
    assert by_label["Fleet"].refund_gross == Decimal("20.00")
    assert by_label["(none)"].gross == Decimal("65.00")
    assert report.rows[-1].key is None


def test_days_are_cut_at_stockholm_midnight_not_utc(world):
    connector = world.cp_a.connectors.get(number=1)
    # 23:30 UTC on 9 March is 00:30 on 10 March in Stockholm (UTC+1); 22:30 UTC is still the 9th.
    priced_session(connector, world.alice_card, datetime(2026, 3, 9, 22, 30, tzinfo=UTC), 1_000, "4.00")
    priced_session(connector, world.alice_card, datetime(2026, 3, 9, 23, 30, tzinfo=UTC), 2_000, "8.00")
    priced_session(connector, world.alice_card, datetime(2026, 3, 10, 12, 0, tzinfo=UTC), 3_000, "12.00")
    report = revenue_report(
        organization=world.org_a, start=START, end=END, group_by="day", time_zone="Europe/Stockholm"
    )
    assert [(row.key, row.sessions, row.gross) for row in report.rows] == [
        (date(2026, 3, 9), 1, Decimal("4.00")),
        (date(2026, 3, 10), 2, Decimal("20.00")),
    ]
    utc = revenue_report(organization=world.org_a, start=START, end=END, group_by="day", time_zone="UTC")
    assert [row.sessions for row in utc.rows] == [2, 1]


def test_weeks_and_months_are_labelled(world, data):
    connector = world.cp_a.connectors.get(number=1)
    # Sunday 1 March, 12:00 in Stockholm: the ISO week before Monday 2 March's.
    priced_session(connector, world.alice_card, datetime(2026, 3, 1, 11, tzinfo=UTC), 1_000, "4.00")
    weeks = revenue_report(organization=world.org_a, start=START, end=END, group_by="week")
    assert [(row.label, row.key, row.sessions) for row in weeks.rows] == [
        ("2026-W09", date(2026, 2, 23), 1),
        ("2026-W10", date(2026, 3, 2), 3),
    ]
    months = revenue_report(organization=world.org_a, start=START, end=END, group_by="month")
    assert [(row.label, row.sessions) for row in months.rows] == [("2026-03", 4)]


def test_organization_b_numbers_never_in_a_report(world, data):
    report_a = revenue_report(organization=world.org_a, start=START, end=END, group_by="site")
    report_b = revenue_report(organization=world.org_b, start=START, end=END, group_by="site")
    assert "Beta Mall" not in {row.label for row in report_a.rows}
    assert [(row.label, row.gross) for row in report_b.rows] == [("Beta Mall", Decimal("500.00"))]
    assert report_b.totals[0].gross == Decimal("500.00")


def test_unknown_group_by_is_refused(world):
    with pytest.raises(ValueError):
        revenue_report(organization=world.org_a, start=START, end=END, group_by="driver")


# The admin page.

URL_PARAMS = {"period": "custom", "start": "2026-03-01", "end": "2026-03-31", "group_by": "site"}


def _csv(response) -> list[list[str]]:
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_csv_export_round_trips(client, world, data):
    client.force_login(world.carol)
    page = client.get(reverse("admin:billing_revenue"), URL_PARAMS)
    assert page.status_code == 200
    rows = _csv(client.get(reverse("admin:billing_revenue"), {**URL_PARAMS, "format": "csv"}))
    header, body = rows[0], rows[1:]
    assert header[0] == "Group" and header[6] == "Gross"
    parsed = {row[0]: row for row in body}
    report = page.context["report"]
    for row in [*report.rows, *report.totals]:
        line = parsed[row.label]
        assert int(line[2]) == row.sessions
        assert Decimal(line[3]) == row.energy_kwh
        assert [Decimal(cell) for cell in line[4:11]] == [
            row.net,
            row.vat,
            row.gross,
            row.refund_net,
            row.refund_vat,
            row.refund_gross,
            row.outstanding,
        ]
    assert Decimal(parsed["Total"][6]) == Decimal("165.00")


def test_carol_sees_only_her_organization_even_when_asking_for_b(client, world, data):
    client.force_login(world.carol)
    response = client.get(
        reverse("admin:billing_revenue"), {**URL_PARAMS, "organization": world.org_b.pk, "format": "csv"}
    )
    labels = [row[0] for row in _csv(response)[1:]]
    assert "Beta Mall" not in labels and "Alpha Depot" in labels
    page = client.get(reverse("admin:billing_revenue"), {**URL_PARAMS, "organization": world.org_b.pk})
    assert b"Beta Mall" not in page.content and b"500.00" not in page.content


def test_dave_sees_only_his_organization(client, world, data):
    client.force_login(world.dave)
    response = client.get(
        reverse("admin:billing_revenue"), {**URL_PARAMS, "organization": world.org_a.pk, "format": "csv"}
    )
    body = _csv(response)[1:]
    assert [row[0] for row in body] == ["Beta Mall", "Total"]
    assert "Alpha Depot" not in response.content.decode()


def test_superuser_chooses_the_organization(client, world, data):
    client.force_login(world.admin)
    nothing = client.get(reverse("admin:billing_revenue"), URL_PARAMS)
    assert nothing.status_code == 200 and nothing.context["report"] is None
    a = _csv(
        client.get(reverse("admin:billing_revenue"), {**URL_PARAMS, "organization": world.org_a.pk, "format": "csv"})
    )
    b = _csv(
        client.get(reverse("admin:billing_revenue"), {**URL_PARAMS, "organization": world.org_b.pk, "format": "csv"})
    )
    assert {row[0] for row in a[1:]} == {"Alpha Depot", "Alpha Harbour", "Total"}
    assert {row[0] for row in b[1:]} == {"Beta Mall", "Total"}


def test_drivers_and_anonymous_get_no_report(client, world, data):
    anonymous = client.get(reverse("admin:billing_revenue"), URL_PARAMS)
    assert anonymous.status_code == 302
    client.force_login(world.alice)
    assert client.get(reverse("admin:billing_revenue"), URL_PARAMS).status_code == 302


def test_period_presets_pick_the_local_month(client, world, data):
    client.force_login(world.carol)
    page = client.get(reverse("admin:billing_revenue"), {"period": "month", "day": "2026-03-15", "group_by": "day"})
    assert page.context["first"] == date(2026, 3, 1) and page.context["last"] == date(2026, 3, 31)
    assert page.context["report"].totals[0].sessions == 3
    week = client.get(reverse("admin:billing_revenue"), {"period": "week", "day": "2026-03-04", "group_by": "site"})
    assert week.context["first"] == date(2026, 3, 2) and week.context["last"] == date(2026, 3, 8)


def test_billing_app_index_links_the_reports(client, world):
    client.force_login(world.carol)
    page = client.get(reverse("admin:app_list", kwargs={"app_label": "billing"}))
    assert reverse("admin:billing_revenue").encode() in page.content
    assert reverse("admin:billing_reconciliation").encode() in page.content
