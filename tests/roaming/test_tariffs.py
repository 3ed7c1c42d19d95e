"""OCPI Tariffs (CPO sender): the operator's tariffs for everyone and the partner's own roaming tariff, never another
group's, as OCPI Tariffs (net prices and VAT, restrictions, min/max price), a page at a time."""

from datetime import UTC, datetime, time
from decimal import Decimal

import pytest

from billing.models import CustomerGroup, PriceComponent, Tariff, TariffAssignment, TariffElement
from tests.factories import make_partner, make_tariff
from tests.roaming.conftest import auth

pytestmark = pytest.mark.django_db

TARIFFS = "/ocpi/2.2.1/tariffs"


def assigned(tariff: Tariff, **scope) -> Tariff:
    TariffAssignment.objects.create(tariff=tariff, **scope)
    return tariff


def test_a_partner_sees_the_tariffs_for_everyone_and_its_own_not_another_groups(client, world, partner):
    everyone = assigned(make_tariff(world.org_a, "Everyone"))
    own = assigned(make_tariff(world.org_a, "Roaming NL"), site=world.site_a, customer_group=partner.customer_group)
    fleet = CustomerGroup.objects.create(organization=world.org_a, name="Fleet")
    assigned(make_tariff(world.org_a, "Fleet"), customer_group=fleet)
    other = make_partner(world.org_a, "Second eMSP", country_code="DE", party_id="EMX")
    assigned(make_tariff(world.org_a, "Roaming DE"), customer_group=other.customer_group)
    assigned(make_tariff(world.org_b, "Operator B"))
    make_tariff(world.org_a, "Not assigned")
    assigned(make_tariff(world.org_a, "Ended", valid_until=datetime(2021, 1, 1, tzinfo=UTC)))

    response = client.get(TARIFFS, **auth(partner))

    assert response.status_code == 200
    assert [tariff["id"] for tariff in response.json()["data"]] == [str(everyone.pk), str(own.pk)]


def test_a_tariff_as_ocpi_says_it_prices_excl_vat_with_the_vat_percent(client, world, partner):
    tariff = assigned(
        make_tariff(
            world.org_a,
            "Standard",
            energy="5.00",
            time="12.50",
            flat="2.50",
            min_price=Decimal("10.00"),
            max_price=Decimal("500.00"),
            currency="SEK",
            vat_rate=Decimal("0.25"),
        )
    )
    PriceComponent.objects.filter(element__tariff=tariff, type="ENERGY").update(step_size=100)

    [data] = client.get(TARIFFS, **auth(partner)).json()["data"]

    assert data == {
        "country_code": "SE",
        "party_id": "CPO",
        "id": str(tariff.pk),
        "currency": "SEK",
        "type": "REGULAR",
        "tariff_alt_text": [{"language": "en", "text": "Standard"}],
        "start_date_time": "2020-01-01T00:00:00Z",
        "elements": [
            {
                "price_components": [
                    {"type": "ENERGY", "price": 4, "vat": 25, "step_size": 100},
                    {"type": "TIME", "price": 10, "vat": 25, "step_size": 1},
                    {"type": "FLAT", "price": 2, "vat": 25, "step_size": 1},
                ]
            }
        ],
        "min_price": {"excl_vat": 10, "incl_vat": 12.5},
        "max_price": {"excl_vat": 500, "incl_vat": 625},
        "last_updated": data["last_updated"],
    }
    assert data["last_updated"].endswith("Z")


def test_prices_entered_excl_vat_are_sent_as_entered(client, world, partner):
    assigned(make_tariff(world.org_a, energy="3.1234", prices_include_vat=False, vat_rate=Decimal("0.125")))

    [data] = client.get(TARIFFS, **auth(partner)).json()["data"]

    assert data["elements"][0]["price_components"] == [{"type": "ENERGY", "price": 3.1234, "vat": 12.5, "step_size": 1}]


def test_restrictions_in_ocpis_form(client, world, partner):
    tariff = assigned(make_tariff(world.org_a, energy="4.00", valid_until=datetime(2099, 1, 1, tzinfo=UTC)))
    evening = TariffElement.objects.create(
        tariff=tariff,
        position=1,
        start_time=time(18, 0),
        end_time=time(6, 30),
        days_of_week="5,6",
        min_kwh=Decimal("1.5"),
        max_power_kw=Decimal("22"),
        min_duration_minutes=30,
    )
    PriceComponent.objects.create(element=evening, type="PARKING_TIME", price=Decimal("60"), step_size=60)
    reservation = TariffElement.objects.create(tariff=tariff, position=2, reservation="RESERVATION")
    PriceComponent.objects.create(element=reservation, type="FLAT", price=Decimal("5"))

    [data] = client.get(TARIFFS, **auth(partner)).json()["data"]

    assert data["end_date_time"] == "2099-01-01T00:00:00Z"
    plain, night, reserved = data["elements"]
    assert "restrictions" not in plain
    assert night["restrictions"] == {
        "start_time": "18:00",
        "end_time": "06:30",
        "min_kwh": 1.5,
        "max_power": 22,
        "min_duration": 1800,
        "day_of_week": ["SATURDAY", "SUNDAY"],
    }
    assert night["price_components"] == [{"type": "PARKING_TIME", "price": 48, "vat": 25, "step_size": 60}]
    assert reserved["restrictions"] == {"reservation": "RESERVATION"}


def test_the_list_is_paginated_and_filtered_by_date(client, world, partner):
    tariffs = [assigned(make_tariff(world.org_a, f"T{n}")) for n in range(3)]
    Tariff.objects.filter(pk=tariffs[0].pk).update(created_at=datetime(2022, 1, 1, tzinfo=UTC))

    first = client.get(TARIFFS, {"limit": 2}, **auth(partner))
    rest = client.get(TARIFFS, {"limit": 2, "offset": 2}, **auth(partner))
    recent = client.get(TARIFFS, {"date_from": "2023-01-01T00:00:00Z"}, **auth(partner))

    assert (first["X-Total-Count"], first["X-Limit"]) == ("3", "100")
    assert first["Link"] == f'<http://testserver{TARIFFS}?limit=2&offset=2>; rel="next"'
    assert [t["id"] for t in first.json()["data"] + rest.json()["data"]] == [str(t.pk) for t in tariffs]
    assert [t["id"] for t in recent.json()["data"]] == [str(tariffs[1].pk), str(tariffs[2].pk)]


def test_without_a_registered_partners_token_tariffs_are_refused(client, world):
    pending = make_partner(world.org_a, registered=False)

    assert client.get(TARIFFS).status_code == 401
    assert client.get(TARIFFS, **auth(pending)).status_code == 401
