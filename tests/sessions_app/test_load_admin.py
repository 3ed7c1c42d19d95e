"""Load groups in the admin: the operator's own only; the charge points of the group's site only, each in one
enabled group at most; windows inline; each save queues a rebalance; who may manage them (operator staff)."""

from decimal import Decimal

import pytest
from django.urls import reverse

from sessions_app import admin_load
from sessions_app.models import LoadGroup
from tests.conftest import PASSWORD
from tests.factories import make_charge_point, make_site

pytestmark = pytest.mark.django_db

ADD_URL = "admin:sessions_app_loadgroup_add"


@pytest.fixture
def rebalanced(monkeypatch) -> list[int]:
    queued: list[int] = []
    monkeypatch.setattr(admin_load, "load_rebalance_soon", queued.append)
    return queued


def _data(site, charge_points=(), *, name="Garage", enabled=True, windows=()) -> dict:
    data = {
        "site": site.pk,
        "name": name,
        "limit_unit": "A",
        "limit": "63",
        "phases": "3",
        "voltage": "230",
        "other_loads_kw": "2.0",
        "rotation_minutes": "15",
        "charge_points": [charge_point.pk for charge_point in charge_points],
        "windows-TOTAL_FORMS": str(len(windows)),
        "windows-INITIAL_FORMS": "0",
        "windows-MIN_NUM_FORMS": "0",
        "windows-MAX_NUM_FORMS": "1000",
    }
    if enabled:
        data["enabled"] = "on"
    for i, (weekdays, start, end, limit) in enumerate(windows):
        data.update(
            {
                f"windows-{i}-weekdays": weekdays,
                f"windows-{i}-start": start,
                f"windows-{i}-end": end,
                f"windows-{i}-limit": limit,
            }
        )
    return data


def test_operator_staff_add_a_group_with_its_windows_and_a_rebalance_is_queued(client, world, rebalanced):
    client.login(email=world.carol.email, password=PASSWORD)
    response = client.post(
        reverse(ADD_URL), _data(world.site_a, [world.cp_a], windows=[("12345", "07:00", "20:00", "32")])
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    group = LoadGroup.objects.get()
    assert list(group.charge_points.all()) == [world.cp_a]
    assert [(w.weekdays, f"{w.start:%H:%M}", w.limit) for w in group.windows.all()] == [("12345", "07:00", Decimal(32))]
    assert rebalanced == [group.pk]
    changelist = client.get(reverse("admin:sessions_app_loadgroup_changelist")).content.decode()
    assert "63.0 A per phase" in changelist
    assert reverse("admin:reporting_load_group", args=[group.pk]) in changelist


def test_deleting_a_group_queues_its_rebalance_to_let_its_chargers_go(client, world, rebalanced):
    group = LoadGroup.objects.create(site=world.site_a, name="Garage", limit=Decimal(50))
    client.login(email=world.carol.email, password=PASSWORD)
    response = client.post(reverse("admin:sessions_app_loadgroup_delete", args=[group.pk]), {"post": "yes"})
    assert response.status_code == 302 and not LoadGroup.objects.exists()
    assert rebalanced == [group.pk]


def test_a_charge_point_of_another_site_is_refused(client, world, rebalanced):
    other_site = make_site(world.org_a, "Alpha Office")
    elsewhere = make_charge_point(other_site, "ALPHA-OFFICE")
    client.login(email=world.carol.email, password=PASSWORD)
    response = client.post(reverse(ADD_URL), _data(world.site_a, [world.cp_a, elsewhere]))
    assert response.status_code == 200
    assert "Not at Alpha Depot: ALPHA-OFFICE" in str(response.context["adminform"].form.errors["charge_points"])
    assert not LoadGroup.objects.exists() and rebalanced == []


def test_a_charge_point_of_another_operator_is_not_a_choice(client, world, rebalanced):
    client.login(email=world.carol.email, password=PASSWORD)
    response = client.post(reverse(ADD_URL), _data(world.site_a, [world.cp_b]))
    assert response.status_code == 200 and "charge_points" in response.context["adminform"].form.errors
    assert not LoadGroup.objects.exists()


def test_a_charge_point_in_two_enabled_groups_is_refused(client, world, rebalanced):
    second = make_charge_point(world.site_a, "ALPHA-2")
    LoadGroup.objects.create(site=world.site_a, name="Garage", limit=Decimal(50))  # the site's others
    client.login(email=world.carol.email, password=PASSWORD)
    whole_site = client.post(reverse(ADD_URL), _data(world.site_a, [], name="Visitors"))
    errors = whole_site.context["adminform"].form.errors["charge_points"]
    assert errors == [
        "Garage already manages the site's charge points that no group names: choose this group's charge points."
    ]
    disabled = client.post(reverse(ADD_URL), _data(world.site_a, [], name="Visitors", enabled=False))
    assert disabled.status_code == 302
    explicit = LoadGroup.objects.create(site=world.site_a, name="Staff", limit=Decimal(20))
    explicit.charge_points.set([world.cp_a])
    response = client.post(reverse(ADD_URL), _data(world.site_a, [world.cp_a, second], name="Evening"))
    assert "Staff already manages ALPHA-1" in str(response.context["adminform"].form.errors["charge_points"])
    # named, ALPHA-2 leaves Garage (the site's others): it is in one group still
    assert client.post(reverse(ADD_URL), _data(world.site_a, [second], name="Evening")).status_code == 302
    changelist = client.get(reverse("admin:sessions_app_loadgroup_changelist")).content.decode()
    assert "0 (the site&#x27;s)" in changelist or "0 (the site's)" in changelist


def test_another_operators_group_is_neither_listed_nor_opened(client, world):
    group = LoadGroup.objects.create(site=world.site_a, name="Garage", limit=Decimal(50))
    client.login(email=world.dave.email, password=PASSWORD)
    assert "Garage" not in client.get(reverse("admin:sessions_app_loadgroup_changelist")).content.decode()
    response = client.get(reverse("admin:sessions_app_loadgroup_change", args=[group.pk]))
    assert response.status_code == 302  # the admin's "does not exist" redirect


def test_connector_phases_and_customer_group_priority_are_editable(client, world):
    client.login(email=world.carol.email, password=PASSWORD)
    charge_point = client.get(reverse("admin:sessions_app_chargepoint_change", args=[world.cp_a.pk])).content.decode()
    assert 'name="connectors-0-phases"' in charge_point
    customer_group = client.get(reverse("admin:billing_customergroup_add")).content.decode()
    assert 'name="load_priority"' in customer_group
