"""The profile page: linked from the menu, changes one's own name and language, leads to email, password and
two-factor pages."""

import pytest
from django.conf import settings
from django.urls import reverse

from accounts.models import User

pytestmark = pytest.mark.django_db

URL = "/profile/"


def test_the_page_has_its_url_name_and_asks_for_a_login(client, world):
    assert reverse("profile") == URL
    response = client.get(URL)
    assert response.status_code == 302 and response.url.startswith(reverse("account_login"))


@pytest.mark.parametrize("who", ["alice", "carol"])
def test_the_menu_links_to_the_profile_for_drivers_and_staff(client, world, who):
    client.force_login(getattr(world, who))
    body = client.get(reverse("dashboard") if who == "alice" else reverse("payments"), follow=True).content.decode()
    assert f'<a href="{URL}" id="menu-profile">Profile</a>' in body


def test_the_page_shows_the_name_the_language_and_the_sign_in_links(client, world):
    client.force_login(world.alice)
    response = client.get(URL)
    body = response.content.decode()
    assert response.status_code == 200
    assert response.context["form"].initial == {
        "first_name": world.alice.first_name,
        "last_name": world.alice.last_name,
        "language": world.alice.language,
    }
    assert world.alice.email in body
    assert f'href="{reverse("account_email")}" id="profile-email"' in body
    assert f'href="{reverse("account_change_password")}" id="profile-password"' in body
    assert f'href="{reverse("mfa_index")}" id="profile-two-factor"' in body
    assert '<option value="sv">' in body and '<option value="en" selected>' in body


def test_saving_changes_ones_own_name_and_language_and_the_pages_follow(client, world):
    client.force_login(world.alice)
    response = client.post(URL, {"first_name": " Alice ", "last_name": "Andersson", "language": "sv"})
    assert response.status_code == 302 and response.url == URL
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "sv"
    alice = User.objects.get(pk=world.alice.pk)
    assert (alice.first_name, alice.last_name, alice.language) == ("Alice", "Andersson", "sv")
    bob = User.objects.get(pk=world.bob.pk)
    assert bob.language == settings.LANGUAGE_CODE and bob.last_name != "Andersson"
    page = client.get(URL)
    assert page.content.decode().count('<html lang="sv">') == 1


def test_a_language_the_site_does_not_have_is_refused(client, world):
    client.force_login(world.alice)
    response = client.post(URL, {"first_name": "A", "last_name": "B", "language": "xx"})
    assert response.status_code == 200 and "language" in response.context["form"].errors
    assert User.objects.get(pk=world.alice.pk).language == settings.LANGUAGE_CODE
