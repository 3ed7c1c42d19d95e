"""A card's expiry lies in the years 2000 to 2199 however it is entered; one stored beyond still shows everywhere."""

import io
from datetime import UTC, datetime

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import IdTag
from accounts.services import id_tags_import_csv

pytestmark = pytest.mark.django_db
FAR = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)  # an hour east of UTC this is year 10000


@pytest.fixture
def api(carol_api) -> APIClient:
    return carol_api


@pytest.mark.parametrize(
    "expires_at", ["9999-12-31", "9999-12-31T23:59:59Z", "2200-01-01", "1999-12-31T12:00Z", "0001-01-01"]
)
def test_an_imported_expiry_outside_the_years_2000_to_2199_is_refused_on_its_line(world, expires_at):
    text = (
        f"uid,owner_email,expires_at\n0D0D0D0D,{world.alice.email},2030-06-30\n0E0E0E0E,{world.alice.email},"
        f"{expires_at}\n"
    )

    result = id_tags_import_csv(organization=world.org_a, csv_file=io.BytesIO(text.encode()))

    assert [(error.row, error.message) for error in result.errors] == [
        (3, f"expires_at {expires_at}: Choose a moment from 2000 to 2199."),
    ]
    assert not IdTag.objects.filter(uid__in=["0D0D0D0D", "0E0E0E0E"]).exists()


def test_an_imported_expiry_inside_the_range_is_kept(world):
    text = f"uid,owner_email,expires_at\n0D0D0D0D,{world.alice.email},2199-12-30T12:00Z\n"
    assert id_tags_import_csv(organization=world.org_a, csv_file=io.BytesIO(text.encode())).ok
    assert IdTag.objects.get(uid="0D0D0D0D").expires_at == datetime(2199, 12, 30, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expires_at", "message"),
    [
        ("2300-01-01T00:00:00Z", "Choose a moment from 2000 to 2199."),
        ("9999-12-31T23:59:59Z", "out of range"),
    ],
)
def test_the_api_refuses_to_issue_a_card_expiring_out_of_range(api, world, expires_at, message):
    response = api.post(
        reverse("api:operator_cards"),
        {
            "uid": "04AABBCC",
            "customer_account": world.alice.customer_account_id,
            "expires_at": expires_at,
        },
    )
    assert response.status_code == 400
    assert message in str(response.json()["error"]["fields"]["expires_at"])
    assert not IdTag.objects.filter(uid="04AABBCC").exists()


def test_a_card_stored_with_expiry_9999_is_listed_and_shown_by_the_operator_api(api, world):
    IdTag.objects.filter(pk=world.alice_card.pk).update(expires_at=FAR)

    listed = api.get(reverse("api:operator_cards"))
    shown = api.get(reverse("api:operator_card", args=[world.alice_card.pk]))

    assert listed.status_code == 200, listed.content
    assert shown.status_code == 200, shown.content
    assert shown.json()["expires_at"].startswith("9999-12-")


def test_a_card_stored_with_expiry_9999_shows_in_the_admin_and_must_be_corrected_to_be_saved(client, world):
    IdTag.objects.filter(pk=world.alice_card.pk).update(expires_at=FAR)
    client.force_login(world.carol)
    change = reverse("admin:accounts_idtag_change", args=[world.alice_card.pk])

    assert client.get(reverse("admin:accounts_idtag_changelist")).status_code == 200
    assert client.get(change).status_code == 200
    response = client.post(
        change,
        {
            "uid": world.alice_card.uid,
            "label": "",
            "owner": world.alice.pk,
            "status": "active",
            "expires_at_0": "2300-01-01",
            "expires_at_1": "00:00:00",
            "max_concurrent_sessions": 1,
        },
    )

    assert response.status_code == 200  # the form again, with the error
    assert "Choose a moment from 2000 to 2199." in response.content.decode()
    assert IdTag.objects.filter(pk=world.alice_card.pk, expires_at=FAR).exists()
