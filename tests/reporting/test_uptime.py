"""Uptime per connector and month by the NEVI rule, on hand-built status events and connections."""

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine
from django.db.models import Sum
from django.urls import reverse
from openpyxl import load_workbook

from core.timeutil import seconds
from reporting.models import ConnectorHour, OutageExclusion
from reporting.rollups import rollups_rebuild
from reporting.uptime import connector_downtime, uptime_by_month
from sessions_app.models import ChargerConnection, StatusEvent
from tests.factories import make_charge_point

NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def status(cp, number: int | None, value: str, at: datetime, error_code: str = "NoError") -> None:
    connector = cp.connectors.get(number=number) if number else None
    StatusEvent.objects.create(charge_point=cp, connector=connector, status=value, error_code=error_code, timestamp=at)


def fault(cp, number: int | None, start: datetime, end: datetime | None, value: str = "Faulted") -> None:
    status(cp, number, value, start, "GroundFailure" if value == "Faulted" else "NoError")
    if end is not None:
        status(cp, number, "Available", end)


def connected(cp, *periods: tuple[datetime, datetime | None]) -> None:
    for start, end in periods:
        ChargerConnection.objects.create(charge_point=cp, connected_at=start, disconnected_at=end)


def figures(organization, first: date, last: date, now: datetime = NOW, **kwargs) -> dict:
    """(connector number, "YYYY-MM") -> Uptime, after rebuilding the rollups from the raw rows."""
    rollups_rebuild(organization=organization, now=now)
    return {
        (row.connector.number, f"{row.month:%Y-%m}"): row
        for row in uptime_by_month(organization=organization, first_month=first, last_month=last, now=now, **kwargs)
    }


def test_an_outage_across_midnight_and_the_month_end_is_split_between_the_local_months(world):
    cp = world.cp_a
    fault(cp, 1, utc(2026, 3, 10, 21, 30), utc(2026, 3, 11, 0, 15))  # 22:30 to 01:15 Stockholm time (CET)
    fault(cp, 1, utc(2026, 3, 31, 21, 0), utc(2026, 4, 1, 0, 0))  # 23:00 on 31 March to 02:00 on 1 April (CEST)
    rows = figures(world.org_a, date(2026, 3, 1), date(2026, 4, 1))

    march, april = rows[(1, "2026-03")], rows[(1, "2026-04")]
    assert march.period_minutes == 31 * 24 * 60 - 60  # the spring-forward hour does not exist
    assert (march.outage_minutes, march.excluded_minutes) == (165 + 60, 0)
    assert march.uptime == Decimal("99.50")  # (44580 - 225) / 44580
    assert (april.period_minutes, april.outage_minutes) == (30 * 24 * 60, 120)
    assert april.uptime == Decimal("99.72")
    assert not march.below_target and not april.below_target
    assert rows[(2, "2026-03")].outage_minutes == 0 and rows[(2, "2026-03")].uptime == Decimal("100.00")


@pytest.mark.parametrize(
    ("month", "hours", "start", "end"),
    [
        # 01:30 CET to 03:30 CEST on 29 March: the clock jumps an hour, one hour passes.
        (date(2026, 3, 1), 743, utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 1, 30)),
        # 02:30 CEST to 02:30 CET on 25 October: the clock shows the same time, one hour passes.
        (date(2026, 10, 1), 745, utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30)),
    ],
)
def test_daylight_saving_months_have_their_real_length_and_outages_their_real_duration(world, month, hours, start, end):
    fault(world.cp_a, 1, start, end)
    row = figures(world.org_a, month, month)[(1, f"{month:%Y-%m}")]
    assert row.period_minutes == hours * 60
    assert row.outage_minutes == 60
    assert row.uptime == (Decimal(hours * 60 - 60) / (hours * 60) * 100).quantize(Decimal("0.01"))


def test_excluded_minutes_count_only_where_the_connector_was_down(world):
    cp = world.cp_a
    fault(cp, 1, utc(2026, 6, 10, 10), utc(2026, 6, 10, 12))
    OutageExclusion.objects.create(
        organization=world.org_a,
        charge_point=cp,
        start=utc(2026, 6, 10, 11),
        end=utc(2026, 6, 10, 13),
        reason="planned_maintenance",
    )
    OutageExclusion.objects.create(
        organization=world.org_a,
        charge_point=cp,
        connector=cp.connectors.get(number=2),
        start=utc(2026, 6, 10, 9),
        end=utc(2026, 6, 10, 12),
        reason="vandalism",
    )
    rows = figures(world.org_a, date(2026, 6, 1), date(2026, 6, 1))
    one, two = rows[(1, "2026-06")], rows[(2, "2026-06")]
    assert (one.outage_minutes, one.excluded_minutes, one.counted_minutes) == (120, 60, 60)
    assert one.uptime == Decimal("99.86")  # (43200 - (120 - 60)) / 43200
    assert (two.outage_minutes, two.excluded_minutes, two.uptime) == (0, 0, Decimal("100.00"))


def test_a_faulted_connector_on_an_offline_station_is_not_counted_twice(world):
    cp = world.cp_a
    connected(cp, (utc(2026, 7, 1), utc(2026, 7, 10, 11)), (utc(2026, 7, 10, 13), None))
    fault(cp, 1, utc(2026, 7, 10, 10), utc(2026, 7, 10, 12))
    rows = figures(world.org_a, date(2026, 7, 1), date(2026, 7, 1))
    # The station was offline 11:00-13:00, the connector faulted 10:00-12:00: down 10:00-13:00. The two hours
    # of July before the station's first connection ever (it starts at 22:00 UTC on 30 June) are not outage.
    assert rows[(1, "2026-07")].outage_minutes == 180
    assert rows[(2, "2026-07")].outage_minutes == 120
    hours = ConnectorHour.objects.filter(connector__number=1, charge_point=cp).aggregate(
        outage=Sum("outage_s"), offline=Sum("offline_s")
    )
    assert hours["outage"] + hours["offline"] == 240 * 60  # what adding the two columns would have said


def test_a_station_wide_unavailable_status_takes_every_connector_down(world):
    fault(world.cp_a, None, utc(2026, 8, 5, 8), utc(2026, 8, 5, 9), value="Unavailable")
    fault(world.cp_a, 2, utc(2026, 8, 5, 8, 30), utc(2026, 8, 5, 9, 30))
    rows = figures(world.org_a, date(2026, 8, 1), date(2026, 8, 1))
    assert rows[(1, "2026-08")].outage_minutes == 60
    assert rows[(2, "2026-08")].outage_minutes == 90


def test_a_connector_under_97_percent_is_flagged(world):
    fault(world.cp_a, 1, utc(2026, 9, 1, 0), utc(2026, 9, 2, 0))  # a day of 30: 96.67 %
    fault(world.cp_a, 2, utc(2026, 9, 1, 0), utc(2026, 9, 1, 21, 36))  # 21.6 h of 720: exactly 97 %
    rows = figures(world.org_a, date(2026, 9, 1), date(2026, 9, 1))
    assert rows[(1, "2026-09")].uptime == Decimal("96.67") and rows[(1, "2026-09")].below_target
    assert rows[(2, "2026-09")].uptime == Decimal("97.00") and not rows[(2, "2026-09")].below_target


def test_the_running_month_counts_up_to_now_and_later_months_are_left_out(world):
    connected(world.cp_a, (utc(2026, 10, 20), utc(2026, 11, 10, 11)))  # still offline now
    rows = figures(world.org_a, date(2026, 11, 1), date(2026, 12, 1))
    assert set(rows) == {(1, "2026-11"), (2, "2026-11")}
    november = rows[(1, "2026-11")]
    assert november.period_minutes == (9 * 24 + 13) * 60  # from 23:00 UTC on 31 October to noon on 10 November
    assert november.outage_minutes == 60


def test_the_rollups_give_the_same_outage_as_the_raw_intervals(world):
    cp = world.cp_a
    connected(
        cp,
        (utc(2026, 5, 2), utc(2026, 5, 3, 10, 17)),
        (utc(2026, 5, 3, 12, 41), utc(2026, 5, 20)),
        (utc(2026, 5, 21, 6, 5), None),
    )
    fault(cp, 1, utc(2026, 5, 3, 9, 59, 30), utc(2026, 5, 3, 11, 0, 10))
    status(cp, 1, "Faulted", utc(2026, 5, 19, 23, 50), "OverCurrentFailure")
    status(cp, 1, "Unavailable", utc(2026, 5, 20, 1, 2))
    status(cp, 1, "Charging", utc(2026, 5, 21, 7))
    fault(cp, None, utc(2026, 5, 25, 3, 3), utc(2026, 5, 25, 4, 4))
    fault(cp, 2, utc(2026, 4, 30, 20), utc(2026, 5, 1, 3))  # in force when May starts
    rows = figures(world.org_a, date(2026, 5, 1), date(2026, 5, 1))
    start, end = datetime(2026, 4, 30, 22, tzinfo=UTC), datetime(2026, 5, 31, 22, tzinfo=UTC)
    raw = connector_downtime(connectors=list(cp.connectors.all()), start=start, end=end, now=NOW)
    for connector in cp.connectors.all():
        assert rows[(connector.number, "2026-05")].outage_s == seconds(raw[connector.pk].outage)
    assert rows[(2, "2026-05")].outage_s == seconds(raw[cp.connectors.get(number=2).pk].outage) > 5 * 3600


def test_other_organizations_stations_never_count(world):
    fault(world.cp_b, 1, utc(2026, 6, 1), utc(2026, 6, 20))
    make_charge_point(world.site_a, "ALPHA-2", connectors=1)
    rollups_rebuild(now=NOW)
    rows = uptime_by_month(organization=world.org_a, first_month=date(2026, 6, 1), last_month=date(2026, 6, 1), now=NOW)
    assert sorted((str(row.connector.charge_point), row.connector.number) for row in rows) == [
        ("ALPHA-1", 1),
        ("ALPHA-1", 2),
        ("ALPHA-2", 1),
    ]
    assert all(row.outage_s == 0 for row in rows)


# --- the admin page -------------------------------------------------------------------------------

PARAMS = {"first_month": "2026-06", "last_month": "2026-06"}


@pytest.fixture
def june(world):
    fault(world.cp_a, 1, utc(2026, 6, 1), utc(2026, 6, 2))
    fault(world.cp_b, 1, utc(2026, 6, 1), utc(2026, 6, 3))
    rollups_rebuild(now=NOW)
    return world


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_the_uptime_page_flags_connectors_under_target_and_exports_the_same_numbers(client, june):
    client.force_login(june.carol)
    page = client.get(reverse("admin:reporting_uptime"), PARAMS)
    assert page.status_code == 200
    assert b'class="below"' in page.content and b"ALPHA-1" in page.content and b"BETA-1" not in page.content
    rows = _csv(client.get(reverse("admin:reporting_uptime"), {**PARAMS, "format": "csv"}))
    assert rows[0][:4] == ["Station", "Connector", "Site", "Month"]
    assert rows[1:] == [
        ["ALPHA-1", "1", "Alpha Depot", "2026-06", "43200", "1440", "0", "1440", "96.67", "yes"],
        ["ALPHA-1", "2", "Alpha Depot", "2026-06", "43200", "0", "0", "0", "100.00", ""],
    ]
    book = load_workbook(
        io.BytesIO(client.get(reverse("admin:reporting_uptime"), {**PARAMS, "format": "xlsx"}).content)
    )
    sheet = book.worksheets[0]
    assert [cell.value for cell in sheet[2]][:9] == [
        "ALPHA-1",
        1,
        "Alpha Depot",
        "2026-06",
        43200,
        1440,
        0,
        1440,
        96.67,
    ]
    only_below = _csv(client.get(reverse("admin:reporting_uptime"), {**PARAMS, "below_target": "on", "format": "csv"}))
    assert [row[1] for row in only_below[1:]] == ["1"]


def test_carol_sees_only_her_stations_whatever_she_asks_for(client, june):
    client.force_login(june.carol)
    rows = _csv(
        client.get(reverse("admin:reporting_uptime"), {**PARAMS, "organization": june.org_b.pk, "format": "csv"})
    )
    assert {row[0] for row in rows[1:]} == {"ALPHA-1"}
    assert client.get(reverse("admin:reporting_uptime"), {**PARAMS, "charge_point": june.cp_b.pk}).status_code == 404


def test_dave_gets_a_404_for_an_alpha_station_and_sees_only_beta(client, june):
    client.force_login(june.dave)
    assert client.get(reverse("admin:reporting_uptime"), {**PARAMS, "charge_point": june.cp_a.pk}).status_code == 404
    rows = _csv(client.get(reverse("admin:reporting_uptime"), {**PARAMS, "format": "csv"}))
    assert [row[:2] + row[8:9] for row in rows[1:]] == [["BETA-1", "1", "93.33"], ["BETA-1", "2", "100.00"]]


def test_the_superuser_chooses_the_operator_and_drivers_are_kept_out(client, june):
    client.force_login(june.admin)
    rows = _csv(
        client.get(reverse("admin:reporting_uptime"), {**PARAMS, "organization": june.org_b.pk, "format": "csv"})
    )
    assert {row[0] for row in rows[1:]} == {"BETA-1"}
    client.force_login(june.alice)
    assert client.get(reverse("admin:reporting_uptime"), PARAMS).status_code == 302  # to the login page


def test_an_operator_records_an_exclusion_for_its_own_station_only(client, june):
    form = {
        "connector": "",
        "start_0": "2026-06-01",
        "start_1": "02:00:00",
        "end_0": "2026-06-01",
        "end_1": "04:00:00",
        "reason": "grid_outage",
        "note": "Grid work",
    }
    client.force_login(june.dave)
    refused = client.post(reverse("admin:reporting_outageexclusion_add"), {**form, "charge_point": june.cp_a.pk})
    assert refused.status_code == 200 and not OutageExclusion.objects.exists()  # not a choice for dave

    client.force_login(june.carol)
    wrong_connector = client.post(
        reverse("admin:reporting_outageexclusion_add"),
        {**form, "charge_point": june.cp_a.pk, "connector": june.cp_b.connectors.first().pk},
    )
    assert wrong_connector.status_code == 200 and not OutageExclusion.objects.exists()
    done = client.post(reverse("admin:reporting_outageexclusion_add"), {**form, "charge_point": june.cp_a.pk})
    assert done.status_code == 302
    exclusion = OutageExclusion.objects.get()
    assert exclusion.organization == june.org_a
    assert exclusion.start == utc(2026, 6, 1)  # 02:00 in Stockholm (CEST) is 00:00 UTC
    rows = _csv(client.get(reverse("admin:reporting_uptime"), {**PARAMS, "format": "csv"}))
    assert rows[1][5:9] == ["1440", "120", "1320", "96.94"]


def test_without_a_choice_the_page_shows_the_running_month_and_the_two_before(client, world):
    client.force_login(world.carol)
    with time_machine.travel(NOW, tick=False):
        page = client.get(reverse("admin:reporting_uptime"))
        rows = _csv(client.get(reverse("admin:reporting_uptime"), {"format": "csv"}))
    assert page.status_code == 200 and b'<option value="2026-09" selected>' in page.content
    assert sorted({row[3] for row in rows[1:]}) == ["2026-09", "2026-10", "2026-11"]
