"""The prices page: one table per site, one row per connector type with its power range, live availability and price."""

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.price_groups import sites_with_prices_for_driver
from billing.services import tariff_assignment_create
from sessions_app.models import ChargePoint, Connector
from tests.factories import make_charge_point, make_site, make_tariff

pytestmark = pytest.mark.django_db


def online(*charge_points: ChargePoint) -> None:
    for cp in charge_points:
        ChargePoint.objects.filter(pk=cp.pk).update(channel_name=f"specific.test!{cp.pk}", last_seen_at=timezone.now())


@pytest.fixture
def depot(world):
    """Alpha Depot: ALPHA-1 (two Type 2 at 22 kW, one charging) and ALPHA-2 (a 7.4 kW Type 2 and a 150 kW CCS),
    both online; Alpha Harbour: ALPHA-H offline."""
    Connector.objects.filter(charge_point=world.cp_a).update(max_power_kw=Decimal("22.0"), status="Available")
    Connector.objects.filter(charge_point=world.cp_a, number=1).update(status="Charging")
    second = make_charge_point(world.site_a, "ALPHA-2", connectors=2)
    Connector.objects.filter(charge_point=second, number=1).update(max_power_kw=Decimal("7.4"), status="Available")
    Connector.objects.filter(charge_point=second, number=2).update(
        connector_type="ccs2", max_power_kw=Decimal("150.0"), status="Available"
    )
    harbour = make_charge_point(make_site(world.org_a, "Alpha Harbour"), "ALPHA-H", connectors=3)
    Connector.objects.filter(charge_point=harbour).update(status="Available")
    online(world.cp_a, second)
    return {"second": second, "harbour": harbour}


def test_one_row_per_connector_type_with_power_range_and_free_count(world, depot):
    tariff_assignment_create(tariff=make_tariff(world.org_a, "Standard", energy="4.95"))

    sites = sites_with_prices_for_driver(user=world.alice, at=timezone.now())

    assert [s.site.name for s in sites] == ["Alpha Depot", "Alpha Harbour"]
    depot_rows = {row.connector_type: row for row in sites[0].rows}
    assert set(depot_rows) == {"type2", "ccs2"} and [r.connector_type for r in sites[0].rows] == ["ccs2", "type2"]
    type2, ccs = depot_rows["type2"], depot_rows["ccs2"]
    assert (type2.min_kw, type2.max_kw, type2.connectors, type2.free) == (Decimal("7.4"), Decimal("22.0"), 3, 2)
    assert (ccs.min_kw, ccs.max_kw, ccs.connectors, ccs.free) == (Decimal("150.0"), Decimal("150.0"), 1, 1)
    assert len(type2.prices) == 1 and type2.prices[0].price["name"] == "Standard"
    harbour = sites[1].rows
    assert len(harbour) == 1 and (harbour[0].connectors, harbour[0].free) == (3, 0)  # offline: none free


def test_different_prices_within_a_type_name_their_stations(world, depot):
    tariff_assignment_create(tariff=make_tariff(world.org_a, "Site price", energy="4.00"), site=world.site_a)
    tariff_assignment_create(tariff=make_tariff(world.org_a, "Slow", energy="3.00"), charge_point=depot["second"])

    sites = sites_with_prices_for_driver(user=world.alice, at=timezone.now())

    type2 = next(row for row in sites[0].rows if row.connector_type == "type2")
    assert {(o.price["name"], tuple(cp.ocpp_id for cp in o.stations)) for o in type2.prices} == {
        ("Site price", ("ALPHA-1",)),
        ("Slow", ("ALPHA-2",)),
    }


def test_the_page_has_one_table_per_site_and_no_other_operators_stations(client, world, depot):
    tariff_assignment_create(tariff=make_tariff(world.org_a, "Standard", energy="4.95"))
    tariff_assignment_create(tariff=make_tariff(world.org_b, "Beta price", energy="4.20"))
    client.force_login(world.alice)

    body = client.get(reverse("price_list")).content.decode()

    assert body.count("<table") == 2 and body.count('data-connector-type="type2"') == 2
    assert body.count('data-connector-type="ccs2"') == 1
    assert "7.4–22 kW" in body and "150 kW" in body and "2 of 3" in body and "0 of 3" in body
    assert body.count("4.95 SEK/kWh") == 3  # once per row, not once per connector
    assert "Beta" not in body and "4.20" not in body
