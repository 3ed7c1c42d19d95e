"""Tariffs: which one applies where and to whom, when, contradictions refused, the snapshot, admin scoping."""

import json
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from billing.models import (
    CreditNote,
    CustomerGroup,
    CustomerGroupMembership,
    PriceComponent,
    SessionPrice,
    Tariff,
    TariffAssignment,
    TariffElement,
)
from billing.selectors import tariff_for, tariff_spec, tariff_spec_from_snapshot, tariff_spec_to_snapshot, tariffs_for
from billing.services import tariff_assignment_create
from tests.factories import make_account, make_charge_point, make_session, make_site, make_tariff

pytestmark = pytest.mark.django_db

JAN = datetime(2026, 1, 1, tzinfo=UTC)
MAR = datetime(2026, 3, 1, tzinfo=UTC)
JUN = datetime(2026, 6, 1, tzinfo=UTC)


def group_with(organization, *accounts, name="Fleet") -> CustomerGroup:
    group = CustomerGroup.objects.create(organization=organization, name=name)
    for account in accounts:
        CustomerGroupMembership.objects.create(customer_group=group, customer_account=account)
    return group


# --- Which tariff applies ---------------------------------------------------------------------------


def test_the_most_specific_assignment_wins(world):
    connector = world.cp_a.connectors.get(number=1)
    other_connector = world.cp_a.connectors.get(number=2)
    account = world.alice.customer_account
    tariffs = {level: make_tariff(world.org_a, level) for level in ("org", "site", "cp", "connector")}
    tariff_assignment_create(tariff=tariffs["org"])
    assert tariff_for(connector=connector, customer_account=account, at=MAR) == tariffs["org"]
    tariff_assignment_create(tariff=tariffs["site"], site=world.site_a)
    assert tariff_for(connector=connector, customer_account=account, at=MAR) == tariffs["site"]
    tariff_assignment_create(tariff=tariffs["cp"], charge_point=world.cp_a)
    assert tariff_for(connector=connector, customer_account=account, at=MAR) == tariffs["cp"]
    tariff_assignment_create(tariff=tariffs["connector"], connector=connector)
    assert tariff_for(connector=connector, customer_account=account, at=MAR) == tariffs["connector"]
    assert tariff_for(connector=other_connector, customer_account=account, at=MAR) == tariffs["cp"]


def test_tariffs_for_many_connectors_are_each_ones_tariff_for_in_one_query(world, django_assert_num_queries):
    other_cp = make_charge_point(make_site(world.org_a, "Alpha Harbour"), "ALPHA-2")
    connectors = [*world.cp_a.connectors.all(), *other_cp.connectors.all(), *world.cp_b.connectors.all()]
    for connector in connectors:
        connector.charge_point  # noqa: B018 - loaded, as callers give them
    fleet = group_with(world.org_a, world.alice.customer_account)
    tariff_assignment_create(tariff=make_tariff(world.org_a, "Alpha"))
    tariff_assignment_create(tariff=make_tariff(world.org_a, "Harbour"), charge_point=other_cp)
    tariff_assignment_create(tariff=make_tariff(world.org_a, "Fleet"), site=world.site_a, customer_group=fleet)
    tariff_assignment_create(tariff=make_tariff(world.org_a, "Plug 2"), connector=connectors[1])
    tariff_assignment_create(tariff=make_tariff(world.org_b, "Beta"), site=world.site_b)

    for account in (world.alice.customer_account, world.bob.customer_account, None):
        with django_assert_num_queries(1):
            found = tariffs_for(connectors=connectors, customer_account=account, at=MAR)
        each = {c.pk: tariff_for(connector=c, customer_account=account, at=MAR) for c in connectors}
        assert found == each
    assert [t.name for t in found.values()] == ["Alpha", "Plug 2", "Harbour", "Harbour", "Beta", "Beta"]


def test_an_assignment_elsewhere_does_not_apply(world):
    other_site = make_site(world.org_a, "Alpha Harbour")
    other_cp = make_charge_point(other_site, "ALPHA-2")
    tariff_assignment_create(tariff=make_tariff(world.org_a), site=other_site)
    tariff_assignment_create(tariff=make_tariff(world.org_a), charge_point=other_cp)
    connector = world.cp_a.connectors.first()
    assert tariff_for(connector=connector, customer_account=world.alice.customer_account, at=MAR) is None


def test_another_operators_tariff_never_applies(world):
    tariff_assignment_create(tariff=make_tariff(world.org_b))
    connector = world.cp_a.connectors.first()
    assert tariff_for(connector=connector, customer_account=world.alice.customer_account, at=MAR) is None


def test_a_customer_group_tariff_beats_the_general_one_at_the_same_level_only_for_its_members(world):
    connector = world.cp_a.connectors.first()
    fleet = group_with(world.org_a, world.alice.customer_account)
    general, for_fleet = make_tariff(world.org_a, "General"), make_tariff(world.org_a, "Fleet price")
    tariff_assignment_create(tariff=general, site=world.site_a)
    tariff_assignment_create(tariff=for_fleet, site=world.site_a, customer_group=fleet)
    assert tariff_for(connector=connector, customer_account=world.alice.customer_account, at=MAR) == for_fleet
    assert tariff_for(connector=connector, customer_account=world.bob.customer_account, at=MAR) == general
    assert tariff_for(connector=connector, customer_account=None, at=MAR) == general


def test_a_more_specific_general_tariff_beats_a_customer_group_tariff_of_a_wider_scope(world):
    connector = world.cp_a.connectors.first()
    fleet = group_with(world.org_a, world.alice.customer_account)
    tariff_assignment_create(tariff=make_tariff(world.org_a, "Fleet everywhere"), customer_group=fleet)
    here = make_tariff(world.org_a, "This charger")
    tariff_assignment_create(tariff=here, charge_point=world.cp_a)
    assert tariff_for(connector=connector, customer_account=world.alice.customer_account, at=MAR) == here


def test_only_a_tariff_valid_at_the_time_applies(world):
    connector = world.cp_a.connectors.first()
    account = world.alice.customer_account
    winter = make_tariff(world.org_a, "Winter", valid_from=JAN, valid_until=MAR)
    spring = make_tariff(world.org_a, "Spring", valid_from=MAR, valid_until=JUN)
    tariff_assignment_create(tariff=winter)
    tariff_assignment_create(tariff=spring)
    assert tariff_for(connector=connector, customer_account=account, at=JAN - timedelta(seconds=1)) is None
    assert tariff_for(connector=connector, customer_account=account, at=JAN) == winter
    assert tariff_for(connector=connector, customer_account=account, at=MAR - timedelta(microseconds=1)) == winter
    assert tariff_for(connector=connector, customer_account=account, at=MAR) == spring
    assert tariff_for(connector=connector, customer_account=account, at=JUN) is None


def test_a_specific_tariff_out_of_validity_falls_back_to_the_wider_one(world):
    connector = world.cp_a.connectors.first()
    general = make_tariff(world.org_a, "General")
    tariff_assignment_create(tariff=general)
    tariff_assignment_create(
        tariff=make_tariff(world.org_a, "Campaign", valid_from=JAN, valid_until=MAR), connector=connector
    )
    assert tariff_for(connector=connector, customer_account=None, at=JUN) == general


# --- Contradictions refused ---------------------------------------------------------------------------


def test_overlapping_tariffs_for_the_same_scope_and_group_are_refused(world):
    tariff_assignment_create(
        tariff=make_tariff(world.org_a, "Winter", valid_from=JAN, valid_until=MAR), site=world.site_a
    )
    with pytest.raises(ValidationError):
        tariff_assignment_create(
            tariff=make_tariff(world.org_a, "Overlap", valid_from=MAR - timedelta(days=1)), site=world.site_a
        )
    with pytest.raises(ValidationError):
        tariff_assignment_create(
            tariff=make_tariff(world.org_a, "Open ended", valid_from=datetime(2025, 1, 1, tzinfo=UTC)),
            site=world.site_a,
        )
    # Back to back, another scope, or another customer group: all fine.
    tariff_assignment_create(tariff=make_tariff(world.org_a, "Spring", valid_from=MAR), site=world.site_a)
    tariff_assignment_create(tariff=make_tariff(world.org_a, "Winter too", valid_from=JAN, valid_until=MAR))
    fleet = group_with(world.org_a, world.alice.customer_account)
    tariff_assignment_create(
        tariff=make_tariff(world.org_a, "Fleet", valid_from=JAN), site=world.site_a, customer_group=fleet
    )
    assert TariffAssignment.objects.count() == 4


def test_the_same_tariff_twice_on_one_scope_is_refused(world):
    tariff = make_tariff(world.org_a)
    tariff_assignment_create(tariff=tariff, charge_point=world.cp_a)
    with pytest.raises(ValidationError):
        tariff_assignment_create(tariff=tariff, charge_point=world.cp_a)


def test_an_assignment_has_at_most_one_scope_and_stays_within_the_operator(world):
    tariff = make_tariff(world.org_a)
    with pytest.raises(ValidationError):
        tariff_assignment_create(tariff=tariff, site=world.site_a, charge_point=world.cp_a)
    with pytest.raises(ValidationError):
        tariff_assignment_create(tariff=tariff, site=world.site_b)
    with pytest.raises(IntegrityError), transaction.atomic():
        TariffAssignment.objects.create(tariff=tariff, site=world.site_a, connector=world.cp_a.connectors.first())


@pytest.mark.parametrize(
    "fields",
    [
        {"valid_from": MAR, "valid_until": MAR},
        {"valid_from": MAR, "valid_until": JAN},
        {"min_price": Decimal("10"), "max_price": Decimal("5")},
    ],
)
def test_contradictory_tariffs_are_refused(world, fields):
    tariff = Tariff(organization=world.org_a, name="Odd", **fields)
    with pytest.raises(ValidationError):
        tariff.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        tariff.save()


@pytest.mark.parametrize(
    "fields",
    [
        {"start_time": time(8), "end_time": time(8)},
        {"min_kwh": Decimal("10"), "max_kwh": Decimal("5")},
        {"min_duration_minutes": 60, "max_duration_minutes": 30},
        {"min_power_kw": Decimal("50"), "max_power_kw": Decimal("11")},
    ],
)
def test_contradictory_restrictions_are_refused(world, fields):
    element = TariffElement(tariff=make_tariff(world.org_a), position=1, **fields)
    with pytest.raises(ValidationError):
        element.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        element.save()


def test_days_of_week_are_0_to_6(world):
    tariff = make_tariff(world.org_a)
    TariffElement(tariff=tariff, position=1, days_of_week="0,5,6").full_clean()
    for bad in ("7", "mon", "1,,2"):
        with pytest.raises(ValidationError):
            TariffElement(tariff=tariff, position=1, days_of_week=bad).full_clean()


# --- The tariff as data, and its snapshot -------------------------------------------------------------


def test_a_tariff_snapshot_reads_back_as_the_same_spec(world):
    tariff = make_tariff(
        world.org_a,
        energy="3.1250",
        time="12.00",
        parking="60.00",
        flat="5.00",
        min_price=Decimal("2.00"),
        max_price=Decimal("500.00"),
        parking_grace_minutes=15,
        prices_include_vat=False,
    )
    night = TariffElement.objects.create(
        tariff=tariff,
        position=1,
        start_time=time(22),
        end_time=time(6),
        days_of_week="0,1,2,3,4",
        min_kwh=Decimal("1.5"),
        max_kwh=Decimal("80"),
        min_duration_minutes=10,
        max_duration_minutes=600,
        min_power_kw=Decimal("0"),
        max_power_kw=Decimal("22.5"),
    )
    PriceComponent.objects.create(element=night, type="ENERGY", price=Decimal("1.9900"), step_size=100)
    spec = tariff_spec(tariff, time_zone="Europe/Stockholm")

    assert len(spec.elements) == 2
    restrictions = spec.elements[1].restrictions
    assert restrictions.days_of_week == frozenset({0, 1, 2, 3, 4})
    assert restrictions.start_time == time(22) and restrictions.max_duration == timedelta(hours=10)
    assert spec.parking_grace == timedelta(minutes=15) and spec.vat_rate == Decimal("0.25")

    snapshot = json.loads(json.dumps(tariff_spec_to_snapshot(spec)))
    assert tariff_spec_from_snapshot(snapshot) == spec


# --- Admin ------------------------------------------------------------------------------------------


def admin_objects(world) -> dict[str, tuple]:
    """One object of each billing model per organization: (A's, B's)."""
    tariffs = (make_tariff(world.org_a), make_tariff(world.org_b))
    groups = (
        CustomerGroup.objects.create(organization=world.org_a, name="Fleet A"),
        CustomerGroup.objects.create(organization=world.org_b, name="Fleet B"),
    )
    assignments = tuple(tariff_assignment_create(tariff=tariff) for tariff in tariffs)
    sessions = (
        make_session(world.cp_a.connectors.first(), world.alice_card),
        make_session(world.cp_b.connectors.first(), None),
    )
    prices = tuple(
        SessionPrice.objects.create(
            session=session,
            tariff=tariff,
            tariff_snapshot={},
            breakdown=[],
            currency="SEK",
            energy_wh=12_000,
            net_total=Decimal("40.00"),
            vat_rate=Decimal("0.25"),
            vat_amount=Decimal("10.00"),
            gross_total=Decimal("50.00"),
        )
        for session, tariff in zip(sessions, tariffs, strict=True)
    )
    notes = tuple(
        CreditNote.objects.create(
            session=session,
            currency="SEK",
            net_amount=Decimal("4.00"),
            vat_rate=Decimal("0.25"),
            vat_amount=Decimal("1.00"),
            gross_amount=Decimal("5.00"),
            reason="Cable fault",
        )
        for session in sessions
    )
    return {
        "tariff": tariffs,
        "customergroup": groups,
        "tariffassignment": assignments,
        "sessionprice": prices,
        "creditnote": notes,
    }


MODELS = ["tariff", "customergroup", "tariffassignment", "sessionprice", "creditnote"]


@pytest.mark.parametrize("model", MODELS)
def test_staff_see_only_their_organizations_billing_rows(client, world, model):
    alpha, beta = admin_objects(world)[model]
    for staff, mine, theirs in ((world.carol, alpha, beta), (world.dave, beta, alpha)):
        client.force_login(staff)
        response = client.get(reverse(f"admin:billing_{model}_changelist"))
        assert response.status_code == 200
        rows = list(response.context["cl"].result_list)
        assert mine in rows and theirs not in rows
        assert client.get(reverse(f"admin:billing_{model}_change", args=[mine.pk])).status_code == 200
        response = client.get(reverse(f"admin:billing_{model}_change", args=[theirs.pk]))
        assert response.status_code == 302  # "doesn't exist", back to the admin index


def test_session_prices_cannot_be_changed_in_the_admin(client, world):
    price = admin_objects(world)["sessionprice"][0]
    client.force_login(world.carol)
    url = reverse("admin:billing_sessionprice_change", args=[price.pk])
    response = client.get(url)
    assert response.status_code == 200 and "Save" not in response.content.decode()
    client.post(url, {"gross_total": "1.00"})
    price.refresh_from_db()
    assert price.gross_total == Decimal("50.00")


def tariff_post(organization, *elements, **fields) -> dict:
    data = {
        "organization": organization.pk,
        "name": "Day and night",
        "valid_from_0": "2026-01-01",
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
        "elements-INITIAL_FORMS": "0",
        "elements-MIN_NUM_FORMS": "0",
        "elements-MAX_NUM_FORMS": "1000",
    }
    data.update(fields)
    for index, element in enumerate(elements):
        data.update({f"elements-{index}-{key}": value for key, value in element.items()})
    return data


def test_staff_define_a_tariff_with_elements_and_prices_on_one_page(client, world):
    client.force_login(world.carol)
    response = client.post(
        reverse("admin:billing_tariff_add"),
        tariff_post(
            world.org_a,
            {
                "position": "0",
                "start_time": "22:00",
                "end_time": "06:00",
                "days_of_week": ["0", "1"],
                "energy_price": "2.50",
                "energy_step": "100",
            },
            {
                "position": "1",
                "energy_price": "4.00",
                "time_price": "",
                "parking_price": "30",
                "parking_step": "60",
                "flat_price": "5",
            },
        ),
    )
    assert response.status_code == 302, response.context["errors"]
    tariff = Tariff.objects.get(name="Day and night")
    night, day = tariff.elements.order_by("position")
    assert night.days_of_week == "0,1"
    assert {(c.type, c.price, c.step_size) for c in night.components.all()} == {("ENERGY", Decimal("2.5"), 100)}
    assert {(c.type, c.price, c.step_size) for c in day.components.all()} == {
        ("ENERGY", Decimal("4"), 1),
        ("PARKING_TIME", Decimal("30"), 60),
        ("FLAT", Decimal("5"), 1),
    }


@pytest.mark.parametrize(
    "tariff_fields, element",
    [
        ({}, {"position": "0", "energy_price": ""}),  # no element at all
        ({}, {"position": "0", "start_time": "08:00", "end_time": "09:00"}),  # an element with no price
        ({}, {"position": "0", "start_time": "08:00", "end_time": "08:00", "energy_price": "1"}),
        ({}, {"position": "0", "min_kwh": "10", "max_kwh": "5", "energy_price": "1"}),
        ({}, {"position": "0", "min_duration_minutes": "60", "max_duration_minutes": "5", "energy_price": "1"}),
        ({}, {"position": "0", "min_power_kw": "50", "max_power_kw": "11", "energy_price": "1"}),
        ({"valid_until_0": "2025-12-31", "valid_until_1": "00:00:00"}, {"position": "0", "energy_price": "1"}),
        ({"min_price": "10", "max_price": "5"}, {"position": "0", "energy_price": "1"}),
    ],
)
def test_the_admin_refuses_contradictory_tariffs(client, world, tariff_fields, element):
    client.force_login(world.carol)
    response = client.post(reverse("admin:billing_tariff_add"), tariff_post(world.org_a, element, **tariff_fields))
    assert response.status_code == 200
    assert response.context["errors"]
    assert not Tariff.objects.exists()


def test_the_admin_refuses_an_overlapping_assignment(client, world):
    tariff_assignment_create(tariff=make_tariff(world.org_a, "Current"), site=world.site_a)
    newer = make_tariff(world.org_a, "Newer", valid_from=MAR)
    client.force_login(world.carol)
    data = {"tariff": newer.pk, "site": world.site_a.pk, "charge_point": "", "connector": "", "customer_group": ""}
    response = client.post(reverse("admin:billing_tariffassignment_add"), data)
    assert response.status_code == 200 and "overlapping" in response.content.decode()
    data["site"] = ""
    data["charge_point"] = world.cp_a.pk
    assert client.post(reverse("admin:billing_tariffassignment_add"), data).status_code == 302


def test_the_admin_refuses_moving_a_tariffs_validity_onto_another_on_the_same_scope(client, world):
    tariff_assignment_create(tariff=make_tariff(world.org_a, "Winter", valid_from=JAN, valid_until=MAR))
    spring = make_tariff(world.org_a, "Spring", valid_from=MAR)
    tariff_assignment_create(tariff=spring)
    client.force_login(world.carol)
    element = spring.elements.get()
    data = tariff_post(
        world.org_a,
        {"id": element.pk, "tariff": spring.pk, "position": "0", "energy_price": "4"},
        name="Spring",
        valid_from_0="2026-02-01",
        **{"elements-INITIAL_FORMS": "1"},
    )
    response = client.post(reverse("admin:billing_tariff_change", args=[spring.pk]), data)
    assert response.status_code == 200 and "overlapping" in response.content.decode()
    spring.refresh_from_db()
    assert spring.valid_from == MAR


def test_staff_cannot_assign_another_operators_tariff_or_site(client, world):
    client.force_login(world.carol)
    theirs = make_tariff(world.org_b)
    mine = make_tariff(world.org_a)
    for data in ({"tariff": theirs.pk, "site": ""}, {"tariff": mine.pk, "site": world.site_b.pk}):
        data.update({"charge_point": "", "connector": "", "customer_group": ""})
        response = client.post(reverse("admin:billing_tariffassignment_add"), data)
        assert response.status_code == 200 and response.context["errors"]
    assert not TariffAssignment.objects.exists()


def test_customer_group_members_are_the_operators_own_customers(world):
    group = CustomerGroup.objects.create(organization=world.org_a, name="Fleet")
    foreign = make_account(world.org_b)
    with pytest.raises(ValidationError):
        CustomerGroupMembership(customer_group=group, customer_account=foreign).full_clean()
