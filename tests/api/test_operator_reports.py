"""Operators' reports over the API: revenue, reconciliation, overview and uptime, with the admin pages' parameters.

The figures are the report selectors' own (tested in tests/billing and tests/reporting); here: the
parameters, the shape of the answer, and that only the caller's operator is ever counted.
"""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from rest_framework.test import APIClient

from billing.ledger import session_charge_book
from billing.models import SessionPrice
from reporting.models import ConnectorHour
from reporting.rollups import rollups_rebuild
from sessions_app.models import StatusEvent
from tests.factories import make_connector_hour, make_session, make_tariff

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
MARCH = {"period": "custom", "start": "2026-03-01", "end": "2026-03-31"}


@pytest.fixture
def api(carol_api) -> APIClient:
    return carol_api


def _priced(connector, card, at: datetime, energy_wh: int, gross: str, tariff=None) -> SessionPrice:
    session = make_session(connector, card, started_at=at, energy_wh=energy_wh)
    gross_total = Decimal(gross)
    net = (gross_total / Decimal("1.25")).quantize(Decimal("0.01"))
    price = SessionPrice.objects.create(
        session=session,
        tariff=tariff,
        tariff_snapshot={},
        breakdown=[],
        currency="SEK",
        energy_wh=energy_wh,
        net_total=net,
        vat_rate=Decimal("0.2500"),
        vat_amount=gross_total - net,
        gross_total=gross_total,
    )
    session_charge_book(price=price)
    return price


@pytest.fixture
def march(world):
    one, two = world.cp_a.connectors.order_by("number")
    tariff = make_tariff(world.org_a, "Standard")
    _priced(one, world.alice_card, datetime(2026, 3, 2, 10, tzinfo=UTC), 10_000, "40.00", tariff)
    _priced(two, world.bob_card, datetime(2026, 3, 20, 10, tzinfo=UTC), 20_000, "100.00", tariff)
    make_session(one, world.alice_card, started_at=datetime(2026, 3, 25, 10, tzinfo=UTC))  # not priced: a gap
    _priced(world.cp_b.connectors.first(), None, datetime(2026, 3, 3, 10, tzinfo=UTC), 99_000, "999.00")
    return world


# --- revenue and reconciliation -----------------------------------------------------------------------


def test_revenue_by_group_for_a_custom_period(api, march):
    response = api.get(reverse("api:operator_revenue"), {**MARCH, "group_by": "connector"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["period"]["first"] == "2026-03-01" and body["period"]["last"] == "2026-03-31"
    assert body["period"]["time_zone"] == "Europe/Stockholm"
    assert [(row["label"], row["sessions"], row["gross"]) for row in body["rows"]] == [
        ("ALPHA-1 #1", 1, "40.00"),
        ("ALPHA-1 #2", 1, "100.00"),
    ]
    [total] = body["totals"]
    assert (total["currency"], total["sessions"], total["energy_kwh"], total["gross"], total["net"]) == (
        "SEK",
        2,
        "30.000",
        "140.00",
        "112.00",
    )
    assert total["gross_per_kwh"] == "4.6667" and total["key"] is None


def test_revenue_by_day_uses_local_days(api, march):
    body = api.get(reverse("api:operator_revenue"), {**MARCH, "group_by": "day"}).json()
    assert [(row["key"], row["label"]) for row in body["rows"]] == [
        ("2026-03-02", "2026-03-02"),
        ("2026-03-20", "2026-03-20"),
    ]


@time_machine.travel(datetime(2026, 3, 20, 12, tzinfo=UTC), tick=False)
def test_the_default_period_is_the_running_month_as_on_the_admin_page(api, march):
    body = api.get(reverse("api:operator_revenue")).json()
    assert (body["period"]["first"], body["period"]["last"], body["group_by"]) == ("2026-03-01", "2026-03-31", "site")
    day = api.get(reverse("api:operator_revenue"), {"period": "day", "day": "2026-03-02"}).json()
    assert day["totals"][0]["gross"] == "40.00"
    week = api.get(reverse("api:operator_revenue"), {"period": "week"}).json()["period"]
    assert (week["first"], week["last"]) == ("2026-03-16", "2026-03-22")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"period": "custom", "start": "2026-03-01"}, "non_field_errors"),
        ({"period": "custom", "start": "2026-03-10", "end": "2026-03-01"}, "non_field_errors"),
        ({"period": "custom", "start": "2020-01-01", "end": "2026-03-01"}, "non_field_errors"),
        ({"period": "year"}, "period"),
        ({"day": "9999-12-31", "period": "day"}, "day"),
        ({"group_by": "colour"}, "group_by"),
    ],
)
def test_report_parameters_are_checked(api, world, params, field):
    response = api.get(reverse("api:operator_revenue"), params)
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]


def test_reconciliation_per_connector_with_its_gaps(api, march):
    response = api.get(reverse("api:operator_reconciliation"), MARCH)
    assert response.status_code == 200, response.content
    connectors = {row["number"]: row for row in response.json()["connectors"]}
    assert set(connectors) == {1, 2}
    assert {row["station_ocpp_id"] for row in connectors.values()} == {"ALPHA-1"}
    assert connectors[2]["billed_wh"] == 20_000
    gaps = [gap for row in connectors.values() for gap in row["gaps"]]
    assert [gap["kind"] for gap in gaps if gap["kind"] == "unpriced"] == ["unpriced"]


# --- overview and uptime ------------------------------------------------------------------------------


def _hour(connector, at: datetime, **columns) -> ConnectorHour:
    return make_connector_hour(connector, at, **columns)


def test_the_overview_of_a_week_in_progress_counts_and_compares_the_same_elapsed_part(api, world):
    one = world.cp_a.connectors.get(number=1)
    _hour(one, datetime(2026, 5, 5, 8, tzinfo=UTC), sessions=3)  # this Tuesday
    _hour(one, datetime(2026, 4, 28, 8, tzinfo=UTC), sessions=3)  # last Tuesday
    _hour(one, datetime(2026, 5, 1, 8, tzinfo=UTC), sessions=9)  # last Friday: after the same elapsed part
    with time_machine.travel(datetime(2026, 5, 7, 14, 25, tzinfo=UTC), tick=False):
        body = api.get(reverse("api:operator_overview"), {"period": "week"}).json()
    assert datetime.fromisoformat(body["period"]["as_of"]) == datetime(2026, 5, 7, 14, tzinfo=UTC)
    assert datetime.fromisoformat(body["previous_period"]["as_of"]) == datetime(2026, 4, 30, 14, tzinfo=UTC)
    assert (body["totals"]["sessions"], body["previous"]["sessions"]) == (3, 3)
    assert [row["label"] for row in body["series"]] == ["2026-05-04", "2026-05-05", "2026-05-06", "2026-05-07"]
    with time_machine.travel(datetime(2026, 5, 12, 9, tzinfo=UTC), tick=False):
        over = api.get(reverse("api:operator_overview"), {"period": "week", "day": "2026-05-05"}).json()
    assert over["period"]["as_of"] is None and over["previous"]["sessions"] == 12 and len(over["series"]) == 7


def test_the_overview_for_a_day_a_site_or_a_station(api, world):
    one = world.cp_a.connectors.get(number=1)
    _hour(
        one,
        datetime(2026, 5, 4, 22, tzinfo=UTC),
        sessions=1,
        energy_wh=9_000,
        revenue=Decimal("30.00"),
        occupied_s=3600,
        charging_s=2400,
    )
    _hour(world.cp_b.connectors.first(), datetime(2026, 5, 5, 10, tzinfo=UTC), sessions=7, occupied_s=3600)
    day = {"period": "day", "day": "2026-05-05"}
    response = api.get(reverse("api:operator_overview"), day)
    assert response.status_code == 200, response.content
    body = response.json()
    totals = body["totals"]
    assert (totals["sessions"], totals["energy_wh"], totals["revenue"], totals["idle_s"]) == (1, 9_000, "30.00", 1_200)
    assert totals["connectors"] == 2 and totals["utilization"] == "2.1"
    assert body["series_by_hour"] is True and len(body["series"]) == 24 and body["series"][0]["sessions"] == 1
    assert len(body["heatmap"]) == 7 and body["heatmap"][1][0] == 1  # Tuesday, midnight in Stockholm
    assert [station["label"] for station in body["stations"]] == ["ALPHA-1"]
    assert {trend["key"] for trend in body["trends"]} >= {"sessions", "utilization"}
    assert set(body["top_bottom"]) == {"top_utilization", "bottom_utilization", "top_energy", "bottom_energy"}
    assert body["period"]["first"] == body["period"]["last"] == "2026-05-05"
    assert body["previous_period"]["first"] == "2026-05-04"
    by_station = api.get(reverse("api:operator_overview"), {**day, "charge_point": world.cp_a.pk}).json()
    assert by_station["charge_point"] == world.cp_a.pk and by_station["totals"]["sessions"] == 1
    by_site = api.get(reverse("api:operator_overview"), {**day, "site": world.site_a.pk}).json()
    assert by_site["site"] == world.site_a.pk and by_site["demand"][0]["site_name"] == "Alpha Depot"


def test_the_overview_refuses_another_operators_site_or_station(api, world):
    url = reverse("api:operator_overview")
    assert api.get(url, {"site": world.site_b.pk}).status_code == 404
    assert api.get(url, {"charge_point": world.cp_b.pk}).status_code == 404
    assert api.get(url, {"charge_point": 999_999}).status_code == 404


def _fault(cp, number: int, start: datetime, end: datetime) -> None:
    connector = cp.connectors.get(number=number)
    StatusEvent.objects.create(
        charge_point=cp, connector=connector, status="Faulted", error_code="GroundFailure", timestamp=start
    )
    StatusEvent.objects.create(
        charge_point=cp, connector=connector, status="Available", error_code="NoError", timestamp=end
    )


@pytest.fixture
def june(world):
    _fault(world.cp_a, 1, datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 2, tzinfo=UTC))
    _fault(world.cp_b, 1, datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 3, tzinfo=UTC))
    rollups_rebuild(now=NOW)
    return world


@time_machine.travel(NOW, tick=False)
def test_uptime_per_connector_and_month(api, june):
    response = api.get(reverse("api:operator_uptime"), {"first_month": "2026-06", "last_month": "2026-06"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["first_month"], body["last_month"], body["target"]) == ("2026-06-01", "2026-06-01", "97.00")
    assert [
        (row["station_ocpp_id"], row["number"], row["month"], row["outage_minutes"], row["uptime"], row["below_target"])
        for row in body["rows"]
    ] == [("ALPHA-1", 1, "2026-06-01", 1440, "96.67", True), ("ALPHA-1", 2, "2026-06-01", 0, "100.00", False)]
    below = api.get(
        reverse("api:operator_uptime"), {"first_month": "2026-06", "last_month": "2026-06", "below_target": "true"}
    ).json()
    assert [row["number"] for row in below["rows"]] == [1]


@time_machine.travel(NOW, tick=False)
def test_uptime_defaults_to_the_running_month_and_the_two_before(api, june):
    body = api.get(reverse("api:operator_uptime")).json()
    assert (body["first_month"], body["last_month"]) == ("2026-09-01", "2026-11-01")
    assert {row["month"] for row in body["rows"]} == {"2026-09-01", "2026-10-01", "2026-11-01"}


@time_machine.travel(NOW, tick=False)
def test_uptime_parameters_and_stations_are_checked(api, june):
    url = reverse("api:operator_uptime")
    assert api.get(url, {"charge_point": june.cp_b.pk}).status_code == 404
    assert api.get(url, {"first_month": "2020-01"}).status_code == 400
    assert api.get(url, {"first_month": "2026-11", "last_month": "2026-06"}).status_code == 400
    assert api.get(url, {"first_month": "June"}).status_code == 400
    only = api.get(url, {"charge_point": june.cp_a.pk, "first_month": "2026-06", "last_month": "2026-06"}).json()
    assert {row["station_ocpp_id"] for row in only["rows"]} == {"ALPHA-1"}
