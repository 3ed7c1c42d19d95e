"""The driver's charging history: figures on hand-built sessions, filters, pages, exports and isolation."""

import csv
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from pypdf import PdfReader

from billing.ledger import payment_method_set, payment_record, terminal_payment_record, wallet_top_up
from billing.models import LedgerEntry, PaymentAccount
from billing.services import credit_note_issue, session_price_freeze, tariff_assignment_create
from reporting import history
from reporting.history import HistoryFilters
from reporting.history_views import CSV_COLUMNS, csv_values
from sessions_app.models import ChargingSession, MeterValue
from tests.factories import make_charge_point, make_session, make_site, make_tag, make_tariff

NOW = datetime(2024, 4, 20, 12, 0, tzinfo=UTC)


def _at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _rows(user, filters=None, now=NOW):
    return history.history_rows(history.history_queryset(user=user, filters=filters or HistoryFilters()), now=now)


@pytest.fixture
def priced(world):
    """Energy at 4.00 SEK/kWh incl. 25 % VAT at operator A; ``priced(session)`` freezes a session's price."""
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"))
    return lambda session: session_price_freeze(session=session)


def _login(client, user):
    client.force_login(user)
    return client


# --- Figures ------------------------------------------------------------------------------------------


def test_times_are_shown_on_the_site_clock_across_the_spring_daylight_saving_change(client, world):
    # Stockholm: 2024-03-31 02:00 CET became 03:00 CEST (01:00 UTC).
    connector = world.cp_a.connectors.first()
    session = make_session(connector, world.alice_card, started_at=_at(2024, 3, 31, 0, 30), minutes=60, energy_wh=6_000)

    (row,) = _rows(world.alice)

    assert row.started_at.isoformat() == "2024-03-31T01:30:00+01:00"
    assert row.stopped_at.isoformat() == "2024-03-31T03:30:00+02:00"
    assert row.duration == timedelta(hours=1) and row.average_power_kw == Decimal("6.00")
    assert row.time_zone == "Europe/Stockholm"
    page = _login(client, world.alice).get(reverse("history"))
    table = page.content.decode()
    assert f'data-session="{session.pk}"' in table
    assert 'datetime="2024-03-31T01:30:00+01:00">01:30<' in table
    assert 'datetime="2024-03-31T03:30:00+02:00">03:30<' in table


def test_each_session_keeps_its_own_sites_clock_and_local_date(world):
    new_york = make_site(world.org_a, "Manhattan", time_zone="America/New_York")
    cp_ny = make_charge_point(new_york, "NY-1", connectors=1)
    # New York fell back at 2024-11-03 06:00 UTC: 05:30 UTC is 01:30 EDT, and 06:30 UTC is 01:30 again, in EST.
    first = make_session(cp_ny.connectors.get(), world.alice_card, started_at=_at(2024, 11, 3, 5, 30), minutes=30)
    second = make_session(cp_ny.connectors.get(), world.alice_card, started_at=_at(2024, 11, 3, 6, 30), minutes=30)
    evening = make_session(cp_ny.connectors.get(), world.alice_card, started_at=_at(2024, 11, 4, 3, 0), minutes=30)

    rows = {row.id: row for row in _rows(world.alice)}

    assert rows[first.pk].started_at.isoformat() == "2024-11-03T01:30:00-04:00"
    assert rows[second.pk].started_at.isoformat() == "2024-11-03T01:30:00-05:00"
    assert rows[evening.pk].date == date(2024, 11, 3)  # 22:00 in New York, already the 4th in UTC
    assert rows[evening.pk].address == "Storgatan 1, 111 22 Stockholm"


def test_average_power_is_energy_over_duration(world):
    connector = world.cp_a.connectors.first()
    make_session(connector, world.alice_card, started_at=_at(2024, 4, 1, 8), minutes=90, energy_wh=12_000)
    make_session(connector, world.alice_card, started_at=_at(2024, 4, 2, 8), minutes=45, energy_wh=10_000)
    make_session(connector, world.alice_card, started_at=_at(2024, 4, 3, 8), minutes=30, energy_wh=0)

    powers = [row.average_power_kw for row in _rows(world.alice)]

    assert powers == [Decimal("0.00"), Decimal("13.33"), Decimal("8.00")]
    assert history.average_power_kw(5_000, timedelta(0)) is None
    assert history.average_power_kw(None, timedelta(hours=1)) is None


def test_totals_cover_only_the_filtered_sessions(world, priced):
    connector = world.cp_a.connectors.first()
    march = [
        make_session(connector, world.alice_card, started_at=_at(2024, 3, day, 9), minutes=minutes, energy_wh=energy)
        for day, minutes, energy in ((4, 60, 10_000), (12, 30, 5_500), (28, 95, 20_250))
    ]
    for session in march:
        priced(session)
    priced(make_session(connector, world.alice_card, started_at=_at(2024, 4, 2, 9), minutes=60, energy_wh=7_000))
    # still charging on the last evening of March: counted, but no energy, duration or price yet
    make_session(connector, world.alice_card, started_at=_at(2024, 3, 31, 18), energy_wh=None)

    march_only = HistoryFilters(date_from=date(2024, 3, 1), date_to=date(2024, 3, 31))
    totals = history.history_totals(history.history_queryset(user=world.alice, filters=march_only))

    assert totals.sessions == 4
    assert totals.energy_wh == 35_750
    assert totals.duration == timedelta(minutes=185)
    assert totals.costs == (("SEK", Decimal("143.00")),)  # 35.75 kWh x 4.00 incl. VAT
    everything = history.history_totals(history.history_queryset(user=world.alice, filters=HistoryFilters()))
    assert (
        everything.sessions == 5
        and everything.energy_wh == 42_750
        and everything.costs == (("SEK", Decimal("171.00")),)
    )


def test_a_period_is_in_local_days_of_each_sessions_site(world):
    new_york = make_site(world.org_a, "Manhattan", time_zone="America/New_York")
    cp_ny = make_charge_point(new_york, "NY-1", connectors=1)
    connector = world.cp_a.connectors.first()
    # 2024-03-09 23:30 UTC is the 10th in Stockholm; 2024-03-10 04:30 UTC is still the 9th in New York.
    stockholm_10th = make_session(connector, world.alice_card, started_at=_at(2024, 3, 9, 23, 30), minutes=20)
    new_york_9th = make_session(
        cp_ny.connectors.get(), world.alice_card, started_at=_at(2024, 3, 10, 4, 30), minutes=20
    )

    ninth = HistoryFilters(date_from=date(2024, 3, 9), date_to=date(2024, 3, 9))
    tenth = HistoryFilters(date_from=date(2024, 3, 10), date_to=date(2024, 3, 10))

    assert [row.id for row in _rows(world.alice, ninth)] == [new_york_9th.pk]
    assert [row.id for row in _rows(world.alice, tenth)] == [stockholm_10th.pk]


def test_how_each_session_was_paid_comes_from_the_ledger(world, priced):
    connector = world.cp_a.connectors.first()
    paid_by_bank, owed, at_terminal, credited = (
        make_session(connector, world.alice_card, started_at=_at(2024, 4, day, 9), energy_wh=10_000)
        for day in (1, 2, 3, 4)
    )
    for session in (paid_by_bank, owed, at_terminal, credited):
        priced(session)
    payment_record(
        customer_account=world.alice.customer_account,
        amount="40.00",
        method=LedgerEntry.Method.BANK,
        reference="BG 1",
        key="test:bank",
    )  # pays the oldest owed session
    terminal_payment_record(session=at_terminal, reference="RCPT-77", amount="40.00")
    credit_note_issue(session=credited, net_amount=Decimal("32.00"), reason="Broken cable", user=world.carol)
    # bob pays from a prepaid wallet that holds enough for one session and a half
    bob_account = world.bob.customer_account
    payment_method_set(customer_account=bob_account, method=PaymentAccount.Method.WALLET)
    wallet_top_up(
        customer_account=bob_account,
        amount="60.00",
        method=LedgerEntry.Method.BANK,
        reference="BG 2",
        key="test:top-up",
    )
    from_wallet = make_session(connector, world.bob_card, started_at=_at(2024, 4, 5, 9), energy_wh=10_000)
    partly = make_session(connector, world.bob_card, started_at=_at(2024, 4, 6, 9), energy_wh=10_000)
    priced(from_wallet)
    priced(partly)
    running = make_session(connector, world.alice_card, started_at=_at(2024, 4, 20, 11), energy_wh=None)

    paid = history.session_payments(
        [s.pk for s in (paid_by_bank, owed, at_terminal, credited, from_wallet, partly, running)]
    )

    assert paid[paid_by_bank.pk] == ("bank",)
    assert paid[owed.pk] == ("invoice",)
    assert paid[at_terminal.pk] == ("terminal",)
    assert paid[credited.pk] == ("credited",)
    assert paid[from_wallet.pk] == ("wallet",)
    assert paid[partly.pk] == ("wallet", "owed")
    assert running.pk not in paid
    rows = {row.id: row for row in _rows(world.alice)}
    assert rows[owed.pk].payment_display == "Invoice (owed)"
    assert rows[at_terminal.pk].payment_display == "Terminal"
    assert rows[running.pk].payment_display == "–"


def test_a_running_session_shows_its_estimate_or_running(world, priced):
    connector = world.cp_a.connectors.first()
    running = make_session(connector, world.alice_card, started_at=NOW - timedelta(minutes=30), energy_wh=None)
    MeterValue.objects.create(
        charge_point=world.cp_a,
        connector=connector,
        session=running,
        timestamp=NOW - timedelta(minutes=1),
        value=Decimal(running.meter_start_wh + 5_000),
    )

    (row,) = _rows(world.alice)
    assert row.running and row.energy_wh == 5_000 and row.duration == timedelta(minutes=30)
    assert row.cost == Decimal("20.00") and row.cost_estimated
    assert row.cost_display == "20.00 SEK so far"

    bobs = make_session(
        world.cp_b.connectors.first(), world.bob_card, started_at=NOW - timedelta(minutes=5), energy_wh=None
    )  # operator B has no tariff
    (bob_row,) = _rows(world.bob)
    assert bob_row.id == bobs.pk and bob_row.cost is None and bob_row.cost_display == "running"


def test_monthly_energy_and_spend_fall_in_the_sites_local_month(world, priced):
    connector = world.cp_a.connectors.first()
    # 2024-01-31 23:30 UTC is 1 February, 00:30 in Stockholm
    priced(make_session(connector, world.alice_card, started_at=_at(2024, 1, 31, 23, 30), energy_wh=10_000))
    priced(make_session(connector, world.alice_card, started_at=_at(2024, 4, 2, 9), energy_wh=2_500))
    priced(make_session(connector, world.alice_card, started_at=_at(2024, 4, 9, 9), energy_wh=3_000))
    priced(make_session(connector, world.alice_card, started_at=_at(2023, 4, 15, 9), energy_wh=9_000))  # too old
    make_session(connector, world.bob_card, started_at=_at(2024, 4, 3, 9), energy_wh=50_000)  # not alice's

    stations = history.history_stations(user=world.alice)
    months = history.history_months(
        history.history_queryset(user=world.alice, filters=HistoryFilters()),
        stations=stations,
        time_zone="Europe/Stockholm",
        now=NOW,
    )["months"]

    assert [m["month"] for m in months] == [date(2023, 5, 1) + _months(i) for i in range(12)]
    by_month = {m["month"]: m for m in months}
    assert by_month[date(2024, 2, 1)]["energy_wh"] == 10_000 and by_month[date(2024, 1, 1)]["energy_wh"] == 0
    assert by_month[date(2024, 4, 1)]["energy_wh"] == 5_500 and by_month[date(2024, 4, 1)]["sessions"] == 2
    assert by_month[date(2024, 4, 1)]["spend"][0]["amount"] == Decimal("22.00")
    assert sum(m["energy_wh"] for m in months) == 15_500


def _months(n: int) -> timedelta:
    """Days from 2023-05-01 to the first of the n-th month after it."""
    year, month = 2023 + (4 + n) // 12, (4 + n) % 12 + 1
    return date(year, month, 1) - date(2023, 5, 1)


# --- Pages ------------------------------------------------------------------------------------------


def test_station_card_and_period_filters_narrow_the_list(client, world):
    other_cp = make_charge_point(world.site_a, "ALPHA-2", connectors=1)
    second_card = make_tag(world.alice.customer_account, world.alice, "04C0FFEE", label="Van")
    a1 = make_session(world.cp_a.connectors.first(), world.alice_card, started_at=_at(2024, 3, 5, 9))
    a2 = make_session(other_cp.connectors.get(), world.alice_card, started_at=_at(2024, 4, 5, 9))
    van = make_session(other_cp.connectors.get(), second_card, started_at=_at(2024, 4, 6, 9))
    _login(client, world.alice)

    def listed(**params):
        page = client.get(reverse("history"), params)
        assert page.status_code == 200
        return [row.id for row in page.context["rows"]]

    assert listed() == [van.pk, a2.pk, a1.pk]
    assert listed(station=other_cp.pk) == [van.pk, a2.pk]
    assert listed(card=second_card.pk) == [van.pk]
    assert listed(station=other_cp.pk, card=world.alice_card.pk) == [a2.pk]
    assert listed(date_from="2024-03-01", date_to="2024-03-31") == [a1.pk]
    assert listed(date_from="2024-04-06") == [van.pk]
    page = client.get(reverse("history"), {"date_from": "2024-04-10", "date_to": "2024-04-01"})
    assert page.context["form"].errors["date_to"]


def test_period_presets_are_this_month_last_month_and_this_year(client, world):
    presets = {p["key"]: (p["date_from"], p["date_to"]) for p in history.period_presets(today=date(2024, 3, 15))}
    assert presets == {
        "this_month": (date(2024, 3, 1), date(2024, 3, 15)),
        "last_month": (date(2024, 2, 1), date(2024, 2, 29)),
        "this_year": (date(2024, 1, 1), date(2024, 3, 15)),
    }
    assert history.period_presets(today=date(2024, 1, 10))[1]["date_from"] == date(2023, 12, 1)

    make_session(world.cp_a.connectors.first(), world.alice_card, started_at=_at(2024, 3, 31, 22, 30))  # April 1st
    march = make_session(world.cp_a.connectors.first(), world.alice_card, started_at=_at(2024, 3, 31, 21, 30))
    _login(client, world.alice)
    with time_machine.travel(_at(2024, 4, 10, 12), tick=False):
        page = client.get(reverse("history"), {"station": world.cp_a.pk})
        last_month = next(p for p in page.context["presets"] if p["key"] == "last_month")
        assert last_month["query"] == f"date_from=2024-03-01&date_to=2024-03-31&station={world.cp_a.pk}"
        filtered = client.get(f"{reverse('history')}?{last_month['query']}")
    assert [row.id for row in filtered.context["rows"]] == [march.pk]


def test_pages_of_25_keep_the_filters_and_read_a_bounded_number_of_queries(
    client, world, priced, django_assert_max_num_queries
):
    connector = world.cp_a.connectors.first()
    sessions = [
        make_session(
            connector,
            world.alice_card,
            started_at=_at(2024, 1, 1) + timedelta(hours=5 * i),
            minutes=40,
            energy_wh=1_000 + i,
        )
        for i in range(60)
    ]
    for session in sessions[:30]:
        priced(session)
    _login(client, world.alice)

    with django_assert_max_num_queries(17):  # the same for 25 rows as for 10: nothing per row
        first = client.get(reverse("history"), {"station": world.cp_a.pk})
    assert len(first.context["rows"]) == 25
    assert [row.id for row in first.context["rows"]] == [s.pk for s in sessions[:34:-1]]
    assert f"?station={world.cp_a.pk}&amp;page=2" in first.content.decode()

    with django_assert_max_num_queries(17):
        third = client.get(reverse("history"), {"station": world.cp_a.pk, "page": 3})
    assert [row.id for row in third.context["rows"]] == [s.pk for s in sessions[9::-1]]
    assert f"?station={world.cp_a.pk}&amp;page=2" in third.content.decode()
    assert third.context["totals"].sessions == 60

    # a running session adds its live figures and estimate, a fixed number of queries
    make_session(connector, world.alice_card, started_at=NOW - timedelta(minutes=10), energy_wh=None)
    with time_machine.travel(NOW, tick=False), django_assert_max_num_queries(17 + 13):
        running_first = client.get(reverse("history"), {"station": world.cp_a.pk})
    assert running_first.context["rows"][0].running


def test_a_session_page_shows_its_curve_and_price_breakdown(client, world, priced):
    connector = world.cp_a.connectors.first()
    session = make_session(connector, world.alice_card, started_at=_at(2024, 4, 2, 8), minutes=60, energy_wh=11_000)
    start = session.meter_start_wh
    for minute in range(0, 61, 10):
        at = session.started_at + timedelta(minutes=minute)
        # energy register in kWh, power per phase in W: both are shown as kWh/kW
        MeterValue.objects.create(
            charge_point=world.cp_a,
            connector=connector,
            session=session,
            timestamp=at,
            value=Decimal(start + minute * 11_000 // 60) / 1000,
            unit="kWh",
        )
        for phase in ("L1", "L2", "L3"):
            MeterValue.objects.create(
                charge_point=world.cp_a,
                connector=connector,
                session=session,
                timestamp=at,
                measurand="Power.Active.Import",
                phase=phase,
                value=Decimal(3_667),
                unit="W",
            )
    priced(session)
    credit_note_issue(session=session, net_amount=Decimal("8.00"), reason="Slow charging", user=world.carol)
    _login(client, world.alice)

    page = client.get(reverse("history_session", args=[session.pk]))

    assert page.status_code == 200
    points = page.context["curve"]["points"]
    assert points[0]["energy_kwh"] == Decimal("0.000") and points[-1]["energy_kwh"] == Decimal("11.000")
    assert all(point["power_kw"] == Decimal("11.00") for point in points)
    html = page.content.decode()
    assert '<svg class="chart"' in html and "<polyline" in html
    price = page.context["price"]
    assert [(line["component"], line["quantity"], line["amount"]) for line in price["lines"]] == [
        ("ENERGY", Decimal("11.000"), Decimal("35.20"))
    ]
    assert price["net_display"] == "35.20 SEK" and price["vat_display"] == "8.80 SEK"
    assert price["gross_display"] == "44.00 SEK" and price["after_credit_display"] == "34.00 SEK"
    assert "Slow charging" in html and "34.00 SEK" in html and "3.20 SEK/kWh" in html


def test_a_long_session_is_drawn_with_a_few_hundred_points(world):
    connector = world.cp_a.connectors.first()
    session = make_session(connector, world.alice_card, started_at=_at(2024, 4, 2, 8), minutes=2_000, energy_wh=40_000)
    MeterValue.objects.bulk_create(
        [
            MeterValue(
                charge_point=world.cp_a,
                connector=connector,
                session=session,
                timestamp=session.started_at + timedelta(minutes=minute),
                unit="Wh",
                value=Decimal(session.meter_start_wh + minute * 20),
            )
            for minute in range(2_001)
        ]
        + [
            MeterValue(
                charge_point=world.cp_a,
                connector=connector,
                session=session,
                measurand="Power.Active.Import",
                timestamp=session.started_at + timedelta(minutes=minute),
                value=Decimal(1_200 if minute % 2 else 1_300),
                unit="W",
            )
            for minute in range(2_001)
        ]
    )

    points = history.session_curve(session, now=NOW)["points"]

    assert len(points) == history.MAX_CURVE_POINTS
    assert points[-1]["energy_kwh"] == Decimal("40.000")
    energies = [p["energy_kwh"] for p in points]
    assert energies == sorted(energies)
    # each point is the mean of the readings in its stretch: about 1.25 kW
    assert all(Decimal("1.2") <= p["power_kw"] <= Decimal("1.3") for p in points[1:])
    assert abs(sum(p["power_kw"] for p in points[1:]) / (len(points) - 1) - Decimal("1.25")) < Decimal("0.01")


def test_a_session_without_meter_values_has_no_curve(client, world):
    session = make_session(world.cp_a.connectors.first(), world.alice_card, started_at=_at(2024, 4, 2, 8))
    _login(client, world.alice)
    page = client.get(reverse("history_session", args=[session.pk]))
    assert page.status_code == 200 and page.context["chart"] is None
    assert 'id="no-curve"' in page.content.decode() and "This session has no price." in page.content.decode()


# --- Isolation ---------------------------------------------------------------------------------------


def test_alice_never_sees_bobs_sessions_by_list_id_or_export(client, world):
    connector = world.cp_a.connectors.first()
    mine = make_session(connector, world.alice_card, started_at=_at(2024, 4, 2, 8))
    bobs = make_session(connector, world.bob_card, started_at=_at(2024, 4, 3, 8))
    bob_cp = make_charge_point(world.site_b, "BETA-9", connectors=1)
    make_session(bob_cp.connectors.get(), world.bob_card, started_at=_at(2024, 4, 4, 8))
    _login(client, world.alice)

    listed = client.get(reverse("history"))
    assert [row.id for row in listed.context["rows"]] == [mine.pk]
    assert listed.context["totals"].sessions == 1
    assert client.get(reverse("history_session", args=[bobs.pk])).status_code == 404
    assert client.get(reverse("history_session", args=[mine.pk])).status_code == 200
    # bob's card or station as a filter is not a choice: ignored, still only alice's own
    by_bobs_card = client.get(reverse("history"), {"card": world.bob_card.pk})
    assert "card" in by_bobs_card.context["form"].errors
    assert [row.id for row in by_bobs_card.context["rows"]] == [mine.pk]
    csv_text = b"".join(
        client.get(reverse("history_export_csv"), {"card": world.bob_card.pk}).streaming_content
    ).decode()
    ids = [line["session"] for line in csv.DictReader(io.StringIO(csv_text.split("\r\n\r\n")[0]))]
    assert ids == [str(mine.pk)]
    pdf = _pdf_text(client.get(reverse("history_export_pdf"), {"station": bob_cp.pk}).content)
    assert "BETA-9" not in pdf and world.bob_card.uid not in pdf and world.alice_card.uid in pdf


def test_operator_staff_are_sent_to_the_admin_and_strangers_to_log_in(client, world):
    assert client.get(reverse("history")).status_code == 302
    assert "/accounts/login/" in client.get(reverse("history_export_csv"))["Location"]
    _login(client, world.carol)
    assert client.get(reverse("history"))["Location"] == reverse("admin:index")


# --- Exports ------------------------------------------------------------------------------------------


def _history_with_money(world, priced):
    connector = world.cp_a.connectors.first()
    new_york = make_site(world.org_a, "Manhattan", time_zone="America/New_York")
    cp_ny = make_charge_point(new_york, "NY-1", connectors=1)
    sessions = [
        make_session(connector, world.alice_card, started_at=_at(2024, 3, 31, 0, 30), minutes=75, energy_wh=12_345),
        make_session(
            cp_ny.connectors.get(), world.alice_card, started_at=_at(2024, 3, 10, 4, 30), minutes=41, energy_wh=7_001
        ),
        make_session(connector, world.alice_card, started_at=_at(2024, 2, 29, 12), minutes=7, energy_wh=333),
    ]
    for session in sessions[::2]:
        priced(session)
    terminal_payment_record(session=sessions[0], reference="RCPT-1", amount="49.38")
    return sessions


def test_the_csv_export_round_trips_to_the_selectors_rows(client, world, priced):
    sessions = _history_with_money(world, priced)
    make_session(world.cp_a.connectors.first(), world.bob_card, started_at=_at(2024, 3, 20, 8))
    _login(client, world.alice)
    filters = {"date_from": "2024-03-01", "date_to": "2024-03-31"}

    response = client.get(reverse("history_export_csv"), filters)

    assert response["Content-Type"].startswith("text/csv")
    body, _blank, footer = b"".join(response.streaming_content).decode().partition("\r\n\r\n")
    parsed = list(csv.DictReader(io.StringIO(body)))
    expected = _rows(world.alice, HistoryFilters(date_from=date(2024, 3, 1), date_to=date(2024, 3, 31)))
    assert [int(line["session"]) for line in parsed] == [row.id for row in expected] == [sessions[0].pk, sessions[1].pk]
    assert list(parsed[0]) == list(CSV_COLUMNS)
    for line, row in zip(parsed, expected, strict=True):
        assert datetime.fromisoformat(line["start"]) == row.started_at
        assert datetime.fromisoformat(line["start"]).utcoffset() == row.started_at.utcoffset()
        assert datetime.fromisoformat(line["end"]) == row.stopped_at
        assert date.fromisoformat(line["date"]) == row.date
        assert Decimal(line["energy_kwh"]) * 1000 == row.energy_wh
        assert Decimal(line["duration_min"]) * 60 == Decimal(row.duration.total_seconds())
        assert Decimal(line["average_power_kw"]) == row.average_power_kw
        assert (Decimal(line["cost"]) if line["cost"] else None) == row.cost
        assert (line["station"], line["site"], line["card"], line["time_zone"]) == (
            row.station,
            row.site,
            row.card,
            row.time_zone,
        )
        assert tuple(filter(None, line["payment"].split("; "))) == row.payment
        assert line == dict(zip(CSV_COLUMNS, map(str, csv_values(row)), strict=True))
    assert parsed[0]["start"] == "2024-03-31T01:30:00+01:00" and parsed[0]["end"] == "2024-03-31T03:45:00+02:00"
    assert parsed[0]["cost"] == "49.38" and parsed[0]["payment"] == "terminal"
    assert parsed[1]["date"] == "2024-03-09" and parsed[1]["cost"] == "" and parsed[1]["payment"] == ""
    totals = {line[0]: line[1:] for line in csv.reader(io.StringIO(footer))}
    assert totals["total_sessions"] == ["2"]
    assert Decimal(totals["total_energy_kwh"][0]) == Decimal("19.346")
    assert Decimal(totals["total_duration_min"][0]) == Decimal(116)
    assert totals["total_cost"] == ["49.38", "SEK"]


def test_the_pdf_export_lists_the_filtered_sessions_with_totals(client, world, priced):
    sessions = _history_with_money(world, priced)
    _login(client, world.alice)

    response = client.get(reverse("history_export_pdf"), {"station": world.cp_a.pk})

    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    text = _pdf_text(response.content)
    assert "Charging history" in text and world.alice_card.uid in text
    assert "2024-03-31" in text and "01:30" in text and "03:45" in text and "2024-02-29" in text
    assert "12.35" in text and "49.38 SEK" in text and "1.34 SEK" in text
    assert "NY-1" not in text and "2024-03-09" not in text
    assert "Total: 2 sessions" in text and "50.72 SEK" in text and "12.68" in text
    assert str(sessions[0].pk) in text


def _pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def test_the_history_page_shows_rows_totals_and_monthly_charts(client, world, priced):
    _history_with_money(world, priced)
    _login(client, world.alice)
    with time_machine.travel(_at(2024, 4, 20, 12), tick=False):
        page = client.get(reverse("history"))
    html = page.content.decode()
    assert page.status_code == 200
    assert html.count('<svg class="chart"') == 2  # energy, and spend in SEK
    assert 'id="months-table"' in html and "Mar 2024" in html
    assert page.context["totals"].sessions == 3 and page.context["totals"].energy_wh == 19_679
    assert "Terminal" in html and "Invoice (owed)" in html
    assert ChargingSession.objects.count() == 3
