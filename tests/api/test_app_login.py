"""The app logs in through allauth's headless API (/_allauth/app/v1) and calls /api/v1 with its session token."""

import re
from urllib.parse import unquote

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.totp.internal.auth import (
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
    yield_hotp_counters_from_time,
)
from django.core import mail
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import User
from core.throttling import ClientThrottle
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_rate_limits")]

AUTH = "/_allauth/app/v1/auth"
ACCOUNT = "/_allauth/app/v1/account"
APP_LINKS = {
    "account_confirm_email": "https://app.example.com/account/verify-email/{key}",
    "account_reset_password_from_key": "https://app.example.com/account/password/reset/key/{key}",
}


@pytest.fixture
def app():
    return APIClient()


@pytest.fixture
def app_links(settings):
    settings.HEADLESS_FRONTEND_URLS = APP_LINKS


def verified(user: User) -> User:
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
    return user


def link_key(pattern: str, body: str) -> str:
    """The key in an emailed app link (URL-quoted there, as the app finds it)."""
    return unquote(re.search(pattern, body).group(1))


def use_token(client: APIClient, token: str) -> None:
    client.credentials(HTTP_X_SESSION_TOKEN=token)


def pending_flows(body: dict) -> set[str]:
    return {flow["id"] for flow in body["data"].get("flows", []) if flow.get("is_pending")}


def log_in(client: APIClient, email: str, password: str = PASSWORD):
    return client.post(f"{AUTH}/login", {"email": email, "password": password}, format="json")


def current_totp_code(secret: str) -> str:
    counters = list(yield_hotp_counters_from_time())  # now, with the tolerated periods either side
    return format_hotp_value(hotp_value(secret, counters[len(counters) // 2]))


def with_totp(user: User) -> str:
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    return secret


def sign_up(client: APIClient, world, email: str = "erik@example.com", **extra):
    body = {"email": email, "password": PASSWORD, "full_name": "Erik Ek", "operator": world.org_b.pk, **extra}
    return client.post(f"{AUTH}/signup", body, format="json")


def test_the_app_signs_up_verifies_the_email_from_its_link_and_calls_the_api(app, world, app_links):
    response = sign_up(app, world)

    assert response.status_code == 401  # not logged in until the address is verified
    body = response.json()
    assert pending_flows(body) == {"verify_email"}
    token = body["meta"]["session_token"]
    user = User.objects.get(email="erik@example.com")
    assert (user.first_name, user.customer_account.organization) == ("Erik", world.org_b)
    key = link_key(r"https://app\.example\.com/account/verify-email/(\S+)", mail.outbox[0].body)

    use_token(app, token)
    assert app.get(reverse("api:profile")).status_code in (401, 403)
    assert app.post(f"{AUTH}/email/verify", {"key": "wrong"}, format="json").status_code == 400

    response = app.post(f"{AUTH}/email/verify", {"key": key}, format="json")

    assert response.status_code == 200
    assert response.json()["meta"]["is_authenticated"]
    use_token(app, response.json()["meta"].get("session_token", token))
    profile = app.get(reverse("api:profile"))
    assert profile.status_code == 200
    assert profile.json()["email"] == "erik@example.com"
    assert profile.json()["operator"] == world.org_b.name


def test_without_an_app_link_the_verification_email_opens_the_portal(app, world):
    sign_up(app, world)

    assert re.search(r"https?://[^/\s]+/accounts/confirm-email/\S+/", mail.outbox[0].body)


def test_signing_up_on_the_portal_keeps_the_portal_link_when_the_app_has_its_own(client, world, app_links):
    client.post(
        reverse("account_signup"),
        {
            "email": "erik@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "full_name": "Erik Ek",
            "operator": world.org_a.pk,
        },
    )

    assert "/accounts/confirm-email/" in mail.outbox[0].body
    assert "app.example.com" not in mail.outbox[0].body


def test_signup_asks_for_name_and_an_operator_that_takes_signups(app, world):
    world.org_b.accepts_signups = False
    world.org_b.save(update_fields=["accepts_signups"])

    response = sign_up(app, world, full_name="")

    assert response.status_code == 400
    assert {error["param"] for error in response.json()["errors"]} == {"full_name", "operator"}
    assert not User.objects.filter(email="erik@example.com").exists()


def test_a_verified_driver_logs_in_uses_the_api_and_logs_out(app, world):
    verified(world.alice)

    response = log_in(app, world.alice.email)

    assert response.status_code == 200
    body = response.json()
    assert body["data"]["user"]["email"] == world.alice.email
    token = body["meta"]["session_token"]
    use_token(app, token)
    assert app.get(reverse("api:profile")).json()["email"] == world.alice.email
    assert app.get(f"{AUTH}/session").status_code == 200

    assert app.delete(f"{AUTH}/session").status_code == 401  # answered as "no longer authenticated"

    use_token(app, token)
    assert app.get(reverse("api:profile")).status_code in (401, 403)
    assert app.get(f"{AUTH}/session").status_code == 410  # the token is gone


def test_a_made_up_session_token_is_refused(app, world):
    use_token(app, "not-a-session-token")

    response = app.get(reverse("api:profile"))

    assert response.status_code in (401, 403)
    assert set(response.json()["error"]) >= {"status", "code", "message"}


def test_a_wrong_password_is_refused_without_a_session(app, world):
    verified(world.alice)

    response = log_in(app, world.alice.email, "wrong password")

    assert response.status_code == 400
    assert "session_token" not in response.json().get("meta", {})
    assert log_in(app, "nobody@example.com").status_code == 400


def test_an_unverified_driver_must_verify_before_the_session_counts(app, world):
    response = log_in(app, world.alice.email)

    assert response.status_code == 401
    assert pending_flows(response.json()) == {"verify_email"}
    use_token(app, response.json()["meta"]["session_token"])
    assert app.get(reverse("api:profile")).status_code in (401, 403)


def test_operator_staff_log_in_but_the_driver_endpoints_refuse_them(app, world):
    verified(world.carol)
    use_token(app, log_in(app, world.carol.email).json()["meta"]["session_token"])

    assert app.get(reverse("api:profile")).status_code == 403


def test_a_driver_with_an_authenticator_app_needs_its_code_to_finish_logging_in(app, world):
    verified(world.alice)
    secret = with_totp(world.alice)

    response = log_in(app, world.alice.email)

    assert response.status_code == 401
    assert pending_flows(response.json()) == {"mfa_authenticate"}
    use_token(app, response.json()["meta"]["session_token"])
    assert app.get(reverse("api:profile")).status_code in (401, 403)
    assert app.post(f"{AUTH}/2fa/authenticate", {"code": "000000"}, format="json").status_code == 400

    response = app.post(f"{AUTH}/2fa/authenticate", {"code": current_totp_code(secret)}, format="json")

    assert response.status_code == 200
    assert response.json()["meta"]["is_authenticated"]
    use_token(app, response.json()["meta"]["session_token"])
    assert app.get(reverse("api:profile")).status_code == 200


def test_the_app_sets_up_an_authenticator_then_logging_in_asks_for_it(app, world):
    verified(world.alice)
    use_token(app, log_in(app, world.alice.email).json()["meta"]["session_token"])
    response = app.get(f"{ACCOUNT}/authenticators/totp")
    assert response.status_code == 404  # none yet; the answer carries a secret to set one up
    secret = response.json()["meta"]["secret"]
    code = {"code": current_totp_code(secret)}
    asked = app.post(f"{ACCOUNT}/authenticators/totp", code, format="json")
    assert asked.status_code == 401  # confirm the password first
    assert "reauthenticate" in {flow["id"] for flow in asked.json()["data"]["flows"]}
    assert app.post(f"{AUTH}/reauthenticate", {"password": PASSWORD}, format="json").status_code == 200

    response = app.post(f"{ACCOUNT}/authenticators/totp", code, format="json")

    assert response.status_code == 200
    assert response.json()["data"]["type"] == "totp"
    app.delete(f"{AUTH}/session")
    app.credentials()
    assert pending_flows(log_in(app, world.alice.email).json()) == {"mfa_authenticate"}


def test_the_app_resets_a_forgotten_password_from_the_emailed_link(app, world, app_links):
    verified(world.alice)

    assert app.post(f"{AUTH}/password/request", {"email": world.alice.email}, format="json").status_code == 200
    key = link_key(r"https://app\.example\.com/account/password/reset/key/(\S+)", mail.outbox[0].body)
    response = app.post(f"{AUTH}/password/reset", {"key": key, "password": "a new horse 43"}, format="json")

    assert response.status_code in (200, 401)  # 401: reset, but this app session is not logged in
    assert log_in(app, world.alice.email, PASSWORD).status_code == 400
    assert log_in(app, world.alice.email, "a new horse 43").status_code == 200


def test_after_five_wrong_passwords_even_the_right_one_is_refused_for_a_while(app, world):
    verified(world.alice)
    for _ in range(5):
        assert log_in(app, world.alice.email, "wrong password").status_code == 400

    response = log_in(app, world.alice.email)

    assert response.status_code in (400, 429)
    assert "session_token" not in response.json().get("meta", {})


def test_signups_from_one_address_are_limited(app, world):
    codes = [sign_up(app, world, email=f"driver{n}@example.com").status_code for n in range(21)]

    assert codes[:20] == [401] * 20
    assert codes[20] == 429


def test_a_session_token_has_the_users_request_budget(app, world):
    verified(world.alice)
    use_token(app, log_in(app, world.alice.email).json()["meta"]["session_token"])
    rates = dict(ClientThrottle.THROTTLE_RATES)
    ClientThrottle.THROTTLE_RATES.update({"user": "2/min"})  # DRF's settings dict, shared
    try:
        codes = [app.get(reverse("api:profile")).status_code for _ in range(3)]
    finally:
        ClientThrottle.THROTTLE_RATES.clear()
        ClientThrottle.THROTTLE_RATES.update(rates)

    assert codes == [200, 200, 429]


def test_the_app_login_api_is_documented_without_network(client):
    assert "/auth/login" in str(client.get("/_allauth/openapi.json").json()["paths"])
    page = client.get("/_allauth/openapi.html").content.decode()
    assert "/static/drf_spectacular_sidecar/redoc/" in page and "cdn" not in page.lower()


def test_the_app_lists_the_operators_it_can_sign_up_with_without_logging_in(world):
    from rest_framework.test import APIClient

    world.org_b.accepts_signups = False
    world.org_b.save()
    response = APIClient().get("/api/v1/operators/")
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [world.org_a.pk]
