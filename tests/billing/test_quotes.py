"""Prices before and during charging: a connector's price in a driver's words, a running session's cost."""

import copy
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.models import CustomerGroup, CustomerGroupMembership, PriceComponent, SessionPrice, TariffElement
from billing.pricing import price_session
from billing.quotes import connector_price, session_cost_estimate
from billing.selectors import session_timeline, tariff_spec
from billing.services import session_price_freeze, tariff_assignment_create
from sessions_app.models import MeterValue
from tests.factories import make_charge_point, make_session, make_tariff

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)


def weekday_peak_tariff(world, **fields):
    """Like the demo's standard tariff: weekday peak energy, other times cheaper, parking after an hour."""
    tariff = make_tariff(world.org_a, "Standard", energy=None, parking_grace_minutes=60, **fields)
    peak = tariff.elements.get()
    peak.start_time, peak.end_time, peak.days_of_week = time(7), time(21), "0,1,2,3,4"
    peak.save()
    other = TariffElement.objects.create(tariff=tariff, position=1)
    for element, energy in ((peak, "4.95"), (other, "3.45")):
        PriceComponent.objects.create(element=element, type="ENERGY", price=Decimal(energy))
        PriceComponent.objects.create(element=element, type="PARKING_TIME", price=Decimal("60.00"))
    return tariff


def test_each_element_is_described_with_when_it_applies_and_the_vat(world):
    tariff = weekday_peak_tariff(world)
    PriceComponent.objects.create(element=tariff.elements.get(position=0), type="FLAT", price=Decimal("5.00"))
    tariff_assignment_create(tariff=tariff)

    price = connector_price(
        connector=world.cp_a.connectors.first(), customer_account=world.alice.customer_account, at=NOW
    )

    assert price["name"] == "Standard" and price["currency"] == "SEK"
    assert price["lines"] == [
        "4.95 SEK/kWh weekdays 07:00–21:00",
        "Parking 60.00 SEK/h after 60 min",
        "Start fee 5.00 SEK weekdays 07:00–21:00",
        "3.45 SEK/kWh other times",
    ]
    assert price["vat_note"] == "Prices include 25 % VAT."


def test_prices_entered_without_vat_are_shown_with_vat(world):
    tariff = make_tariff(
        world.org_a, "Net", energy="4.00", flat="2.00", prices_include_vat=False, vat_rate=Decimal("0.25")
    )
    tariff_assignment_create(tariff=tariff)

    price = connector_price(connector=world.cp_a.connectors.first(), customer_account=None, at=NOW)

    assert price["lines"] == ["5.00 SEK/kWh", "Start fee 2.50 SEK"]
    assert price["vat_note"] == "Prices include 25 % VAT."


def test_no_tariff_no_price(world):
    assert connector_price(connector=world.cp_a.connectors.first(), customer_account=None, at=NOW) is None


def test_a_customer_groups_special_price_is_shown_to_its_members_only(client, world):
    tariff_assignment_create(tariff=make_tariff(world.org_a, "Standard", energy="4.95"))
    fleet = CustomerGroup.objects.create(organization=world.org_a, name="Fleet")
    CustomerGroupMembership.objects.create(customer_group=fleet, customer_account=world.alice.customer_account)
    tariff_assignment_create(tariff=make_tariff(world.org_a, "Fleet contract", energy="3.20"), customer_group=fleet)

    client.force_login(world.alice)
    alice_page = client.get(reverse("price_list")).content.decode()
    client.force_login(world.bob)
    bob_page = client.get(reverse("price_list")).content.decode()

    assert "Fleet contract" in alice_page and "3.20 SEK/kWh" in alice_page and "4.95 SEK/kWh" not in alice_page
    assert "Standard" in bob_page and "4.95 SEK/kWh" in bob_page and "3.20" not in bob_page


def test_the_prices_page_shows_only_the_drivers_operators_stations(client, world):
    tariff_assignment_create(tariff=make_tariff(world.org_a, "Alpha price", energy="4.95"))
    tariff_assignment_create(tariff=make_tariff(world.org_b, "Beta price", energy="4.20"))
    client.force_login(world.alice)

    response = client.get(reverse("price_list"))

    body = response.content.decode()
    assert response.status_code == 200
    assert "ALPHA-1" in body and "Alpha price" in body
    assert "BETA-1" not in body and "Beta price" not in body and "4.20" not in body


def test_the_connector_prices_cover_only_the_drivers_operators_connectors(client, world):
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.95"))
    tariff_assignment_create(tariff=make_tariff(world.org_b, energy="4.20"))
    client.force_login(world.alice)

    connectors = client.get(reverse("connector_prices")).json()["connectors"]

    assert set(connectors) == {str(c.pk) for c in world.cp_a.connectors.all()}
    assert all(line == "4.95 SEK/kWh" for line in connectors.values())


def test_pages_need_a_login(client, world):
    for url in (reverse("price_list"), reverse("connector_prices")):
        assert client.get(url).status_code == 302


def running_session(world, started_at):
    connector = world.cp_a.connectors.first()
    session = make_session(connector, world.alice_card, started_at=started_at, energy_wh=None)
    for minutes, register in ((20, 1_004_000), (45, 1_009_500)):
        MeterValue.objects.create(
            charge_point=world.cp_a,
            connector=connector,
            session=session,
            timestamp=started_at + timedelta(minutes=minutes),
            value=Decimal(register),
        )
    return session


def test_the_estimate_is_the_price_of_the_timeline_so_far(world):
    tariff = weekday_peak_tariff(world)
    tariff_assignment_create(tariff=tariff)
    started = NOW - timedelta(minutes=50)
    session = running_session(world, started)

    estimate = session_cost_estimate(session=session, now=NOW)

    so_far = copy.copy(session)
    so_far.stopped_at, so_far.meter_stop_wh = NOW, 1_009_500
    expected = price_session(tariff_spec(tariff, time_zone="Europe/Stockholm"), session_timeline(so_far))
    assert estimate["gross"] == expected.gross_total == Decimal("47.03")  # 9.5 kWh at 4.95 (peak, 10:00 local)
    assert estimate["currency"] == "SEK" and estimate["final"] is False


def test_the_estimate_endpoint_formats_the_cost_for_the_reader(client, world):
    tariff_assignment_create(tariff=weekday_peak_tariff(world))
    session = running_session(world, datetime.now(UTC) - timedelta(minutes=50))
    client.force_login(world.alice)

    data = client.get(reverse("session_estimate", args=[session.pk])).json()

    assert data["currency"] == "SEK" and data["final"] is False
    assert data["cost_display"] == f"{data['gross']} SEK"
    assert data["cost_label"] == "Cost so far"
    client.cookies["django_language"] = "sv"
    swedish = client.get(reverse("session_estimate", args=[session.pk]), HTTP_ACCEPT_LANGUAGE="sv").json()
    assert swedish["cost_display"] == f"{data['gross'].replace('.', ',')} SEK"


def test_the_frozen_price_is_used_once_the_session_has_stopped(world):
    tariff = make_tariff(world.org_a, energy="4.00")
    tariff_assignment_create(tariff=tariff)
    session = make_session(world.cp_a.connectors.first(), world.alice_card, energy_wh=10_000)
    frozen = session_price_freeze(session=session)
    SessionPrice.objects.filter(pk=frozen.pk).update(gross_total=Decimal("39.00"))  # tariff edits don't matter
    PriceComponent.objects.filter(element__tariff=tariff).update(price=Decimal("9.00"))

    estimate = session_cost_estimate(session=session, now=NOW)

    assert estimate == {
        "session_id": session.pk,
        "gross": Decimal("39.00"),
        "net": frozen.net_total,
        "currency": "SEK",
        "energy_wh": 10_000,
        "final": True,
    }


def test_an_unpriced_stopped_session_has_no_estimate(world):
    session = make_session(world.cp_a.connectors.first(), world.alice_card, energy_wh=10_000)
    assert session_cost_estimate(session=session, now=NOW) is None


def test_a_driver_cannot_read_another_drivers_estimate(client, world):
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"))
    bobs = make_session(world.cp_a.connectors.first(), world.bob_card, energy_wh=None)
    client.force_login(world.alice)

    assert client.get(reverse("session_estimate", args=[bobs.pk])).status_code == 404
    assert client.get(reverse("session_estimate", args=[999_999])).status_code == 404


def test_the_dashboard_shows_the_cost_so_far_and_the_recent_sessions_prices(client, world):
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"))
    connector = world.cp_a.connectors.first()
    done = make_session(connector, world.alice_card, energy_wh=10_000)
    session_price_freeze(session=done)
    running_session(world, datetime.now(UTC) - timedelta(minutes=50))
    client.force_login(world.alice)

    body = client.get(reverse("dashboard")).content.decode()

    assert "Cost so far" in body and "38.00 SEK" in body  # 9.5 kWh at 4.00
    assert "40.00 SEK" in body  # the frozen price of the completed session
    assert reverse("price_list") in body


def test_the_start_page_links_to_the_prices(client, world):
    client.force_login(world.alice)
    body = client.get(reverse("charging_start")).content.decode()
    assert reverse("price_list") in body


def test_a_second_charge_point_of_another_site_is_listed_with_its_price(client, world):
    cp = make_charge_point(world.site_a, "ALPHA-2", connectors=1)
    tariff_assignment_create(tariff=make_tariff(world.org_a, "Site price", energy="4.00"), site=world.site_a)
    tariff_assignment_create(tariff=make_tariff(world.org_a, "Fast", energy="6.00"), charge_point=cp)
    client.force_login(world.alice)

    body = client.get(reverse("price_list")).content.decode()

    assert "ALPHA-2" in body and "6.00 SEK/kWh" in body and "4.00 SEK/kWh" in body
