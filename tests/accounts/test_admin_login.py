"""The admin has no login of its own: allauth's (rate-limited, two-factor) login guards it."""

import pytest
from allauth.account.models import EmailAddress

from tests.conftest import PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_rate_limits")]


def test_admin_login_sends_to_the_portal_login_and_back(client):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/admin/"


def test_staff_reach_the_admin_after_logging_in_through_allauth(client, world):
    EmailAddress.objects.create(user=world.carol, email=world.carol.email, primary=True, verified=True)
    response = client.post("/accounts/login/?next=/admin/", {"login": world.carol.email, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_admin_logins_are_rate_limited_like_every_login(client, world):
    EmailAddress.objects.create(user=world.carol, email=world.carol.email, primary=True, verified=True)
    for _ in range(5):
        client.post("/accounts/login/?next=/admin/", {"login": world.carol.email, "password": "wrong"})
    response = client.post("/accounts/login/?next=/admin/", {"login": world.carol.email, "password": PASSWORD})
    assert response.status_code != 302
    assert client.get("/admin/").status_code == 302
