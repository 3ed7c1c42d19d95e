"""The operator overview: each figure on small hand-built rollup rows, the call-out rules, and who sees what."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from reporting.models import ConnectorHour, DriverDay
from reporting.overview import Period, SiteDemand, operator_overview, overview_tables
from sessions_app.models import Site
from tests.factories import make_charge_point, make_connector_hour, make_site, make_site_peak, make_staff

STOCKHOLM = "Europe/Stockholm"


def _hour(connector, at: datetime, **columns) -> ConnectorHour:
    return make_connector_hour(connector, at, **columns)


def _utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _connector(cp, number=1):
    return cp.connectors.get(number=number)


def _day(day: date) -> Period:
    return Period(day, day, STOCKHOLM)


def test_a_period_is_whole_local_days_in_utc_even_across_daylight_saving():
    assert _day(date(2026, 5, 5)).start == _utc(2026, 5, 4, 22)
    assert _day(date(2026, 5, 5)).seconds == 24 * 3600
    assert _day(date(2026, 3, 29)).seconds == 23 * 3600
    assert _day(date(2026, 10, 25)).seconds == 25 * 3600
    week = Period(date(2026, 5, 4), date(2026, 5, 10), STOCKHOLM)
    assert week.previous() == Period(date(2026, 4, 27), date(2026, 5, 3), STOCKHOLM)


def test_utilization_charging_share_idle_duration_and_energy_per_session(world):
    one, two = _connector(world.cp_a, 1), _connector(world.cp_a, 2)
    # 2026-05-05 in Stockholm is 2026-05-04 22:00 to 2026-05-05 22:00 UTC.
    _hour(
        one,
        _utc(2026, 5, 4, 22),
        sessions=1,
        energy_wh=9_000,
        revenue=Decimal("30.00"),
        occupied_s=3600,
        charging_s=2400,
    )
    _hour(one, _utc(2026, 5, 4, 23), occupied_s=1800, charging_s=1800)
    _hour(
        two,
        _utc(2026, 5, 5, 10),
        sessions=1,
        energy_wh=3_000,
        revenue=Decimal("12.50"),
        occupied_s=1200,
        charging_s=1500,
    )  # more charging than session time: no negative idle
    _hour(one, _utc(2026, 5, 4, 21), sessions=5, occupied_s=3600)  # 23:00 the day before: not counted
    _hour(one, _utc(2026, 5, 5, 22), sessions=5, occupied_s=3600)  # 00:00 the day after: not counted
    _hour(_connector(world.cp_b), _utc(2026, 5, 5, 10), sessions=7, occupied_s=3600)  # another operator

    overview = operator_overview(organization=world.org_a, period=_day(date(2026, 5, 5)))
    totals = overview.totals
    assert (totals.sessions, totals.energy_wh, totals.revenue) == (2, 12_000, Decimal("42.50"))
    assert (totals.connectors, totals.capacity_s) == (2, 2 * 86_400)
    assert (totals.occupied_s, totals.charging_s, totals.idle_s) == (6_600, 5_700, 1_200)
    assert totals.utilization == Decimal("3.8")  # 6600 / 172800
    assert totals.charging_share == Decimal("3.3")  # 5700 / 172800
    assert totals.average_duration_min == Decimal("55.0")  # 6600 s / 2 sessions
    assert totals.energy_per_session_kwh == Decimal("6.000")
    by_connector = {usage.key: usage for usage in overview.connectors}
    assert by_connector[one.pk].utilization == Decimal("6.3")  # 5400 / 86400
    assert by_connector[one.pk].idle_s == 1_200 and by_connector[two.pk].idle_s == 0
    [station] = overview.stations
    assert (station.label, station.sessions, station.occupied_s) == ("ALPHA-1", 2, 6_600)
    [site] = overview.sites
    assert (site.label, site.connectors, site.utilization) == ("Alpha Depot", 2, Decimal("3.8"))


def test_unique_drivers_are_distinct_accounts_over_the_local_days(world):
    alice, bob = world.alice.customer_account, world.bob.customer_account
    other_cp = make_charge_point(world.site_a, "ALPHA-2")
    for cp, account, day in [
        (world.cp_a, alice, date(2026, 5, 4)),
        (other_cp, alice, date(2026, 5, 6)),
        (world.cp_a, bob, date(2026, 5, 10)),
        (world.cp_a, bob, date(2026, 5, 11)),
        (world.cp_a, alice, date(2026, 4, 30)),
    ]:
        DriverDay.objects.create(
            organization=world.org_a, site=cp.site, charge_point=cp, customer_account=account, day=day
        )

    week = Period(date(2026, 5, 4), date(2026, 5, 10), STOCKHOLM)
    overview = operator_overview(organization=world.org_a, period=week)
    assert overview.totals.unique_drivers == 2
    assert overview.previous.unique_drivers == 1  # alice on 30 April
    narrowed = operator_overview(organization=world.org_a, period=week, charge_point=other_cp)
    assert narrowed.totals.unique_drivers == 1


def test_heatmap_buckets_sessions_in_the_sites_local_time_across_the_spring_change(world):
    one = _connector(world.cp_a)
    # Sunday 29 March 2026: clocks go from 02:00 CET to 03:00 CEST, local 02:00 never happens.
    _hour(one, _utc(2026, 3, 28, 23), sessions=4)  # 00:00 CET
    _hour(one, _utc(2026, 3, 29, 0), sessions=1)  # 01:00 CET
    _hour(one, _utc(2026, 3, 29, 1), sessions=2)  # 03:00 CEST
    _hour(one, _utc(2026, 3, 29, 21), sessions=3)  # 23:00 CEST
    new_york = make_site(world.org_a, "Manhattan", time_zone="America/New_York")
    nyc = make_charge_point(new_york, "NYC-1", connectors=1)
    _hour(_connector(nyc), _utc(2026, 3, 29, 14), sessions=5)  # 10:00 EDT

    overview = operator_overview(organization=world.org_a, period=_day(date(2026, 3, 29)))
    sunday = overview.heatmap[6]
    assert (sunday[0], sunday[1], sunday[2], sunday[3], sunday[23]) == (4, 1, 0, 2, 3)
    assert sunday[10] == 5  # the New York site's own clock
    assert sum(map(sum, overview.heatmap)) == 15
    assert overview.totals.capacity_s == 3 * 23 * 3600
    assert overview_tables(overview)["heatmap"].rows[6][1:5] == [4, 1, 0, 2]


def test_heatmap_counts_both_halves_of_the_repeated_autumn_hour(world):
    one = _connector(world.cp_a)
    # Sunday 25 October 2026: 03:00 CEST becomes 02:00 CET, local 02:00 happens twice.
    _hour(one, _utc(2026, 10, 25, 0), sessions=1, occupied_s=3600)  # 02:00 CEST
    _hour(one, _utc(2026, 10, 25, 1), sessions=2, occupied_s=3600)  # 02:00 CET
    _hour(one, _utc(2026, 10, 25, 2), sessions=4)  # 03:00 CET
    _hour(one, _utc(2026, 10, 24, 21), sessions=8)  # 23:00 CEST on Saturday

    overview = operator_overview(organization=world.org_a, period=_day(date(2026, 10, 25)))
    assert overview.heatmap[6][:4] == [0, 0, 3, 4]
    assert overview.heatmap[5][23] == 0  # Saturday is outside the period
    assert overview.totals.capacity_s == 2 * 25 * 3600
    # Local 02:00 occurred twice: the busiest hour's capacity is two hours of both connectors.
    [demand] = overview.demand
    assert (demand.busiest_weekday, demand.busiest_hour) == (6, 2)
    assert (demand.busiest_occupied_s, demand.busiest_capacity_s) == (7200, 2 * 2 * 3600)
    assert demand.busiest_occupancy == Decimal("50.0")


def test_series_per_local_day_and_per_hour_for_one_day(world):
    one = _connector(world.cp_a)
    _hour(one, _utc(2026, 5, 4, 22), sessions=2, energy_wh=5_000, revenue=Decimal("10.00"))  # 5 May 00:00
    _hour(one, _utc(2026, 5, 6, 21), sessions=1, energy_wh=1_000, revenue=Decimal("2.00"))  # 6 May 23:00
    week = operator_overview(organization=world.org_a, period=Period(date(2026, 5, 4), date(2026, 5, 10), STOCKHOLM))
    assert not week.series_by_hour
    assert week.series[:3] == [
        ("2026-05-04", 0, 0, Decimal("0.00")),
        ("2026-05-05", 2, 5_000, Decimal("10.00")),
        ("2026-05-06", 1, 1_000, Decimal("2.00")),
    ]
    assert len(week.series) == 7
    day = operator_overview(organization=world.org_a, period=_day(date(2026, 5, 6)))
    assert day.series_by_hour and len(day.series) == 24
    assert day.series[23] == ("23:00", 1, 1_000, Decimal("2.00"))


def test_peak_simultaneous_sessions_is_the_sites_highest_in_the_period(world):
    make_site_peak(world.site_a, _utc(2026, 5, 5, 8), 1)
    make_site_peak(world.site_a, _utc(2026, 5, 5, 17), 2)
    make_site_peak(world.site_a, _utc(2026, 5, 6, 17), 3)

    overview = operator_overview(organization=world.org_a, period=_day(date(2026, 5, 5)))
    [demand] = overview.demand
    assert (demand.peak_sessions, demand.connectors, demand.peak_share) == (2, 2, Decimal("100.0"))
    assert overview_tables(overview)["sites"].rows[0][8:10] == [2, Decimal("100.0")]


def test_trends_compare_with_the_same_number_of_days_before(world):
    one = _connector(world.cp_a)
    _hour(one, _utc(2026, 5, 5, 8), sessions=10, energy_wh=50_000, revenue=Decimal("100.00"), occupied_s=3600)
    _hour(one, _utc(2026, 4, 28, 8), sessions=8, energy_wh=50_000, occupied_s=1800)
    _hour(one, _utc(2026, 4, 20, 8), sessions=99)  # two weeks before: in neither

    overview = operator_overview(
        organization=world.org_a, period=Period(date(2026, 5, 4), date(2026, 5, 10), STOCKHOLM)
    )
    trends = {trend.key: trend for trend in overview.trends}
    assert (trends["sessions"].current, trends["sessions"].previous, trends["sessions"].change) == (
        10,
        8,
        Decimal("25.0"),
    )
    assert trends["energy_kwh"].change == Decimal("0.0")
    assert trends["energy_per_session_kwh"].change == Decimal("-20.0")  # 5 kWh against 6.25 kWh
    assert trends["utilization"].change == Decimal("100.0")
    assert trends["revenue"].previous == 0 and trends["revenue"].change is None  # nothing to compare with


def test_top_and_bottom_stations_by_utilization_and_energy(world):
    busy, quiet, idle = (make_charge_point(world.site_a, name, connectors=1) for name in ("B-1", "Q-1", "I-1"))
    _hour(_connector(busy), _utc(2026, 5, 5, 8), sessions=3, energy_wh=1_000, occupied_s=3600)
    _hour(_connector(quiet), _utc(2026, 5, 5, 8), sessions=1, energy_wh=40_000, occupied_s=600)

    overview = operator_overview(organization=world.org_a, period=_day(date(2026, 5, 5)), top=2)
    names = {key: [usage.label for usage in ranked] for key, ranked in overview.top_bottom.items()}
    assert names["top_utilization"] == ["B-1", "Q-1"]
    assert names["bottom_utilization"] == ["ALPHA-1", "I-1"]
    assert names["top_energy"] == ["Q-1", "B-1"]
    assert names["bottom_energy"] == ["ALPHA-1", "I-1"]
    ranking = overview_tables(overview)["ranking"].rows
    assert ranking[0][1:] == [1, "B-1", Decimal("4.2"), Decimal("1.000")]


def test_near_full_rule_peak_at_ninety_percent_of_connectors_or_busiest_hour_above_eighty_percent():
    site = Site(name="S")
    assert SiteDemand(site, connectors=10, scope_connectors=10, peak_sessions=9).near_full
    assert not SiteDemand(site, connectors=10, scope_connectors=10, peak_sessions=8).near_full
    assert SiteDemand(site, connectors=2, scope_connectors=2, peak_sessions=2).near_full_by_peak
    assert not SiteDemand(site, connectors=0, scope_connectors=0, peak_sessions=0).near_full
    by_occupancy = SiteDemand(
        site,
        connectors=4,
        scope_connectors=4,
        peak_sessions=1,
        busiest_weekday=0,
        busiest_hour=18,
        busiest_occupied_s=8_641,
        busiest_capacity_s=10_800,
    )
    assert by_occupancy.near_full and not by_occupancy.near_full_by_peak
    by_occupancy.busiest_occupied_s = 8_640  # exactly 80 %: not above
    assert not by_occupancy.near_full


def test_call_outs_name_the_full_sites_and_the_rarely_used_stations(world):
    depot = make_site(world.org_a, "Depot")
    full = make_charge_point(depot, "FULL-1", connectors=3)
    for n in (1, 2, 3):  # Monday 18:00 local, all three connectors, 50 min each: 83 % of that hour
        _hour(_connector(full, n), _utc(2026, 5, 4, 16), sessions=1, occupied_s=3000)
    make_site_peak(depot, _utc(2026, 5, 4, 16), 2)
    make_site_peak(world.site_a, _utc(2026, 5, 4, 16), 2)  # both of Alpha Depot's connectors at once
    _hour(_connector(world.cp_a), _utc(2026, 5, 4, 16), sessions=1, occupied_s=3600)

    lone = make_site(world.org_a, "Lone")
    rare = make_charge_point(lone, "RARE-1", connectors=1)
    broken = make_charge_point(lone, "BROKEN-1", connectors=1)
    flaky = make_charge_point(lone, "FLAKY-1", connectors=1)
    enough = make_charge_point(lone, "ENOUGH-1", connectors=1)
    _hour(_connector(rare), _utc(2026, 5, 5, 8), sessions=1, occupied_s=3600)
    for h in range(12):  # down for half the day: a maintenance matter
        _hour(_connector(broken), _utc(2026, 5, 5, h), outage_s=3600, down_s=3600)
    for h in range(6):  # faulted while offline is down once: a quarter of the day
        _hour(_connector(flaky), _utc(2026, 5, 5, h), outage_s=3600, offline_s=3600, down_s=3600)
    for h in range(4):  # 4320 s: exactly 5 % of a day
        _hour(_connector(enough), _utc(2026, 5, 5, 8 + h), occupied_s=1080)

    overview = operator_overview(organization=world.org_a, period=_day(date(2026, 5, 5)))
    rarely = {c.subject for c in overview.callouts if c.kind == "rarely_used"}
    # Alpha Depot and Depot had nothing on that day either; BROKEN-1 was down, ENOUGH-1 at exactly 5 %.
    assert rarely == {"ALPHA-1", "FULL-1", "RARE-1", "FLAKY-1"}
    stations = {usage.label: usage for usage in overview.stations}
    assert stations["BROKEN-1"].down_share == Decimal("50.0")
    assert stations["FLAKY-1"].down_share == Decimal("25.0")

    week = operator_overview(organization=world.org_a, period=Period(date(2026, 5, 4), date(2026, 5, 10), STOCKHOLM))
    full_sites = {c.subject: c.reason for c in week.callouts if c.kind == "near_full"}
    assert set(full_sites) == {"Alpha Depot", "Depot"}
    assert "83.3" in full_sites["Depot"] and "Mon 18:00" in full_sites["Depot"]
    assert "2 sessions at once on 2 connectors" in full_sites["Alpha Depot"]
    callouts = overview_tables(week)["callouts"].rows
    assert ["Runs near full: expand?", "Depot", full_sites["Depot"]] in callouts


def test_a_site_or_station_narrows_every_figure(world):
    other = make_charge_point(world.site_a, "ALPHA-2", connectors=1)
    _hour(_connector(world.cp_a), _utc(2026, 5, 5, 8), sessions=2, occupied_s=3600)
    _hour(_connector(other), _utc(2026, 5, 5, 8), sessions=3, occupied_s=1800)
    period = _day(date(2026, 5, 5))

    station = operator_overview(organization=world.org_a, period=period, charge_point=other)
    assert (station.totals.sessions, station.totals.connectors) == (3, 1)
    assert [usage.label for usage in station.stations] == ["ALPHA-2"]
    assert operator_overview(organization=world.org_a, period=period, site=world.site_a).totals.sessions == 5


# The admin page: who sees what.

URL_PARAMS = {"period": "day", "day": "2026-05-05"}


@pytest.fixture
def rollups(world):
    _hour(_connector(world.cp_a), _utc(2026, 5, 5, 8), sessions=4, energy_wh=43_210, occupied_s=3600)
    _hour(_connector(world.cp_b), _utc(2026, 5, 5, 8), sessions=9, energy_wh=98_765, occupied_s=3600)
    return world


def test_staff_see_their_own_organization_whatever_they_ask_for(client, rollups):
    world = rollups
    client.force_login(world.carol)
    response = client.get(reverse("admin:reporting_overview"), {**URL_PARAMS, "organization": world.org_b.pk})
    assert response.status_code == 200
    body = response.content.decode()
    assert "ALPHA-1" in body and "43.210" in body
    assert "BETA-1" not in body and "98.765" not in body and "Beta Mall" not in body


def test_staff_get_404_for_another_operators_site_or_station(client, rollups):
    world = rollups
    client.force_login(world.dave)
    url = reverse("admin:reporting_overview")
    assert client.get(url, {**URL_PARAMS, "charge_point": world.cp_a.pk}).status_code == 404
    assert client.get(url, {**URL_PARAMS, "site": world.site_a.pk}).status_code == 404
    assert (
        client.get(url, {**URL_PARAMS, "site": world.site_a.pk, "format": "csv", "table": "stations"}).status_code
        == 404
    )
    own = client.get(url, URL_PARAMS).content.decode()
    assert "BETA-1" in own and "98.765" in own and "ALPHA-1" not in own


def test_drivers_and_staff_without_permissions_are_refused(client, rollups):
    world = rollups
    client.force_login(world.alice)
    response = client.get(reverse("admin:reporting_overview"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    clerk = make_staff(world.org_a)
    clerk.groups.clear()
    client.force_login(clerk)
    assert client.get(reverse("admin:reporting_overview")).status_code == 403


def test_superusers_choose_the_organization(client, rollups):
    world = rollups
    client.force_login(world.admin)
    url = reverse("admin:reporting_overview")
    assert "Choose an operator." in client.get(url, URL_PARAMS).content.decode()
    body = client.get(url, {**URL_PARAMS, "organization": world.org_b.pk}).content.decode()
    assert "BETA-1" in body and "ALPHA-1" not in body
    mixed = client.get(url, {**URL_PARAMS, "organization": world.org_b.pk, "site": world.site_a.pk})
    assert mixed.status_code == 200 and "errorlist" in mixed.content.decode()
    assert 'id="table-stations"' not in mixed.content.decode()


def test_the_page_shows_charts_with_their_tables_and_is_linked_from_the_admin_index(client, rollups):
    world = rollups
    client.force_login(world.carol)
    body = client.get(reverse("admin:reporting_overview"), URL_PARAMS).content.decode()
    assert body.count('<svg class="chart"') == 4
    for key in ("trends", "series", "sites", "stations", "connectors", "heatmap", "ranking", "callouts"):
        assert f'id="table-{key}"' in body
    index = client.get(reverse("admin:index")).content.decode()
    assert reverse("admin:reporting_overview") in index and "Operator overview" in index


def test_figures_from_rollups_recomputed_from_raw_sessions(world):
    from billing.services import session_price_freeze, tariff_assignment_create
    from reporting.rollups import rollups_recompute
    from tests.factories import make_session, make_tariff

    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"))
    one, two = _connector(world.cp_a, 1), _connector(world.cp_a, 2)
    for connector, card, start, energy, minutes in [
        (one, world.alice_card, _utc(2026, 5, 5, 8), 12_000, 90),
        (two, world.bob_card, _utc(2026, 5, 5, 8, 30), 6_000, 30),
    ]:
        session_price_freeze(session=make_session(connector, card, started_at=start, energy_wh=energy, minutes=minutes))
    rollups_recompute(start=_utc(2026, 5, 4), end=_utc(2026, 5, 7), now=_utc(2026, 5, 7))

    overview = operator_overview(organization=world.org_a, period=_day(date(2026, 5, 5)))
    totals = overview.totals
    assert (totals.sessions, totals.energy_wh, totals.revenue) == (2, 18_000, Decimal("72.00"))
    assert (totals.occupied_s, totals.unique_drivers) == (90 * 60 + 30 * 60, 2)
    assert totals.average_duration_min == Decimal("60.0")
    assert overview.demand[0].peak_sessions == 2  # 08:30 to 09:00 both connectors
    assert overview.heatmap[1][10] == 2  # Tuesday, 10:00 in Stockholm
    assert [c.subject for c in overview.callouts if c.kind == "near_full"] == ["Alpha Depot"]


def test_whole_days_and_hours_give_the_same_overview_and_a_site_in_another_zone_is_read_by_hours(world, monkeypatch):
    from reporting import overview as module

    one, two = _connector(world.cp_a, 1), _connector(world.cp_a, 2)
    for hour, columns in [
        (
            (2026, 5, 3, 22),
            {"sessions": 2, "energy_wh": 7_000, "revenue": Decimal("20.00"), "occupied_s": 3600, "charging_s": 1200},
        ),  # 4 May 00:00
        ((2026, 5, 6, 21), {"sessions": 1, "occupied_s": 900, "charging_s": 1800}),  # 6 May 23:00
        ((2026, 5, 10, 21), {"sessions": 5, "failed_starts": 2, "down_s": 600}),  # 10 May 23:00
        ((2026, 4, 30, 12), {"sessions": 3, "energy_wh": 1_000}),
    ]:  # the week before
        _hour(one, _utc(*hour), **columns)
        _hour(two, _utc(*hour), **{k: v for k, v in columns.items() if k != "revenue"})
    week = Period(date(2026, 5, 4), date(2026, 5, 10), STOCKHOLM)

    def figures(overview):
        return (
            vars(overview.totals),
            vars(overview.previous),
            [vars(u) for u in overview.connectors],
            [vars(u) for u in overview.stations],
            [vars(u) for u in overview.sites],
            overview.series,
            overview.heatmap,
        )

    assert module._whole_days(module.Scope(world.org_a), week, list(module.Scope(world.org_a).sites()))
    by_days = figures(operator_overview(organization=world.org_a, period=week))
    monkeypatch.setattr(module, "_whole_days", lambda *args: False)
    by_hours = figures(operator_overview(organization=world.org_a, period=week))
    assert by_days == by_hours and by_days[0]["sessions"] == 16 and by_days[1]["sessions"] == 6
    monkeypatch.undo()

    make_site(world.org_a, "Helsinki", time_zone="Europe/Helsinki")  # days there are not the period's days
    assert not module._whole_days(module.Scope(world.org_a), week, list(module.Scope(world.org_a).sites()))


# --------------------------------------------------------------------------- a period not over yet


def _week_in_progress() -> Period:
    """The week of 4 May 2026 seen on Thursday 7 May at 16:25 in Stockholm (14:25 UTC)."""
    return Period(date(2026, 5, 4), date(2026, 5, 10), STOCKHOLM).up_to(_utc(2026, 5, 7, 14, 25))


def test_a_period_in_progress_is_cut_at_the_last_whole_hour_and_its_previous_at_the_same_elapsed_part():
    week = _week_in_progress()
    assert week.in_progress and week.as_of == _utc(2026, 5, 7, 14) and week.counted_last == date(2026, 5, 7)
    assert week.seconds == (3 * 24 + 16) * 3600  # Monday 00:00 to Thursday 16:00, local
    before = week.previous()
    assert (before.first, before.last, before.as_of) == (date(2026, 4, 27), date(2026, 5, 3), _utc(2026, 4, 30, 14))
    assert before.seconds == week.seconds
    # Across the spring change the same local time of day is kept: Thursday 16:00 in both weeks.
    spring = Period(date(2026, 3, 30), date(2026, 4, 5), STOCKHOLM).up_to(_utc(2026, 4, 2, 14, 5))
    assert spring.previous().as_of == _utc(2026, 3, 26, 15)  # 16:00 CET
    finished = Period(date(2026, 5, 4), date(2026, 5, 10), STOCKHOLM).up_to(_utc(2026, 5, 11, 9))
    assert not finished.in_progress and finished.previous() == Period(date(2026, 4, 27), date(2026, 5, 3), STOCKHOLM)


def test_a_week_in_progress_compares_like_with_like_and_leaves_the_days_to_come_out(world, monkeypatch):
    one = _connector(world.cp_a)
    connectors = world.cp_a.connectors.count()
    for at, sessions in [
        ((2026, 5, 4, 8), 4),  # Monday
        ((2026, 5, 7, 13), 1),  # Thursday 15:00 local: counted
        ((2026, 5, 7, 14), 50),  # Thursday 16:00 local, the hour in progress: not counted
        ((2026, 4, 27, 8), 4),  # the Monday before
        ((2026, 4, 30, 13), 1),  # the Thursday before, 15:00: counted
        ((2026, 4, 30, 14), 7),  # the Thursday before, 16:00: after the same elapsed part
        ((2026, 5, 2, 10), 9),  # the Saturday before: after the same elapsed part
    ]:
        _hour(one, _utc(*at), sessions=sessions, occupied_s=1800)
    DriverDay.objects.create(
        organization=world.org_a,
        site=world.site_a,
        charge_point=world.cp_a,
        customer_account=world.alice.customer_account,
        day=date(2026, 5, 2),
    )

    overview = operator_overview(organization=world.org_a, period=_week_in_progress())
    trends = {trend.key: trend for trend in overview.trends}
    assert (trends["sessions"].current, trends["sessions"].previous, trends["sessions"].change) == (
        5,
        5,
        Decimal("0.0"),
    )
    assert trends["utilization"].change == Decimal("0.0")
    assert overview.totals.capacity_s == overview.previous.capacity_s == connectors * 88 * 3600
    assert overview.previous.unique_drivers == 0  # Saturday is after the elapsed part
    assert [label for label, *_rest in overview.series] == ["2026-05-04", "2026-05-05", "2026-05-06", "2026-05-07"]
    assert sum(sum(row) for row in overview.heatmap) == 5

    whole = operator_overview(organization=world.org_a, period=Period(date(2026, 5, 4), date(2026, 5, 10), STOCKHOLM))
    assert (whole.totals.sessions, whole.previous.sessions, whole.previous.unique_drivers) == (55, 21, 1)
    assert len(whole.series) == 7

    # Its whole days are read from the day rollups, the day in progress from the hours: the same as all by hours.
    from reporting import overview as module

    def figures(overview):
        return (
            vars(overview.totals),
            vars(overview.previous),
            [vars(u) for u in overview.connectors],
            overview.series,
            overview.heatmap,
        )

    assert module._whole_days(module.Scope(world.org_a), _week_in_progress(), list(module.Scope(world.org_a).sites()))
    by_days = figures(overview)
    monkeypatch.setattr(module, "_whole_days", lambda *args: False)
    assert figures(operator_overview(organization=world.org_a, period=_week_in_progress())) == by_days


def test_a_day_in_progress_draws_only_its_hours_so_far(world):
    one = _connector(world.cp_a)
    _hour(one, _utc(2026, 5, 6, 22), sessions=2)  # 7 May 00:00
    _hour(one, _utc(2026, 5, 7, 13), sessions=1)  # 15:00
    day = operator_overview(organization=world.org_a, period=_day(date(2026, 5, 7)).up_to(_utc(2026, 5, 7, 14, 25)))
    assert day.series_by_hour and [label for label, *_rest in day.series][-1] == "15:00" and len(day.series) == 16
    assert day.series[0][1] == 2 and day.series[15][1] == 1


def test_the_page_says_the_week_is_compared_with_the_same_part_of_the_week_before(client, rollups):
    client.force_login(rollups.carol)
    with time_machine.travel(_utc(2026, 5, 7, 14, 25), tick=False):
        body = client.get(reverse("admin:reporting_overview"), {"period": "week"}).content.decode()
    assert 'id="period-so-far"' in body and "compared with the same part of the previous period" in body
    assert "2026-05-07" in body and "2026-05-08" not in body
    with time_machine.travel(_utc(2026, 5, 11, 9), tick=False):
        body = client.get(reverse("admin:reporting_overview"), {"period": "week", "day": "2026-05-05"}).content
    assert b'id="period-so-far"' not in body and b"2026-05-10" in body
