"""The fault log, failed starts and zero-energy sessions, and the "needs attention" ranking."""

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from openpyxl import load_workbook

from reporting.faults import fault_log, needs_attention, start_figures
from reporting.models import OutageExclusion
from reporting.rollups import rollups_rebuild
from sessions_app.models import StatusEvent
from tests.factories import make_charge_point, make_connector_hour, make_session

NOW = datetime(2026, 4, 5, 12, 0, tzinfo=UTC)
# March 2026 in Stockholm: 00:00 CET on 1 March to 00:00 CEST on 1 April.
MARCH = (datetime(2026, 2, 28, 23, tzinfo=UTC), datetime(2026, 3, 31, 22, tzinfo=UTC))


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def status(cp, number: int | None, value: str, at: datetime, error_code: str = "NoError", **fields) -> None:
    connector = cp.connectors.get(number=number) if number else None
    StatusEvent.objects.create(
        charge_point=cp, connector=connector, status=value, error_code=error_code, timestamp=at, **fields
    )


def test_a_fault_runs_from_its_first_report_until_a_report_that_is_neither_faulted_nor_an_error(world):
    cp = world.cp_a
    status(cp, 1, "Available", utc(2026, 3, 2, 8))
    status(cp, 1, "Faulted", utc(2026, 3, 2, 9), "GroundFailure", vendor_error_code="E-12", info="RCD tripped")
    status(cp, 1, "Faulted", utc(2026, 3, 2, 9, 10), "GroundFailure")  # the charger repeats itself
    status(cp, 1, "Available", utc(2026, 3, 2, 10, 30))
    status(cp, 2, "Charging", utc(2026, 3, 3, 10))
    status(cp, 2, "Faulted", utc(2026, 3, 3, 11), "OverCurrentFailure")
    status(cp, None, "Available", utc(2026, 3, 4, 12), "WeakSignal")  # an error code without Faulted
    status(cp, None, "Available", utc(2026, 3, 4, 12, 5))
    status(world.cp_b, 1, "Faulted", utc(2026, 3, 2, 9), "GroundFailure")

    faults = fault_log(organization=world.org_a, start=MARCH[0], end=MARCH[1])
    assert [(f.connector.number if f.connector else 0, f.error_code, f.is_open) for f in faults] == [
        (2, "OverCurrentFailure", True),  # open faults first
        (0, "WeakSignal", False),  # then the cleared ones, latest first
        (1, "GroundFailure", False),
    ]
    open_fault, station, ground = faults
    assert (ground.started_at, ground.cleared_at) == (utc(2026, 3, 2, 9), utc(2026, 3, 2, 10, 30))
    assert ground.duration(NOW) == timedelta(minutes=90)
    assert (ground.vendor_error_code, ground.info) == ("E-12", "RCD tripped")
    assert station.connector is None and station.duration(NOW) == timedelta(minutes=5)
    assert open_fault.cleared_at is None and open_fault.duration(NOW) == NOW - utc(2026, 3, 3, 11)
    assert all(f.charge_point == cp for f in faults)


def test_the_period_holds_faults_open_at_any_moment_of_it(world):
    cp = world.cp_a
    status(cp, 1, "Faulted", utc(2026, 2, 10), "HighTemperature")  # cleared before March
    status(cp, 1, "Available", utc(2026, 2, 11))
    status(cp, 1, "Faulted", utc(2026, 2, 27), "ConnectorLockFailure")  # began in February, cleared in March
    status(cp, 1, "Faulted", utc(2026, 2, 28, 12), "ConnectorLockFailure")
    status(cp, 1, "Available", utc(2026, 3, 1, 6))
    status(cp, 2, "Faulted", utc(2026, 1, 5), "PowerMeterFailure")  # never cleared
    status(cp, 2, "Faulted", utc(2026, 4, 2), "PowerMeterFailure")  # a repeat, in April: still the same fault
    status(cp, 1, "Faulted", utc(2026, 4, 1), "ReaderFailure")  # after March
    faults = fault_log(organization=world.org_a, start=MARCH[0], end=MARCH[1])
    assert [(f.error_code, f.started_at, f.cleared_at) for f in faults] == [
        ("PowerMeterFailure", utc(2026, 1, 5), None),
        ("ConnectorLockFailure", utc(2026, 2, 27), utc(2026, 3, 1, 6)),
    ]
    in_force = fault_log(organization=world.org_a, start=utc(2026, 2, 28), end=utc(2026, 2, 28))
    assert [f.error_code for f in in_force] == ["PowerMeterFailure", "ConnectorLockFailure"]


def test_only_the_chosen_station_and_never_another_operators(world):
    other = make_charge_point(world.site_a, "ALPHA-2", connectors=1)
    status(world.cp_a, 1, "Faulted", utc(2026, 3, 2), "GroundFailure")
    status(other, 1, "Faulted", utc(2026, 3, 3), "ReaderFailure")
    status(world.cp_b, 1, "Faulted", utc(2026, 3, 4), "OtherError")
    assert [
        f.error_code for f in fault_log(organization=world.org_a, start=MARCH[0], end=MARCH[1], charge_point=other)
    ] == ["ReaderFailure"]
    assert {f.charge_point.ocpp_id for f in fault_log(organization=world.org_a, start=MARCH[0], end=MARCH[1])} == {
        "ALPHA-1",
        "ALPHA-2",
    }


def _session(connector, at: datetime, *, energy_wh: int | None = 5000, auth: str = "Accepted"):
    session = make_session(connector, None, started_at=at, energy_wh=energy_wh, minutes=30)
    if auth != "Accepted":
        session.auth_status = auth
        session.save(update_fields=["auth_status"])
    return session


def test_failed_starts_and_zero_energy_sessions_per_connector_from_the_rollups(world):
    one, two = world.cp_a.connectors.order_by("number")
    _session(one, utc(2026, 3, 3, 8))
    _session(one, utc(2026, 3, 3, 9), energy_wh=0)
    _session(one, utc(2026, 3, 3, 10), auth="Blocked")
    _session(one, utc(2026, 3, 3, 11), auth="Invalid")
    _session(one, utc(2026, 2, 27, 11), auth="Invalid")  # February
    _session(world.cp_b.connectors.first(), utc(2026, 3, 3, 8), auth="Blocked")
    rollups_rebuild(now=NOW)
    figures = {f.connector.number: f for f in start_figures(organization=world.org_a, start=MARCH[0], end=MARCH[1])}
    assert (figures[1].sessions, figures[1].failed_starts, figures[1].zero_energy) == (2, 2, 1)
    assert figures[1].success_rate == Decimal("25.0")  # 1 of 4 attempts delivered energy
    assert (figures[2].sessions, figures[2].failed_starts, figures[2].success_rate) == (0, 0, None)
    assert set(figures) == {1, 2}


# --- needs attention --------------------------------------------------------------------------------


def _hour(connector, at: datetime, **columns) -> None:
    make_connector_hour(connector, at, **columns)


@pytest.fixture
def troubled(world):
    """ALPHA-1 with a repeated and an open fault, ALPHA-2 with failed starts and a falling success rate,
    ALPHA-3 with nothing wrong; BETA-1 with an open fault of its own."""
    alpha1 = world.cp_a
    alpha2 = make_charge_point(world.site_a, "ALPHA-2", connectors=1)
    make_charge_point(world.site_a, "ALPHA-3", connectors=1)
    status(alpha1, 1, "Faulted", utc(2026, 3, 10, 10), "GroundFailure")
    status(alpha1, 1, "Available", utc(2026, 3, 10, 11))
    status(alpha1, 1, "Faulted", utc(2026, 3, 20, 10), "GroundFailure")  # still open now
    status(world.cp_b, 1, "Faulted", utc(2026, 3, 5), "OtherError")
    rollups_rebuild(now=NOW)
    connector = alpha2.connectors.get()
    _hour(connector, utc(2026, 2, 10, 8), sessions=10)  # previous period: 10 of 10 attempts delivered
    _hour(connector, utc(2026, 3, 12, 8), sessions=4, failed_starts=3, zero_energy=1)  # now 3 of 7
    return world


def test_stations_are_ranked_by_their_signals_with_the_reasons_shown(troubled):
    stations = needs_attention(organization=troubled.org_a, start=MARCH[0], end=MARCH[1], now=NOW)
    assert [s.charge_point.ocpp_id for s in stations] == ["ALPHA-1", "ALPHA-2"]
    alpha1, alpha2 = stations
    # Connector 1 of ALPHA-1 was down 1 h + 20 March 10:00 to the end of March (276 h) of 743 h: 62.72 %.
    assert [(r.text, r.points) for r in alpha1.reasons] == [
        ("1 open fault(s): #1 GroundFailure", 10),
        ("GroundFailure 2 times", 3),
        ("#1 uptime 62.72 % (target 97 %)", 5 + 34),
    ]
    assert alpha1.score == 52
    assert [(r.text, r.points) for r in alpha2.reasons] == [
        ("#1 3 failed start(s)", 3),
        ("#1 1 zero-energy session(s)", 2),
        ("#1 success rate 100.0 % → 42.9 %", 5 + 4),  # fell 57.1 points: 5, plus 4 for the 40 beyond the first 10
    ]
    assert alpha2.score == 14

    midway = needs_attention(organization=troubled.org_a, start=MARCH[0], end=MARCH[1], now=utc(2026, 3, 25))
    assert midway[0].reasons[0].text == "1 open fault(s): #1 GroundFailure"  # the period is still running


def test_an_excluded_outage_does_not_count_against_uptime_in_the_ranking(troubled):
    OutageExclusion.objects.create(
        organization=troubled.org_a,
        charge_point=troubled.cp_a,
        start=utc(2026, 3, 20, 9),
        end=utc(2026, 4, 1),
        reason="planned_maintenance",
    )
    stations = needs_attention(organization=troubled.org_a, start=MARCH[0], end=MARCH[1], now=NOW)
    assert [s.charge_point.ocpp_id for s in stations] == ["ALPHA-2", "ALPHA-1"]  # 14 points against 13 now
    alpha1 = stations[1]
    assert [r.text for r in alpha1.reasons] == ["1 open fault(s): #1 GroundFailure", "GroundFailure 2 times"]


def test_a_small_drop_or_too_few_attempts_is_not_a_falling_success_rate(world):
    connector = make_charge_point(world.site_a, "ALPHA-2", connectors=1).connectors.get()
    _hour(connector, utc(2026, 2, 10, 8), sessions=20)
    _hour(connector, utc(2026, 3, 12, 8), sessions=20, zero_energy=1)  # 95 %: 5 points lower
    _hour(world.cp_a.connectors.get(number=1), utc(2026, 2, 10, 8), sessions=4)
    _hour(world.cp_a.connectors.get(number=1), utc(2026, 3, 12, 8), failed_starts=4)  # 0 %, but only 4 attempts
    stations = needs_attention(organization=world.org_a, start=MARCH[0], end=MARCH[1], now=NOW)
    assert [(s.charge_point.ocpp_id, [r.text for r in s.reasons]) for s in stations] == [
        ("ALPHA-1", ["#1 4 failed start(s)"]),
        ("ALPHA-2", ["#1 1 zero-energy session(s)"]),
    ]


# --- the admin pages ---------------------------------------------------------------------------------

PARAMS = {"period": "month", "day": "2026-03-15"}


@pytest.fixture
def at_now():
    with time_machine.travel(NOW, tick=False):
        yield


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_the_fault_log_page_and_its_exports(client, troubled, at_now):
    client.force_login(troubled.carol)
    page = client.get(reverse("admin:reporting_faults"), PARAMS)
    assert page.status_code == 200
    assert b"GroundFailure" in page.content and b"OtherError" not in page.content
    faults = _csv(client.get(reverse("admin:reporting_faults"), {**PARAMS, "format": "csv"}))
    assert faults[0][:3] == ["Station", "Connector", "Error code"]
    assert [(row[0], row[1], row[2], row[6], row[7], row[8], row[9]) for row in faults[1:]] == [
        ("ALPHA-1", "1", "GroundFailure", "2026-03-20 11:00", "", str(16 * 24 * 60 + 2 * 60), "yes"),  # until NOW
        ("ALPHA-1", "1", "GroundFailure", "2026-03-10 11:00", "2026-03-10 12:00", "60", ""),
    ]
    starts = _csv(client.get(reverse("admin:reporting_faults"), {**PARAMS, "format": "csv", "table": "starts"}))
    assert ["ALPHA-2", "1", "4", "3", "1", "42.9"] in starts
    book = load_workbook(
        io.BytesIO(client.get(reverse("admin:reporting_faults"), {**PARAMS, "format": "xlsx"}).content)
    )
    assert [sheet.title for sheet in book.worksheets] == ["Fault log", "Starts"]
    assert book.worksheets[0].max_row == 3


def test_the_attention_page_shows_the_ranking_and_why(client, troubled, at_now):
    client.force_login(troubled.carol)
    page = client.get(reverse("admin:reporting_attention"), PARAMS)
    assert page.status_code == 200
    content = page.content.decode()
    assert content.index("ALPHA-1") < content.index("ALPHA-2") and "ALPHA-3" not in content
    assert "GroundFailure 2 times (3)" in content and "BETA-1" not in content
    rows = _csv(client.get(reverse("admin:reporting_attention"), {**PARAMS, "format": "csv"}))
    assert [row[:4] for row in rows[1:]] == [
        ["1", "ALPHA-1", "Alpha Depot", "52"],
        ["2", "ALPHA-2", "Alpha Depot", "14"],
    ]


def test_dave_sees_beta_only_and_gets_a_404_for_an_alpha_station(client, troubled, at_now):
    client.force_login(troubled.dave)
    assert (
        client.get(reverse("admin:reporting_faults"), {**PARAMS, "charge_point": troubled.cp_a.pk}).status_code == 404
    )
    faults = _csv(client.get(reverse("admin:reporting_faults"), {**PARAMS, "format": "csv"}))
    assert [row[:3] for row in faults[1:]] == [["BETA-1", "1", "OtherError"]]
    rows = _csv(client.get(reverse("admin:reporting_attention"), {**PARAMS, "format": "csv"}))
    assert [row[1] for row in rows[1:]] == ["BETA-1"]


def test_carol_cannot_ask_for_beta(client, troubled, at_now):
    client.force_login(troubled.carol)
    faults = _csv(
        client.get(reverse("admin:reporting_faults"), {**PARAMS, "organization": troubled.org_b.pk, "format": "csv"})
    )
    assert {row[0] for row in faults[1:]} == {"ALPHA-1"}
    assert (
        client.get(reverse("admin:reporting_faults"), {**PARAMS, "charge_point": troubled.cp_b.pk}).status_code == 404
    )


def test_the_admin_index_lists_the_maintenance_pages_for_operators(client, world):
    client.force_login(world.carol)
    index = client.get(reverse("admin:index")).content.decode()
    for name in ("admin:reporting_uptime", "admin:reporting_faults", "admin:reporting_attention"):
        assert reverse(name) in index
    world.carol.groups.clear()  # staff without the right to see status events: no pages, no links
    assert reverse("admin:reporting_faults") not in client.get(reverse("admin:index")).content.decode()
    assert client.get(reverse("admin:reporting_faults"), PARAMS).status_code == 403
