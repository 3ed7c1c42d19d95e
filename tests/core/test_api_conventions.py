"""What every API endpoint shares: who may call, one error body, throttling, the schema and its docs."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.api_tokens import api_token_create, api_token_revoke
from core.throttling import ClientThrottle

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return APIClient()


def test_without_credentials_the_api_answers_401_in_the_common_error_shape(api):
    response = api.get(reverse("api:profile"))
    assert response.status_code in (401, 403)
    assert set(response.json()["error"]) >= {"status", "code", "message"}


def test_a_driver_reads_and_changes_their_profile_but_not_their_email(api, world):
    api.force_authenticate(world.alice)
    assert api.get(reverse("api:profile")).json()["email"] == "alice@example.com"
    response = api.patch(reverse("api:profile"), {"first_name": "Alice", "email": "evil@example.com"})
    assert response.status_code == 200 and response.json()["first_name"] == "Alice"
    world.alice.refresh_from_db()
    assert world.alice.email == "alice@example.com"


def test_validation_errors_name_the_field(api, world):
    api.force_authenticate(world.alice)
    response = api.patch(reverse("api:profile"), {"language": "klingon"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_choice" and "language" in error["fields"]


def test_an_operator_token_authenticates_until_revoked(api, world):
    token, key = api_token_create(user=world.carol, name="ERP")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.get(reverse("api:profile")).status_code == 403  # staff, not a driver
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}x")
    assert api.get(reverse("api:profile")).json()["error"]["status"] == 401
    api_token_revoke(token=token)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    response = api.get(reverse("api:profile"))
    assert response.status_code == 401 and "revoked" in response.json()["error"]["message"]


def test_each_user_has_a_request_budget(api, world, empty_rate_limits):
    rates = dict(ClientThrottle.THROTTLE_RATES)
    ClientThrottle.THROTTLE_RATES.update({"user": "3/min"})  # DRF's settings dict, shared
    try:
        api.force_authenticate(world.alice)
        codes = [api.get(reverse("api:profile")).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        api.force_authenticate(world.bob)
        assert api.get(reverse("api:profile")).status_code == 200  # bob has his own budget
    finally:
        ClientThrottle.THROTTLE_RATES.clear()
        ClientThrottle.THROTTLE_RATES.update(rates)


def test_the_openapi_schema_and_its_docs_page_are_served_without_network(client):
    schema = client.get(reverse("api_schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200 and "/api/v1/me/" in schema.json()["paths"]
    docs = client.get(reverse("api_docs")).content.decode()
    assert "swagger-ui" in docs and "cdn" not in docs.lower()


def test_an_id_the_database_cannot_hold_is_not_found_not_a_server_error(api, world):
    api.force_authenticate(world.alice)
    response = api.get(f"/api/v1/me/sessions/{10**30}/")
    assert response.status_code == 404 and response.json()["error"]["status"] == 404
