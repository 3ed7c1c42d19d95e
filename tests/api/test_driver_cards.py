"""A driver lists the cards issued to them and reports one lost; nobody else's."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import AuthorizationStatus, IdTag
from accounts.selectors import id_tag_verdict
from tests.factories import make_tag

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(world) -> APIClient:
    api = APIClient()
    api.force_authenticate(world.alice)
    return api


def test_a_driver_lists_their_own_cards_only(alice, world):
    spare = make_tag(world.alice.customer_account, world.alice, "04A1A1A1", label="Spare")
    response = alice.get(reverse("api:card_list"))
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [card["uid"] for card in body["results"]] == ["04A1A1A1", "04A1B2C3"]
    assert body["results"][0] == {
        "id": spare.pk,
        "uid": "04A1A1A1",
        "kind": "rfid",
        "label": "Spare",
        "status": "active",
        "customer_account": world.alice.customer_account.name,
        "expires_at": None,
        "issued_at": body["results"][0]["issued_at"],
        "blocked_at": None,
    }


def test_cards_filter_by_status_and_order(alice, world):
    lost = make_tag(
        world.alice.customer_account, world.alice, "04FFFFFF", status="lost", blocked_at="2026-01-01T00:00Z"
    )
    assert [c["id"] for c in alice.get(reverse("api:card_list"), {"status": "lost"}).json()["results"]] == [lost.pk]
    ordered = alice.get(reverse("api:card_list"), {"ordering": "-uid"}).json()["results"]
    assert [c["uid"] for c in ordered] == ["04FFFFFF", "04A1B2C3"]
    assert alice.get(reverse("api:card_list"), {"status": "stolen"}).status_code == 400


def test_cards_are_paginated(alice, world):
    for n in range(3):
        make_tag(world.alice.customer_account, world.alice, f"0400000{n}")
    page = alice.get(reverse("api:card_list"), {"page_size": 2, "page": 2}).json()
    assert page["count"] == 4 and len(page["results"]) == 2 and page["previous"] and page["next"] is None


def test_a_driver_marks_their_card_lost_and_it_can_no_longer_charge(alice, world):
    response = alice.post(reverse("api:card_mark_lost", args=[world.alice_card.pk]))
    assert response.status_code == 200
    assert response.json()["status"] == "lost" and response.json()["blocked_at"]
    world.alice_card.refresh_from_db()
    assert world.alice_card.status == IdTag.Status.LOST
    verdict = id_tag_verdict(raw_uid="04A1B2C3", organization=world.org_a, at=world.alice_card.blocked_at)
    assert verdict.status == AuthorizationStatus.BLOCKED


def test_marking_lost_twice_keeps_the_first_time(alice, world):
    first = alice.post(reverse("api:card_mark_lost", args=[world.alice_card.pk])).json()["blocked_at"]
    assert alice.post(reverse("api:card_mark_lost", args=[world.alice_card.pk])).json()["blocked_at"] == first


def test_another_drivers_card_is_not_found_and_stays_active(alice, world):
    response = alice.post(reverse("api:card_mark_lost", args=[world.bob_card.pk]))
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    world.bob_card.refresh_from_db()
    assert world.bob_card.status == IdTag.Status.ACTIVE
    assert alice.post(reverse("api:card_mark_lost", args=[999_999])).status_code == 404


def test_a_card_of_the_drivers_account_issued_to_nobody_by_name_is_not_theirs_to_report(alice, world):
    pool = make_tag(world.alice.customer_account, None, "04C0C0C0")
    assert alice.post(reverse("api:card_mark_lost", args=[pool.pk])).status_code == 404


def test_mark_lost_is_a_post(alice, world):
    assert alice.get(reverse("api:card_mark_lost", args=[world.alice_card.pk])).status_code == 405
