"""Operators' tariffs over the API: read, create and change them with their elements, and assign them.

Invalid, contradictory and overlapping definitions are refused whole, every problem named.
"""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from billing.models import CustomerGroup, Tariff, TariffAssignment
from billing.services import tariff_assignment_create
from tests.factories import make_tariff

pytestmark = pytest.mark.django_db

NIGHT_AND_DAY = {
    "name": "Night and day",
    "valid_from": "2026-01-01T00:00:00Z",
    "elements": [
        {
            "start_time": "22:00",
            "end_time": "06:00",
            "days_of_week": [0, 1, 2, 3, 4],
            "components": [{"type": "ENERGY", "price": "2.50", "step_size": 100}],
        },
        {"components": [{"type": "ENERGY", "price": "4.00"}, {"type": "FLAT", "price": "5"}]},
    ],
}


@pytest.fixture
def api(carol_api) -> APIClient:
    return carol_api


def _errors(response) -> dict:
    assert response.status_code == 400, response.content
    return response.json()["error"]["fields"]


def test_an_operator_creates_a_tariff_with_its_elements(api, world):
    response = api.post(reverse("api:operator_tariffs"), NIGHT_AND_DAY, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    tariff = Tariff.objects.get(pk=body["id"])
    assert tariff.organization == world.org_a and tariff.currency == world.org_a.currency
    assert [(e["position"], e["start_time"], e["days_of_week"]) for e in body["elements"]] == [
        (0, "22:00:00", [0, 1, 2, 3, 4]),
        (1, None, []),
    ]
    assert body["elements"][0]["components"] == [{"type": "ENERGY", "price": "2.5000", "step_size": 100}]
    assert {c["type"] for c in body["elements"][1]["components"]} == {"ENERGY", "FLAT"}
    element = tariff.elements.get(position=0)
    assert element.days_of_week == "0,1,2,3,4"


def test_the_list_filters_by_validity_name_and_orders(api, world):
    old = make_tariff(
        world.org_a, "Old", valid_from=datetime(2024, 1, 1, tzinfo=UTC), valid_until=datetime(2025, 1, 1, tzinfo=UTC)
    )
    new = make_tariff(world.org_a, "New", valid_from=datetime(2025, 1, 1, tzinfo=UTC))
    make_tariff(world.org_b, "Beta's")
    url = reverse("api:operator_tariffs")
    names = [t["name"] for t in api.get(url).json()["results"]]
    assert names == ["New", "Old"]
    assert [t["id"] for t in api.get(url, {"valid_at": "2024-06-01T00:00:00Z"}).json()["results"]] == [old.pk]
    assert [t["id"] for t in api.get(url, {"valid_at": "2025-06-01T00:00:00Z"}).json()["results"]] == [new.pk]
    assert [t["name"] for t in api.get(url, {"ordering": "valid_from"}).json()["results"]] == ["Old", "New"]
    assert [t["name"] for t in api.get(url, {"name": "ol"}).json()["results"]] == ["Old"]
    detail = api.get(reverse("api:operator_tariff", args=[new.pk])).json()
    assert detail["elements"][0]["components"] == [{"type": "ENERGY", "price": "4.0000", "step_size": 1}]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"valid_until": "2025-01-01T00:00:00Z"}, "valid_until", "must come after its start"),
        ({"min_price": "10", "max_price": "5"}, "max_price", "below the minimum"),
        ({"elements": []}, "elements", "at least one element"),
        ({"elements": [{"components": []}]}, "elements", "Element 1: Give at least one price"),
        (
            {"elements": [{"components": [{"type": "ENERGY", "price": "1"}, {"type": "ENERGY", "price": "2"}]}]},
            "elements",
            "Element 1: ENERGY is priced twice.",
        ),
        (
            {
                "elements": [
                    {"start_time": "08:00", "end_time": "08:00", "components": [{"type": "FLAT", "price": "1"}]}
                ]
            },
            "elements",
            "Element 1: end_time: Start and end time of day are the same",
        ),
        (
            {"elements": [{"min_kwh": "10", "max_kwh": "5", "components": [{"type": "FLAT", "price": "1"}]}]},
            "elements",
            "Element 1: max_kwh: The maximum energy is below the minimum.",
        ),
        (
            {
                "elements": [
                    {"position": 1, "components": [{"type": "FLAT", "price": "1"}]},
                    {"position": 1, "min_kwh": "5", "components": [{"type": "ENERGY", "price": "1"}]},
                ]
            },
            "elements",
            "Element 2: position 1 is taken by element 1.",
        ),
        (
            {
                "elements": [
                    {"components": [{"type": "ENERGY", "price": "3"}]},
                    {"start_time": "22:00", "end_time": "06:00", "components": [{"type": "ENERGY", "price": "2"}]},
                ]
            },
            "elements",
            "Element 2: its ENERGY price never applies, element 1 comes first with no restrictions.",
        ),
        (
            {
                "elements": [
                    {"days_of_week": [5, 6], "components": [{"type": "ENERGY", "price": "3"}]},
                    {"days_of_week": [6, 5], "components": [{"type": "ENERGY", "price": "2"}]},
                ]
            },
            "elements",
            "Element 2: its ENERGY price never applies, element 1 comes first with the same restrictions.",
        ),
        ({"elements": [{"components": [{"type": "ENERGY", "price": "-1"}]}]}, "elements", ""),
        ({"currency": "kronor"}, "currency", ""),
        ({"vat_rate": "1.5"}, "vat_rate", ""),
    ],
)
def test_an_invalid_or_contradictory_tariff_is_refused_whole(api, world, change, field, message):
    response = api.post(reverse("api:operator_tariffs"), {**NIGHT_AND_DAY, **change}, format="json")
    errors = _errors(response)
    assert field in errors
    assert message in " ".join(errors[field])
    assert not Tariff.objects.exists()


def test_every_problem_is_named_at_once(api):
    response = api.post(
        reverse("api:operator_tariffs"),
        {
            **NIGHT_AND_DAY,
            "valid_until": "2025-01-01T00:00:00Z",
            "elements": [
                {"components": []},
                {"min_power_kw": "50", "max_power_kw": "10", "components": [{"type": "TIME", "price": "1"}]},
            ],
        },
        format="json",
    )
    errors = _errors(response)
    assert set(errors) == {"valid_until", "elements"} and len(errors["elements"]) == 2


def test_a_later_element_with_other_prices_is_not_shadowed(api):
    response = api.post(
        reverse("api:operator_tariffs"),
        {
            **NIGHT_AND_DAY,
            "elements": [
                {"components": [{"type": "ENERGY", "price": "3"}]},
                {"components": [{"type": "PARKING_TIME", "price": "60"}]},
            ],
        },
        format="json",
    )
    assert response.status_code == 201, response.content


def test_a_change_replaces_the_given_fields_and_elements(api, world):
    tariff = make_tariff(world.org_a, "Standard")
    url = reverse("api:operator_tariff", args=[tariff.pk])
    response = api.patch(url, {"name": "Standard 2026", "max_price": "300.00"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["name"] == "Standard 2026" and len(response.json()["elements"]) == 1
    response = api.patch(url, {"elements": NIGHT_AND_DAY["elements"]}, format="json")
    assert response.status_code == 200
    tariff.refresh_from_db()
    assert tariff.name == "Standard 2026" and tariff.max_price == Decimal("300.00")
    assert [element.position for element in tariff.elements.all()] == [0, 1]


def test_a_bad_change_leaves_the_tariff_as_it_was(api, world):
    tariff = make_tariff(world.org_a, "Standard")
    response = api.patch(
        reverse("api:operator_tariff", args=[tariff.pk]),
        {"name": "Broken", "elements": [{"components": []}]},
        format="json",
    )
    _errors(response)
    tariff.refresh_from_db()
    assert tariff.name == "Standard" and tariff.elements.get().components.get().type == "ENERGY"


def test_a_new_validity_may_not_overlap_another_tariff_in_the_same_place(api, world):
    current = make_tariff(world.org_a, "Current", valid_from=datetime(2025, 1, 1, tzinfo=UTC))
    following = make_tariff(
        world.org_a, "Next", valid_from=datetime(2020, 1, 1, tzinfo=UTC), valid_until=datetime(2024, 1, 1, tzinfo=UTC)
    )
    tariff_assignment_create(tariff=current, site=world.site_a)
    tariff_assignment_create(tariff=following, site=world.site_a)
    response = api.patch(
        reverse("api:operator_tariff", args=[following.pk]), {"valid_until": "2026-01-01T00:00:00Z"}, format="json"
    )
    errors = _errors(response)
    assert "Current is already assigned here for an overlapping period." in errors["valid_from"]
    following.refresh_from_db()
    assert following.valid_until == datetime(2024, 1, 1, tzinfo=UTC)


def test_tariffs_are_assigned_to_the_operators_places_only(api, world):
    tariff = make_tariff(world.org_a, "Depot")
    fleet = CustomerGroup.objects.create(organization=world.org_a, name="Fleet")
    url = reverse("api:operator_tariff_assignments")
    response = api.post(url, {"tariff": tariff.pk, "site": world.site_a.pk}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["scope"] == "site" and response.json()["tariff_name"] == "Depot"
    grouped = api.post(url, {"tariff": tariff.pk, "site": world.site_a.pk, "customer_group": fleet.pk}, format="json")
    assert grouped.status_code == 201
    overlap = api.post(url, {"tariff": make_tariff(world.org_a, "Other").pk, "site": world.site_a.pk}, format="json")
    assert overlap.status_code == 400 and "overlapping" in overlap.json()["error"]["message"]
    two_scopes = api.post(
        url, {"tariff": tariff.pk, "site": world.site_a.pk, "charge_point": world.cp_a.pk}, format="json"
    )
    assert two_scopes.status_code == 400
    foreign = api.post(url, {"tariff": tariff.pk, "site": world.site_b.pk}, format="json")
    assert "site" in _errors(foreign)
    foreign_tariff = api.post(url, {"tariff": make_tariff(world.org_b).pk}, format="json")
    assert "tariff" in _errors(foreign_tariff)
    assert TariffAssignment.objects.count() == 2
    listed = api.get(url, {"customer_group": fleet.pk}).json()["results"]
    assert [row["id"] for row in listed] == [grouped.json()["id"]]
    assert len(api.get(url, {"site": world.site_a.pk}).json()["results"]) == 2
