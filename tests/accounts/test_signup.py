"""Signing up, verifying, logging in and securing an account through allauth, in our layout."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.urls import reverse

from accounts.models import CustomerAccount, User
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_rate_limits")]


def verified(user: User) -> User:
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
    return user


def log_in(client, email: str, password: str = PASSWORD):
    return client.post(reverse("account_login"), {"login": email, "password": password})


def is_logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_signup_creates_a_driver_with_a_person_account_at_the_chosen_operator(client, world):
    response = client.post(
        reverse("account_signup"),
        {
            "email": "erik@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "full_name": "Erik Ek",
            "operator": world.org_b.pk,
        },
    )

    assert response.status_code == 302
    assert response.url == reverse("account_email_verification_sent")
    user = User.objects.get(email="erik@example.com")
    assert (user.first_name, user.last_name) == ("Erik", "Ek")
    assert user.customer_account.organization == world.org_b
    assert user.customer_account.kind == CustomerAccount.Kind.PERSON
    assert user.customer_account.billing_email == "erik@example.com"
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["erik@example.com"]
    assert not is_logged_in(client)


def test_login_before_verifying_is_sent_to_verification_and_the_link_logs_in(client, world):
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
    link = re.search(r"https?://[^/\s]+(/accounts/confirm-email/\S+/)", mail.outbox[0].body).group(1)

    response = log_in(client, "erik@example.com")
    assert response.status_code == 302
    assert response.url == reverse("account_email_verification_sent")
    assert not is_logged_in(client)

    assert client.get(link).status_code == 200  # a GET only asks to confirm
    response = client.post(link)

    assert response.status_code == 302
    assert EmailAddress.objects.get(email="erik@example.com").verified
    assert is_logged_in(client)
    assert client.get(reverse("dashboard")).status_code == 200


def test_signup_page_asks_for_name_and_operator_in_the_portal_layout(client, world):
    body = client.get(reverse("account_signup")).content.decode()

    assert 'name="full_name"' in body
    assert world.org_a.name in body
    assert 'href="/static/css/portal.css"' in body


def test_login_page_uses_the_portal_layout(client, world):
    body = client.get(reverse("account_login")).content.decode()

    assert 'href="/static/css/portal.css"' in body
    assert reverse("set_language") in body


def test_password_reset_sends_an_email(client, world):
    verified(world.alice)

    response = client.post(reverse("account_reset_password"), {"email": world.alice.email})

    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [world.alice.email]
    assert "/accounts/password/reset/key/" in mail.outbox[0].body
    assert 'href="/static/css/portal.css"' in client.get(response.url).content.decode()


def test_verified_driver_logs_in(client, world):
    verified(world.alice)

    response = log_in(client, world.alice.email)

    assert response.status_code == 302
    assert response.url == reverse("dashboard")
    assert is_logged_in(client)


def test_sixth_login_after_five_failures_is_refused_even_with_the_right_password(client, world):
    verified(world.alice)
    for _ in range(5):
        assert log_in(client, world.alice.email, "wrong password").status_code == 200

    response = log_in(client, world.alice.email)

    assert not is_logged_in(client)
    assert "Too many failed login attempts" in response.content.decode()


def test_logged_in_driver_can_open_the_authenticator_app_activation_after_confirming_the_password(client, world):
    verified(world.alice)
    log_in(client, world.alice.email)
    activate = reverse("mfa_activate_totp")
    asked = client.get(activate)
    assert asked.status_code == 302 and asked.url.startswith(reverse("account_reauthenticate"))
    confirmed = client.post(asked.url, {"password": PASSWORD})
    assert confirmed.status_code == 302 and confirmed.url == activate

    response = client.get(activate)

    body = response.content.decode()
    assert response.status_code == 200
    assert 'name="code"' in body
    assert 'href="/static/css/portal.css"' in body


def test_login_page_speaks_swedish(client, world):
    client.cookies["django_language"] = "sv"

    body = client.get(reverse("account_login")).content.decode()

    assert "Logga in" in body
    assert "Sign In" not in body
