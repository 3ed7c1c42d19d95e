"""The tariff admin: VAT entered in per cent, and once saved the operator is led on to assigning the tariff."""

from decimal import Decimal

import pytest
from django.urls import reverse

from billing.models import Tariff
from tests.billing.test_tariffs import tariff_post
from tests.factories import make_tariff

pytestmark = pytest.mark.django_db

ELEMENT = {"position": "0", "energy_price": "4.00"}


def test_vat_is_entered_as_a_percentage_and_stored_as_the_rate(client, world):
    client.force_login(world.carol)
    response = client.post(reverse("admin:billing_tariff_add"), tariff_post(world.org_a, ELEMENT, vat_rate="12.5"))
    assert response.status_code == 302, response.context["errors"]
    tariff = Tariff.objects.get(name="Day and night")
    assert tariff.vat_rate == Decimal("0.125")
    page = client.get(reverse("admin:billing_tariff_change", args=[tariff.pk])).content.decode()
    assert 'name="vat_rate" value="12.5"' in page


@pytest.mark.parametrize("typed", ["125", "-1", "1000"])
def test_out_of_range_vat_gets_a_clear_message(client, world, typed):
    client.force_login(world.carol)
    response = client.post(reverse("admin:billing_tariff_add"), tariff_post(world.org_a, ELEMENT, vat_rate=typed))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["vat_rate"] == [
        "Enter the VAT as a percentage between 0 and 100, e.g. 25 for 25 %."
    ]
    assert not Tariff.objects.exists()


def test_a_new_tariff_leads_on_to_its_assignment(client, world):
    client.force_login(world.carol)
    response = client.post(reverse("admin:billing_tariff_add"), tariff_post(world.org_a, ELEMENT))
    tariff = Tariff.objects.get(name="Day and night")
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('admin:billing_tariffassignment_add')}?tariff={tariff.pk}"
    form = client.get(response["Location"]).context["adminform"].form
    assert str(form.initial["tariff"]) == str(tariff.pk)


def test_save_and_continue_stays_on_the_tariff(client, world):
    client.force_login(world.carol)
    response = client.post(
        reverse("admin:billing_tariff_add"), {**tariff_post(world.org_a, ELEMENT), "_continue": "Save"}
    )
    tariff = Tariff.objects.get(name="Day and night")
    assert response["Location"] == reverse("admin:billing_tariff_change", args=[tariff.pk])


def test_an_unassigned_tariff_says_so_with_a_link_after_a_change(client, world):
    tariff = make_tariff(world.org_a, "Spring")
    element = tariff.elements.get()
    client.force_login(world.carol)
    data = tariff_post(
        world.org_a,
        {"id": element.pk, "tariff": tariff.pk, "position": "0", "energy_price": "4"},
        name="Spring",
        **{"elements-INITIAL_FORMS": "1"},
    )
    response = client.post(reverse("admin:billing_tariff_change", args=[tariff.pk]), data, follow=True)
    html = response.content.decode()
    assert 'id="assign-tariff"' in html
    assert f"{reverse('admin:billing_tariffassignment_add')}?tariff={tariff.pk}" in html


def test_vat_with_more_than_two_decimals_is_refused(client, world):
    client.force_login(world.carol)
    response = client.post(reverse("admin:billing_tariff_add"), tariff_post(world.org_a, ELEMENT, vat_rate="12.345"))
    assert response.context["adminform"].form.errors["vat_rate"] == [
        "Enter the VAT with at most two decimals, e.g. 12.5."
    ]
