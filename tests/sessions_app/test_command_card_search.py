"""The admin's command form chooses the card by search (the admin's autocomplete), not from every card."""

import pytest
from django.urls import reverse

from tests.factories import make_account, make_tag

pytestmark = pytest.mark.django_db


def commands_url(world) -> str:
    return reverse("admin:sessions_app_chargepoint_commands", args=[world.cp_a.pk])


def search(client, term: str) -> list[str]:
    response = client.get(
        reverse("admin:autocomplete"),
        {"term": term, "app_label": "sessions_app", "model_name": "chargingsession", "field_name": "id_tag"},
    )
    assert response.status_code == 200
    return [item["text"] for item in response.json()["results"]]


def test_the_card_field_is_a_search_box_not_a_list_of_every_card(client, world):
    for n in range(30):
        make_tag(world.alice.customer_account, world.alice, f"FLEET{n:04d}")
    client.force_login(world.carol)
    html = client.get(commands_url(world)).content.decode()
    select = html.split('<select name="id_tag"')[1].split("</select>")[0]
    assert "admin-autocomplete" in html and 'data-ajax--url="/admin/autocomplete/"' in html
    assert "FLEET0001" not in select  # no option per card: they are searched for
    assert 'data-commands="RemoteStartTransaction"' in select  # the field still shows for its command only


def test_the_search_finds_the_operators_cards_only(client, world):
    make_tag(make_account(world.org_b, "Beta fleet"), None, "04BEEF01")
    client.force_login(world.carol)
    found = search(client, "04")
    assert any("04A1B2C3" in text for text in found) and any("04B0B0B0" in text for text in found)
    assert not any("04BEEF01" in text for text in found)
    assert [text for text in search(client, "A1B2") if "04A1B2C3" in text]


def test_a_card_chosen_by_search_starts_a_session(client, world, transport):
    client.force_login(world.carol)
    response = client.post(
        commands_url(world), {"action": "RemoteStartTransaction", "connector_id": 1, "id_tag": world.alice_card.pk}
    )
    assert response.status_code == 200 and response.context["form"].errors == {}
    assert transport.sent[-1] == ("ALPHA-1", "RemoteStartTransaction", {"connector_id": 1, "id_tag": "04A1B2C3"})
    selected = response.content.decode().split('<select name="id_tag"')[1].split("</select>")[0]
    assert "selected" in selected and "04A1B2C3" in selected  # the chosen card is shown back


def test_another_operators_card_is_refused_even_if_posted(client, world, transport):
    theirs = make_tag(make_account(world.org_b, "Beta fleet"), None, "04BEEF02")
    client.force_login(world.carol)
    response = client.post(
        commands_url(world), {"action": "RemoteStartTransaction", "connector_id": 1, "id_tag": theirs.pk}
    )
    assert "id_tag" in response.context["form"].errors
    assert transport.sent == []
