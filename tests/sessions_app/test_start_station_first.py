"""The start page asks for the station first: search, recent stations, nearest by the browser's position, and no
connector preselected before the driver picks a station (never one of a far station)."""

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from sessions_app.models import ChargePoint, Connector, Site
from sessions_app.station_finder import distance_km
from tests.factories import make_charge_point, make_session, make_site

pytestmark = pytest.mark.django_db


def online(*charge_points: ChargePoint) -> None:
    now = timezone.now()
    for cp in charge_points:
        ChargePoint.objects.filter(pk=cp.pk).update(channel_name=f"specific.test!{cp.pk}", last_seen_at=now)
        Connector.objects.filter(charge_point=cp).update(status="Available")


def place(site: Site, city: str, latitude: str, longitude: str) -> Site:
    Site.objects.filter(pk=site.pk).update(city=city, latitude=Decimal(latitude), longitude=Decimal(longitude))
    site.refresh_from_db()
    return site


@pytest.fixture
def stations(world):
    """ALPHA-1 in Stockholm (the world's), ALPHA-GBG in Gothenburg, ALPHA-LUL in Luleå, all online and free."""
    gothenburg = place(make_site(world.org_a, "Alpha Harbour"), "Göteborg", "57.708900", "11.974600")
    lulea = place(make_site(world.org_a, "Alpha North"), "Luleå", "65.584200", "22.156500")
    place(world.site_a, "Stockholm", "59.329300", "18.068600")
    gbg, lul = make_charge_point(gothenburg, "ALPHA-GBG"), make_charge_point(lulea, "ALPHA-LUL")
    online(world.cp_a, gbg, lul, world.cp_b)
    return {"sto": world.cp_a, "gbg": gbg, "lul": lul}


def page(client, **params):
    return client.get(reverse("charging_start"), params)


def test_no_connector_is_offered_or_preselected_before_a_station_is_picked(client, world, stations):
    client.force_login(world.alice)
    body = page(client).content.decode()
    assert 'name="connector"' not in body and "<option" not in body
    assert f'href="?station={stations["gbg"].pk}"' in body and f'href="?station={stations["sto"].pk}"' in body


def test_a_picked_station_offers_only_its_own_connectors(client, world, stations):
    client.force_login(world.alice)
    response = page(client, station=stations["gbg"].pk)
    offered = {(c.charge_point.ocpp_id, c.number) for c in response.context["form"].fields["connector"].queryset}
    assert offered == {("ALPHA-GBG", 1), ("ALPHA-GBG", 2)}
    body = response.content.decode()
    assert 'name="connector"' in body and "ALPHA-1 #1" not in body and "ALPHA-LUL" not in body


def test_another_operators_station_cannot_be_picked(client, world, stations):
    client.force_login(world.alice)
    response = page(client, station=world.cp_b.pk)
    assert response.context["station"] is None and 'name="connector"' not in response.content.decode()
    assert "BETA-1" not in response.content.decode()


def test_search_by_name_or_city(client, world, stations):
    client.force_login(world.alice)
    by_city = [c.charge_point for c in page(client, q="göteborg").context["found_stations"]]
    by_name = [c.charge_point for c in page(client, q="north").context["found_stations"]]
    nothing = page(client, q="Malmö")
    assert by_city == [stations["gbg"]] and by_name == [stations["lul"]]
    assert nothing.context["found_stations"] == []
    assert "No station with a free connector matches your search." in nothing.content.decode()


def test_recent_stations_are_the_drivers_own_latest_first(client, world, stations):
    now = timezone.now()
    lul_connector = stations["lul"].connectors.get(number=1)
    make_session(stations["gbg"].connectors.get(number=1), world.alice_card, started_at=now.replace(year=2025))
    make_session(lul_connector, world.alice_card, started_at=now.replace(year=2026, month=1))
    make_session(world.cp_a.connectors.get(number=1), world.bob_card, started_at=now.replace(year=2026, month=2))
    client.force_login(world.alice)
    recent = [c.charge_point for c in page(client).context["recent_stations"]]
    assert recent == [stations["lul"], stations["gbg"]]  # not Bob's Stockholm session
    client.force_login(world.bob)
    assert [c.charge_point for c in page(client).context["recent_stations"]] == [world.cp_a]


def test_the_nearest_station_comes_first_given_the_browsers_position(client, world, stations):
    client.force_login(world.alice)
    near_gothenburg = page(client, lat="57.70", lon="11.97")
    found = near_gothenburg.context["found_stations"]
    assert [c.charge_point for c in found] == [stations["gbg"], stations["sto"], stations["lul"]]
    assert found[0].distance_km < 2 and 390 < found[1].distance_km < 410
    assert "km away" in near_gothenburg.content.decode()
    near_lulea = page(client, lat="65.6", lon="22.1")
    assert [c.charge_point for c in near_lulea.context["found_stations"]][0] == stations["lul"]


def test_a_position_that_is_not_one_is_ignored(client, world, stations):
    client.force_login(world.alice)
    response = page(client, lat="north", lon="200")
    assert response.context["position"] is None and response.status_code == 200


def test_distance_is_great_circle():
    assert distance_km((59.3293, 18.0686), (57.7089, 11.9746)) == pytest.approx(398, abs=3)


def test_the_page_loads_its_location_script_without_inline_code(client, world, stations):
    client.force_login(world.alice)
    body = page(client).content.decode()
    assert "js/nearest-station.js" in body and "data-nearest-station" in body
    assert "<script>" not in body
