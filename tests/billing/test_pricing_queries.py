"""Pricing and charging a session reads little, runs for every session stopped, and never prices by a stale tariff.

The tariff's elements are kept as read, by tariff and revision; whatever changes them makes a new revision.
"""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.ledger import payment_account_of
from billing.models import SessionPrice, Tariff
from billing.services import (
    session_price_freeze,
    session_price_freeze_by_id,
    tariff_assignment_create,
    tariff_element_components_set,
    tariff_update,
)
from tests.factories import make_session, make_tariff

pytestmark = pytest.mark.django_db

# Reading the session (1); is it priced already (1); the tariff that applies (1); the session's meter readings (1)
# and status reports (1); the price written (1); for the charge, the customer's payment account locked (1), the
# entries booked before under its key (1), the charge written (1); three nested transactions, each a savepoint set
# and released (6): the price's, the charge's, the write's. A tariff read for the first time adds its elements and
# their prices (2).
QUERIES_PER_SESSION = 15


def _priced_session(world, *, tariff_read_before: bool) -> int:
    """The queries pricing and charging a session take (in a test's transaction) once the customer can pay."""
    connector = world.cp_a.connectors.first()
    payment_account_of(world.alice.customer_account)
    if tariff_read_before:
        session_price_freeze(session=make_session(connector, world.alice_card, energy_wh=1_000))
    session = make_session(connector, world.alice_card, energy_wh=10_000)
    with CaptureQueriesContext(connection) as queries:
        session_price_freeze_by_id(session.pk)
    assert SessionPrice.objects.get(session=session).gross_total == Decimal("40.00")  # 10 kWh at 4.00
    return len(queries.captured_queries)


def test_pricing_and_charging_a_session_takes_a_fixed_number_of_queries(world):
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"))
    assert _priced_session(world, tariff_read_before=True) == QUERIES_PER_SESSION


def test_the_first_session_by_a_tariff_also_reads_its_elements_and_prices(world):
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"))
    assert _priced_session(world, tariff_read_before=False) == QUERIES_PER_SESSION + 2


def _by_update(client, world, tariff: Tariff) -> None:
    tariff_update(tariff=tariff, values={}, elements=[{"components": [{"type": "ENERGY", "price": "9.00"}]}])


def _by_components_set(client, world, tariff: Tariff) -> None:
    tariff_element_components_set(element=tariff.elements.get(), prices={"ENERGY": (Decimal("9.00"), 1)})


def _admin_post(client, world, tariff: Tariff, *elements: dict) -> None:
    client.force_login(world.carol)
    data = {
        "organization": world.org_a.pk,
        "name": tariff.name,
        "valid_from_0": "2020-01-01",
        "valid_from_1": "00:00:00",
        "valid_until_0": "",
        "valid_until_1": "",
        "currency": "SEK",
        "vat_rate": "25",
        "prices_include_vat": "on",
        "min_price": "",
        "max_price": "",
        "parking_grace_minutes": "0",
        "elements-TOTAL_FORMS": str(len(elements)),
        "elements-INITIAL_FORMS": str(len(elements)),
        "elements-MIN_NUM_FORMS": "0",
        "elements-MAX_NUM_FORMS": "1000",
    }
    for index, element in enumerate(elements):
        data.update({f"elements-{index}-{name}": value for name, value in element.items()})
    response = client.post(reverse("admin:billing_tariff_change", args=[tariff.pk]), data)
    assert response.status_code == 302, response.context["errors"]


def _by_admin(client, world, tariff: Tariff) -> None:
    _admin_post(
        client,
        world,
        tariff,
        {"id": tariff.elements.get().pk, "tariff": tariff.pk, "position": "0", "energy_price": "9.00"},
    )


def _by_admin_deleting_an_element(client, world, tariff: Tariff) -> None:
    """Only the tariff's form is saved, and the element deleted: no price is set anywhere."""
    first, second = tariff.elements.order_by("position")
    _admin_post(
        client,
        world,
        tariff,
        {
            "id": first.pk,
            "tariff": tariff.pk,
            "position": "0",
            "max_kwh": "1000",
            "energy_price": "4.00",
            "DELETE": "on",
        },
        {"id": second.pk, "tariff": tariff.pk, "position": "1", "energy_price": "9.00"},
    )


@pytest.mark.parametrize("change", [_by_update, _by_components_set, _by_admin, _by_admin_deleting_an_element])
def test_a_session_after_a_tariff_change_is_priced_by_the_changed_tariff(client, world, change):
    tariff = make_tariff(world.org_a, energy="4.00")
    if change is _by_admin_deleting_an_element:  # up to 1,000 kWh at 4.00, else (never, now always) at 9.00
        tariff = tariff_update(
            tariff=tariff,
            values={},
            elements=[
                {"max_kwh": Decimal(1000), "components": [{"type": "ENERGY", "price": "4.00"}]},
                {"components": [{"type": "ENERGY", "price": "9.00"}]},
            ],
        )
    tariff_assignment_create(tariff=tariff)
    connector = world.cp_a.connectors.first()
    before = session_price_freeze(session=make_session(connector, world.alice_card, energy_wh=10_000))

    change(client, world, Tariff.objects.get(pk=tariff.pk))
    after = session_price_freeze(session=make_session(connector, world.alice_card, energy_wh=10_000))

    assert (before.gross_total, after.gross_total) == (Decimal("40.00"), Decimal("90.00"))
    assert Decimal(after.tariff_snapshot["elements"][0]["components"][0]["price"]) == Decimal("9.00")
