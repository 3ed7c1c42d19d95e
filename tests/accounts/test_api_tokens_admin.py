"""Operators' API tokens in the admin: created with the key shown once, scoped to one operator, revoked."""

import re

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.api_tokens import api_token_create
from accounts.models import ApiToken
from tests.factories import make_staff

pytestmark = pytest.mark.django_db


def _add_url() -> str:
    return reverse("admin:accounts_apitoken_add")


def _key(response) -> str:
    match = re.search(r'id="api-token-key"[^>]*>(cp_[A-Za-z0-9_\-]+)<', response.content.decode())
    assert match, response.content.decode()[:2000]
    return match.group(1)


def test_staff_create_a_token_and_see_its_key_once(client, world):
    client.force_login(world.carol)
    response = client.post(_add_url(), {"name": "ERP export", "user": world.carol.pk})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    key = _key(response)
    token = ApiToken.objects.get()
    assert (token.name, token.user, token.organization) == ("ERP export", world.carol, world.org_a)
    assert key.startswith(token.prefix) and key not in token.key_hash
    # The key works, for the operator's endpoints...
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.get(reverse("api:operator_cards")).status_code == 200
    # ...and is never shown again.
    for url in (
        reverse("admin:accounts_apitoken_changelist"),
        reverse("admin:accounts_apitoken_change", args=[token.pk]),
    ):
        page = client.get(url)
        assert page.status_code == 200 and key not in page.content.decode()
        assert token.prefix in page.content.decode()


def test_revoking_stops_the_token_at_once(client, world):
    token, key = api_token_create(user=world.carol, name="ERP")
    other, other_key = api_token_create(user=world.carol, name="BI")
    client.force_login(world.carol)
    response = client.post(
        reverse("admin:accounts_apitoken_changelist"),
        {"action": "revoke_tokens", "_selected_action": [token.pk]},
        follow=True,
    )
    assert response.status_code == 200 and "Revoked 1 token." in response.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is not None
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.get(reverse("api:operator_cards")).status_code == 401
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {other_key}")
    assert api.get(reverse("api:operator_cards")).status_code == 200


def test_tokens_are_listed_and_revoked_per_operator(client, world):
    alpha, _key_a = api_token_create(user=world.carol, name="Alpha ERP")
    beta, _key_b = api_token_create(user=world.dave, name="Beta ERP")
    client.force_login(world.carol)
    listing = client.get(reverse("admin:accounts_apitoken_changelist")).content.decode()
    assert "Alpha ERP" in listing and "Beta ERP" not in listing
    assert client.get(reverse("admin:accounts_apitoken_change", args=[beta.pk])).status_code == 302  # not found
    client.post(
        reverse("admin:accounts_apitoken_changelist"), {"action": "revoke_tokens", "_selected_action": [beta.pk]}
    )
    beta.refresh_from_db()
    assert beta.revoked_at is None


def test_a_token_acts_only_for_staff_of_the_creators_operator(client, world):
    client.force_login(world.carol)
    for user in (world.dave, world.alice, world.admin):
        response = client.post(_add_url(), {"name": "Sneaky", "user": user.pk})
        assert response.status_code == 200 and "user" in response.context["adminform"].form.errors
    assert not ApiToken.objects.exists()


def test_a_token_cannot_carry_more_rights_than_its_creator(client, world):
    colleague = make_staff(world.org_a, "erin@alpha.example")
    colleague.user_permissions.add(Permission.objects.get(codename="delete_apitoken"))
    client.force_login(world.carol)
    response = client.post(_add_url(), {"name": "Wider", "user": colleague.pk})
    assert "user" in response.context["adminform"].form.errors
    plain = make_staff(world.org_a, "frank@alpha.example")
    response = client.post(_add_url(), {"name": "Same", "user": plain.pk})
    assert _key(response)
    assert ApiToken.objects.get().user == plain


def test_only_the_name_changes_and_nothing_is_deleted(client, world):
    token, _key = api_token_create(user=world.carol, name="ERP")
    client.force_login(world.carol)
    url = reverse("admin:accounts_apitoken_change", args=[token.pk])
    response = client.post(url, {"name": "ERP (old)", "user": world.dave.pk, "revoked_at": ""})
    assert response.status_code == 302
    token.refresh_from_db()
    assert (token.name, token.user) == ("ERP (old)", world.carol)
    assert client.post(reverse("admin:accounts_apitoken_delete", args=[token.pk]), {"post": "yes"}).status_code == 403
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_the_platform_admin_makes_a_token_for_any_operators_staff(client, world):
    client.force_login(world.admin)
    response = client.post(_add_url(), {"name": "Beta ERP", "user": world.dave.pk})
    _key(response)
    assert ApiToken.objects.get().organization == world.org_b


def test_drivers_and_staff_without_the_permission_see_no_tokens(client, world):
    client.force_login(world.alice)
    assert client.get(reverse("admin:accounts_apitoken_changelist")).status_code == 302  # to the login page
    world.carol.groups.clear()
    client.force_login(world.carol)
    assert client.get(reverse("admin:accounts_apitoken_changelist")).status_code == 403
    assert client.post(_add_url(), {"name": "x", "user": world.carol.pk}).status_code == 403
