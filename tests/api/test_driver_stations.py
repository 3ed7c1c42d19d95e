"""Stations near a position: the driver's operator's, nearest first, live connector status and the caller's price."""

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from billing.models import CustomerGroup, CustomerGroupMembership
from billing.services import tariff_assignment_create
from sessions_app.models import ChargePoint, Connector, Site
from sessions_app.selectors import distance_m
from tests.factories import make_charge_point, make_site, make_tariff

pytestmark = pytest.mark.django_db

STOCKHOLM = {"lat": "59.3293", "lon": "18.0686"}  # where the world's sites are


def as_driver(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


def online(cp: ChargePoint, status: str = "Available") -> None:
    ChargePoint.objects.filter(pk=cp.pk).update(channel_name=f"specific.test!{cp.pk}", last_seen_at=timezone.now())
    Connector.objects.filter(charge_point=cp).update(status=status)


def place(site: Site, lat: str, lon: str) -> None:
    Site.objects.filter(pk=site.pk).update(latitude=Decimal(lat), longitude=Decimal(lon))


@pytest.fixture
def uppsala(world) -> ChargePoint:
    """A second station of operator A, about 64 km north of Stockholm."""
    site = make_site(world.org_a, "Uppsala Resecentrum")
    place(site, "59.858600", "17.638900")
    return make_charge_point(site, "ALPHA-UPS", connectors=1)


def ids(response) -> list[str]:
    return [station["ocpp_id"] for station in response.json()["results"]]


def test_the_haversine_distance_stockholm_to_uppsala_is_about_64_km():
    assert 63_500 < distance_m(59.3293, 18.0686, 59.8586, 17.6389) < 64_500
    assert distance_m(10, 20, 10, 20) == 0


def test_stations_come_nearest_first_with_their_distance(world, uppsala):
    near_uppsala = as_driver(world.alice).get(reverse("api:stations"), {"lat": "59.86", "lon": "17.64"})
    assert near_uppsala.status_code == 200
    assert ids(near_uppsala) == ["ALPHA-UPS", "ALPHA-1"]
    first, second = near_uppsala.json()["results"]
    assert first["distance_m"] < 500 and 63_000 < second["distance_m"] < 65_000
    assert ids(as_driver(world.alice).get(reverse("api:stations"), STOCKHOLM)) == ["ALPHA-1", "ALPHA-UPS"]


def test_a_radius_keeps_only_stations_that_close(world, uppsala):
    response = as_driver(world.alice).get(reverse("api:stations"), {**STOCKHOLM, "radius_m": 10_000})
    assert ids(response) == ["ALPHA-1"]
    response = as_driver(world.alice).get(reverse("api:stations"), {**STOCKHOLM, "radius_m": 70_000})
    assert ids(response) == ["ALPHA-1", "ALPHA-UPS"]


def test_without_a_position_stations_come_by_name_without_distance(world, uppsala):
    response = as_driver(world.alice).get(reverse("api:stations"))
    assert ids(response) == ["ALPHA-1", "ALPHA-UPS"]  # Alpha Depot, Uppsala Resecentrum
    assert {station["distance_m"] for station in response.json()["results"]} == {None}
    response = as_driver(world.alice).get(reverse("api:stations"), {**STOCKHOLM, "ordering": "-name"})
    assert ids(response) == ["ALPHA-UPS", "ALPHA-1"]


def test_only_the_drivers_operators_accepted_stations_are_listed(world, uppsala):
    pending = make_charge_point(world.site_a, "ALPHA-PENDING")
    ChargePoint.objects.filter(pk=pending.pk).update(registration_status="pending")
    listed = ids(as_driver(world.alice).get(reverse("api:stations"), STOCKHOLM))
    assert "BETA-1" not in listed and "ALPHA-PENDING" not in listed


def test_each_connector_shows_its_live_status_and_whether_it_is_free_now(world, uppsala):
    online(world.cp_a)
    Connector.objects.filter(charge_point=world.cp_a, number=1).update(status="Charging")
    body = as_driver(world.alice).get(reverse("api:stations"), STOCKHOLM).json()["results"]
    alpha, ups = body
    assert alpha["online"] is True and alpha["available_connectors"] == 1
    assert [(c["number"], c["status"], c["available"]) for c in alpha["connectors"]] == [
        (1, "Charging", False),
        (2, "Available", True),
    ]
    assert alpha["connectors"][0]["id"] == world.cp_a.connectors.get(number=1).pk
    assert alpha["connectors"][0]["max_power_kw"] == "22.0"
    assert alpha["site"]["name"] == "Alpha Depot" and alpha["site"]["city"] == "Stockholm"
    # An offline station's connectors are never free, whatever they last reported.
    Connector.objects.filter(charge_point=uppsala).update(status="Available")
    assert ups["online"] is False
    assert (
        as_driver(world.alice)
        .get(reverse("api:stations"), STOCKHOLM)
        .json()["results"][1]["connectors"][0]["available"]
        is False
    )


def test_available_keeps_stations_with_a_free_connector(world, uppsala):
    online(world.cp_a, status="Faulted")
    online(uppsala)
    assert ids(as_driver(world.alice).get(reverse("api:stations"), {**STOCKHOLM, "available": "true"})) == ["ALPHA-UPS"]


def test_each_connector_carries_the_price_that_applies_to_the_caller(world):
    tariff_assignment_create(tariff=make_tariff(world.org_a, "Standard", energy="4.00"))
    fleet = CustomerGroup.objects.create(organization=world.org_a, name="Fleet")
    CustomerGroupMembership.objects.create(customer_group=fleet, customer_account=world.bob.customer_account)
    tariff_assignment_create(tariff=make_tariff(world.org_a, "Fleet deal", energy="2.50"), customer_group=fleet)
    alice_price = as_driver(world.alice).get(reverse("api:stations")).json()["results"][0]["connectors"][0]["price"]
    bob_price = as_driver(world.bob).get(reverse("api:stations")).json()["results"][0]["connectors"][0]["price"]
    assert alice_price["name"] == "Standard" and alice_price["lines"] == ["4.00 SEK/kWh"]
    assert alice_price["currency"] == "SEK" and alice_price["vat_note"] == "Prices include 25 % VAT."
    assert bob_price["name"] == "Fleet deal" and bob_price["lines"] == ["2.50 SEK/kWh"]


def test_a_connector_without_a_tariff_has_no_price(world):
    assert as_driver(world.alice).get(reverse("api:stations")).json()["results"][0]["connectors"][0]["price"] is None


@pytest.mark.parametrize(
    "query",
    [
        {"lat": "59.3"},
        {"lat": "91", "lon": "0"},
        {"lat": "x", "lon": "0"},
        {"radius_m": "100"},
        {"ordering": "distance"},
        {"ordering": "price"},
        {**STOCKHOLM, "radius_m": "0"},
    ],
)
def test_a_bad_position_or_ordering_is_a_400_naming_the_parameter(world, query):
    response = as_driver(world.alice).get(reverse("api:stations"), query)
    assert response.status_code == 400 and response.json()["error"]["fields"]


def test_stations_are_paginated(world, uppsala):
    page = as_driver(world.alice).get(reverse("api:stations"), {**STOCKHOLM, "page_size": 1, "page": 2}).json()
    assert page["count"] == 2 and [s["ocpp_id"] for s in page["results"]] == ["ALPHA-UPS"]
