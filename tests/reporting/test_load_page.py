"""A load group's page: for its operator's staff only; the limit now (windows in the site's time), the site's
power per 15 minutes from made-up register readings with its peak, and the live share of each connector."""

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from core.timeutil import month_period
from reporting.load import (
    _add_summed,
    _meters,
    day_curve,
    limit_at,
    month_curve,
    site_power,
    site_power_per_reading,
)
from reporting.rollups.intervals import to_us
from sessions_app.models import ChargingSession, ConnectorAllocation, LoadGroup, LoadLimitWindow, MeterValue
from tests.conftest import PASSWORD
from tests.factories import make_charge_point, make_session

pytestmark = pytest.mark.django_db

# Tuesday 5 May 2026; Stockholm is UTC+2 (summer time).
TUESDAY_0830 = datetime(2026, 5, 5, 6, 30, tzinfo=UTC)


@pytest.fixture
def group(world) -> LoadGroup:
    """63 A on three phases at 230 V (43.47 kW), 32 A on weekdays 07-20 site time, operator A's depot."""
    group = LoadGroup.objects.create(site=world.site_a, name="Garage", limit_unit="A", limit=Decimal(63))
    LoadLimitWindow.objects.create(group=group, weekdays="12345", start=time(7), end=time(20), limit=Decimal(32))
    return group


def page_url(group: LoadGroup) -> str:
    return reverse("admin:reporting_load_group", args=[group.pk])


def live_url(group: LoadGroup) -> str:
    return reverse("admin:reporting_load_group_live", args=[group.pk])


def _register(session, at: datetime, wh: int) -> None:
    MeterValue.objects.create(
        charge_point=session.charge_point,
        connector=session.connector,
        session=session,
        timestamp=at,
        measurand="Energy.Active.Import.Register",
        value=Decimal(wh),
        unit="Wh",
    )


def test_the_page_and_its_live_part_are_for_the_groups_operator_only(client, world, group):
    for user, status in ((world.carol, 200), (world.admin, 200), (world.dave, 404)):
        client.force_login(user)
        assert client.get(page_url(group)).status_code == status, user
        assert client.get(live_url(group)).status_code == status, user
    client.force_login(world.alice)  # a driver: not let into the admin at all
    assert client.get(page_url(group)).status_code == 302
    assert client.get(live_url(group)).status_code == 302


def test_the_page_names_the_limit_now_the_turns_and_loads_its_script(client, world, group):
    client.login(email=world.carol.email, password=PASSWORD)
    with time_machine.travel(TUESDAY_0830, tick=False):
        page = client.get(page_url(group)).content.decode()
    assert "32.0 A per phase (22.08 kW)" in page
    assert "07:00-20:00" in page
    assert "turns of 15 minutes" in page
    assert "js/load-group.js" in page
    assert "<script>" not in page  # CSP: no inline script


def test_the_limit_now_is_the_windows_holding_in_the_sites_time(group):
    now = limit_at(group, TUESDAY_0830)  # 08:30 in Stockholm
    assert (now.limit, now.kw, now.window) == (Decimal(32), Decimal("22.08"), group.windows.get())
    evening = limit_at(group, datetime(2026, 5, 5, 18, 30, tzinfo=UTC))  # 20:30 there
    assert (evening.limit, evening.kw, evening.window) == (Decimal(63), Decimal("43.47"), None)
    assert limit_at(group, datetime(2026, 5, 9, 6, 30, tzinfo=UTC)).window is None  # a Saturday


def test_a_window_past_midnight_holds_into_the_next_day_and_the_lowest_of_two_holds(group):
    night = LoadLimitWindow.objects.create(group=group, weekdays="5", start=time(22), end=time(6), limit=Decimal(20))
    LoadLimitWindow.objects.create(group=group, weekdays="6", start=time(1), end=time(2), limit=Decimal(25))
    saturday_0130 = datetime(2026, 5, 8, 23, 30, tzinfo=UTC)  # the night window started Friday 22:00
    assert (limit_at(group, saturday_0130).window, limit_at(group, saturday_0130).limit) == (night, Decimal(20))
    assert limit_at(group, datetime(2026, 5, 9, 23, 30, tzinfo=UTC)).limit == Decimal(63)  # Sunday 01:30


def test_the_site_power_is_summed_per_15_minutes_and_its_peak_is_found(world, group):
    """Connector 1: 11 kW 08:00-08:15, 22 kW 08:15-08:30 (readings every 5 minutes, the last one at its stop);
    connector 2 of another charger of the site: 7 kW 08:15-08:45, read only at its start and stop."""
    start = datetime(2026, 5, 5, 6, 0, tzinfo=UTC)  # 08:00 in Stockholm
    one = make_session(
        world.cp_a.connectors.get(number=1), world.alice_card, started_at=start, energy_wh=8_250, minutes=30
    )
    for minutes in range(0, 31, 5):  # 11 kW is 11_000 / 60 Wh a minute, 22 kW twice that
        wh = 11_000 * min(minutes, 15) // 60 + 22_000 * max(0, minutes - 15) // 60
        _register(one, start + timedelta(minutes=minutes), 1_000_000 + wh)
    second_station = make_charge_point(world.site_a, "ALPHA-2")
    make_session(
        second_station.connectors.get(number=1),
        world.bob_card,
        started_at=start + timedelta(minutes=15),
        energy_wh=3_500,
        minutes=30,
    )
    day = day_curve(group, date(2026, 5, 5))
    assert len(day.points) == 96
    by_time = {f"{point.at:%H:%M}": point for point in day.points}
    assert by_time["08:00"].power_kw == Decimal("11.00")
    assert by_time["08:15"].power_kw == Decimal("29.00")
    assert by_time["08:30"].power_kw == Decimal("7.00")
    assert by_time["07:45"].power_kw == by_time["08:45"].power_kw == 0
    assert day.peak == by_time["08:15"]
    assert by_time["08:15"].limit_kw == Decimal("22.08") and by_time["20:00"].limit_kw == Decimal("43.47")
    assert day.over_limit == [by_time["08:15"]]
    month = month_curve(group, date(2026, 5, 20))
    assert len(month.points) == 31
    assert month.peak is not None and f"{month.peak.at:%Y-%m-%d %H:%M}" == "2026-05-05 08:15"
    assert sum(point.power_kw for point in month.points) == Decimal("29.00")


def test_a_session_over_midnight_counts_its_part_of_the_day(world, group):
    """12 kW from 23:50 to 00:10 site time, known only from the meter at start and stop (4 kWh): 2 kWh in each
    day's quarter hour at midnight, 8 kW on average over its 15 minutes."""
    start = datetime(2026, 5, 4, 21, 50, tzinfo=UTC)  # 23:50 in Stockholm
    make_session(world.cp_a.connectors.get(number=1), world.alice_card, started_at=start, energy_wh=4_000, minutes=20)
    day = day_curve(group, date(2026, 5, 5))
    assert [point.power_kw for point in day.points[:2]] == [Decimal("8.00"), Decimal(0)]
    assert day_curve(group, date(2026, 5, 4)).points[-1].power_kw == Decimal("8.00")


def test_a_day_with_a_daylight_saving_change_has_92_quarter_hours(group):
    assert len(day_curve(group, date(2026, 3, 29)).points) == 92
    assert day_curve(group, date(2026, 3, 29)).peak is None


def test_the_live_part_lists_each_connectors_share_status_and_draw(client, world, group):
    one, two = world.cp_a.connectors.get(number=1), world.cp_a.connectors.get(number=2)
    with time_machine.travel(TUESDAY_0830, tick=False):
        session = make_session(one, world.alice_card, started_at=TUESDAY_0830 - timedelta(minutes=20), energy_wh=None)
        MeterValue.objects.create(
            charge_point=world.cp_a,
            connector=one,
            session=session,
            timestamp=TUESDAY_0830 - timedelta(minutes=1),
            measurand="Power.Active.Import",
            value=Decimal(6900),
            unit="W",
        )
        ConnectorAllocation.objects.create(
            connector=one, group=group, session=session, limit_w=7360, limit_a=Decimal("10.7"), status="accepted"
        )
        waiting = make_session(two, world.bob_card, started_at=TUESDAY_0830 - timedelta(minutes=5), energy_wh=None)
        ConnectorAllocation.objects.create(
            connector=two, group=group, session=waiting, limit_w=0, limit_a=Decimal(0), status="waiting"
        )
        client.login(email=world.carol.email, password=PASSWORD)
        live = client.get(live_url(group)).json()
        page = client.get(page_url(group)).content.decode()
    first, second = live["rows"]
    assert (first["connector"], first["session"], first["status"]) == (str(one), f"#{session.pk}", "Accepted")
    assert (first["limit_kw"], first["limit_a"], first["draw_kw"]) == ("7.36", "10.7", "6.90")
    assert first["session_url"] == reverse("admin:sessions_app_chargingsession_change", args=[session.pk])
    assert (second["status"], second["limit_kw"], second["draw_kw"]) == ("Waiting for its turn", "0.00", "")
    assert live["limit"] == "32.0 A per phase (22.08 kW)"
    assert live["allocated_kw"] == "7.36" and live["draw_kw"] == "6.90"
    assert "taking turns of 15 minutes: 1 is waiting" in live["turns"]
    assert "Waiting for its turn" in page and "6.90" in page


def _reading(session, at: datetime, value, *, unit: str = "Wh", phase: str = "", context: str = "Sample.Periodic"):
    MeterValue.objects.create(
        charge_point=session.charge_point,
        connector=session.connector,
        session=session,
        timestamp=at,
        measurand="Energy.Active.Import.Register",
        phase=phase,
        value=Decimal(value),
        unit=unit,
        context=context,
    )


def test_the_month_is_summed_by_the_database_to_the_same_figures_as_reading_by_reading(world, group):
    """The database sums the rises within each quarter hour; the rest is spread in Python. Plain sessions (minute
    readings with microseconds, one on a boundary; sparse readings; a register that falls; none at all, over
    midnight; still charging) are summed, odd ones (kWh, phases, two readings at one time, a reading before the
    start) read one by one; the month's figures are those of every reading."""
    one, two = world.cp_a.connectors.get(number=1), world.cp_a.connectors.get(number=2)
    day = datetime(2026, 5, 5, 6, 0, tzinfo=UTC)
    minutes = make_session(one, world.alice_card, started_at=day + timedelta(seconds=20), energy_wh=9_000, minutes=50)
    for minute in range(1, 50):
        at = day + timedelta(minutes=minute, microseconds=500_000 if minute % 7 else 0)
        _reading(minutes, at, 1_000_000 + 181 * minute + (minute % 3))
    _reading(minutes, day + timedelta(minutes=15), 1_002_800, context="Sample.Clock")  # on the boundary
    sparse = make_session(two, world.bob_card, started_at=day + timedelta(minutes=3), energy_wh=12_000, minutes=100)
    for minute, wh in ((41, 1_004_000), (44, 1_003_000), (46, 1_005_000), (99, 1_011_000)):  # it falls once
        _reading(sparse, day + timedelta(minutes=minute), wh)
    make_session(one, world.alice_card, started_at=datetime(2026, 5, 9, 21, 50, tzinfo=UTC), energy_wh=4_000)
    running = make_session(two, world.bob_card, started_at=datetime(2026, 5, 31, 20, 0, tzinfo=UTC), energy_wh=None)
    _reading(running, datetime(2026, 5, 31, 21, 55, tzinfo=UTC), 1_020_000)
    _reading(running, datetime(2026, 5, 31, 22, 30, tzinfo=UTC), 1_029_000)  # 00:30 on 1 June, site time
    kwh = make_session(one, world.alice_card, started_at=datetime(2026, 5, 12, 8, 0, tzinfo=UTC), energy_wh=6_000)
    for minute in range(10, 60, 10):
        _reading(kwh, kwh.started_at + timedelta(minutes=minute), Decimal(1000) + Decimal(minute) / 10, unit="kWh")
    phases = make_session(two, world.bob_card, started_at=datetime(2026, 5, 12, 8, 5, tzinfo=UTC), energy_wh=9_000)
    for minute in range(10, 60, 10):
        for phase in ("L1", "L2", "L3"):
            _reading(phases, phases.started_at + timedelta(minutes=minute), 333_333 + 50 * minute, phase=phase)
    twice = make_session(one, world.alice_card, started_at=datetime(2026, 5, 20, 6, 0, tzinfo=UTC), energy_wh=5_000)
    _reading(twice, twice.started_at + timedelta(minutes=20), 1_002_000)
    _reading(twice, twice.started_at + timedelta(minutes=20), 1_001_000, context="Sample.Clock")
    early = make_session(two, world.bob_card, started_at=datetime(2026, 5, 21, 6, 0, tzinfo=UTC), energy_wh=5_000)
    _reading(early, early.started_at - timedelta(minutes=2), 999_000)
    _reading(early, early.started_at + timedelta(minutes=30), 1_003_000)

    start, end = month_period(date(2026, 5, 1), "Europe/Stockholm")
    sessions = ChargingSession.objects.filter(connector__charge_point=world.cp_a)
    left = _add_summed([0.0] * 3000, sessions, _meters(sessions, to_us(start)), start, end)
    assert left == {kwh.pk, phases.pk, twice.pk, early.pk}
    per_reading = site_power_per_reading(group, start, end)
    assert site_power(group, start, end) == per_reading
    assert sum(per_reading) > 0
    month = month_curve(group, date(2026, 5, 20))
    by_day = [per_reading[i : i + 96] for i in range(0, len(per_reading), 96)]  # May: no daylight-saving change
    assert [point.power_kw for point in month.points] == [max(quarters) for quarters in by_day]
