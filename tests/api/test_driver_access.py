"""Every driver endpoint is for drivers only: anonymous callers, operator staff and operators' tokens are refused."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.api_tokens import api_token_create

pytestmark = pytest.mark.django_db

#: (method, url name, takes an id)
DRIVER_ENDPOINTS = [
    ("get", "api:profile", False),
    ("get", "api:card_list", False),
    ("post", "api:card_mark_lost", True),
    ("get", "api:stations", False),
    ("post", "api:session_start", False),
    ("get", "api:session_active", False),
    ("post", "api:session_stop", True),
    ("get", "api:session_live", True),
    ("get", "api:history", False),
    ("get", "api:history_totals", False),
    ("get", "api:history_session", True),
    ("get", "api:statement_list", False),
    ("get", "api:statement_pdf", True),
    ("get", "api:wallet", False),
    ("post", "api:wallet_top_up", False),
]


def _url(name: str, takes_id: bool) -> str:
    return reverse(name, args=[1] if takes_id else [])


@pytest.mark.parametrize(("method", "name", "takes_id"), DRIVER_ENDPOINTS)
def test_anonymous_callers_are_refused_in_the_error_body(method, name, takes_id, world):
    response = getattr(APIClient(), method)(_url(name, takes_id))
    assert response.status_code in (401, 403)
    assert response.json()["error"]["status"] == response.status_code


@pytest.mark.parametrize("actor", ["carol", "dave", "admin"])
@pytest.mark.parametrize(("method", "name", "takes_id"), DRIVER_ENDPOINTS)
def test_operator_staff_and_admins_are_not_drivers(method, name, takes_id, actor, world):
    api = APIClient()
    api.force_authenticate(getattr(world, actor))
    response = getattr(api, method)(_url(name, takes_id))
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "This is for drivers with a customer account."


@pytest.mark.parametrize(("method", "name", "takes_id"), DRIVER_ENDPOINTS)
def test_an_operators_api_token_is_not_a_driver(method, name, takes_id, world):
    _token, key = api_token_create(user=world.carol, name="ERP")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert getattr(api, method)(_url(name, takes_id)).status_code == 403


def test_the_driver_paths_are_under_me_and_stations():
    assert reverse("api:card_mark_lost", args=[3]) == "/api/v1/me/cards/3/lost/"
    assert reverse("api:session_start") == "/api/v1/me/sessions/start/"
    assert reverse("api:session_active") == "/api/v1/me/sessions/active/"
    assert reverse("api:session_live", args=[3]) == "/api/v1/me/sessions/3/live/"
    assert reverse("api:history_session", args=[3]) == "/api/v1/me/sessions/3/"
    assert reverse("api:statement_pdf", args=[3]) == "/api/v1/me/statements/3/pdf/"
    assert reverse("api:wallet_top_up") == "/api/v1/me/wallet/top-up/"
    assert reverse("api:stations") == "/api/v1/stations/"
