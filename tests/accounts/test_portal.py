"""Drivers' pages: the dashboard and the card list show only the driver's own things."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from accounts.models import IdTag
from tests.factories import make_charge_point, make_session, make_site

pytestmark = pytest.mark.django_db


def test_dashboard_shows_the_drivers_cards_and_sessions_but_not_another_drivers(client, world):
    connector = world.cp_a.connectors.first()
    make_session(connector, world.alice_card, energy_wh=12_345, minutes=95)
    make_session(connector, world.alice_card, energy_wh=None)
    make_session(connector, world.bob_card, energy_wh=7_777)
    client.force_login(world.alice)

    response = client.get(reverse("dashboard"))

    body = response.content.decode()
    assert response.status_code == 200
    assert world.alice_card.uid in body
    assert "12.35" in body and "1:35" in body
    assert "ALPHA-1" in body
    assert "You are not charging right now." not in body
    assert world.bob_card.uid not in body
    assert "7.78" not in body


@pytest.mark.parametrize(
    ("started", "local"),
    [
        (datetime(2025, 6, 1, 10, 30, tzinfo=UTC), "12:30"),  # summer time, UTC+2
        (datetime(2025, 1, 15, 10, 30, tzinfo=UTC), "11:30"),  # winter time, UTC+1
    ],
)
def test_dashboard_shows_session_times_in_the_sites_local_time(client, world, started, local):
    make_session(world.cp_a.connectors.first(), world.alice_card, started_at=started)
    client.force_login(world.alice)

    body = client.get(reverse("dashboard")).content.decode()

    assert f'">{local}</td>' in body
    assert "10:30" not in body


def test_dashboard_uses_the_stations_time_zone_not_the_servers(client, world):
    london = make_charge_point(make_site(world.org_a, "London Depot", time_zone="Europe/London"))
    make_session(london.connectors.first(), world.alice_card, started_at=datetime(2025, 6, 1, 10, 30, tzinfo=UTC))
    client.force_login(world.alice)

    body = client.get(reverse("dashboard")).content.decode()

    assert '">11:30</td>' in body
    assert "12:30" not in body


def test_dashboard_sends_anonymous_visitors_to_login(client):
    response = client.get(reverse("dashboard"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))


def test_dashboard_sends_operator_staff_to_the_admin(client, world):
    client.force_login(world.carol)

    response = client.get(reverse("dashboard"))

    assert response.status_code == 302
    assert response.url == reverse("admin:index")


def test_card_list_shows_only_the_drivers_own_cards(client, world):
    client.force_login(world.alice)

    body = client.get(reverse("card_list")).content.decode()

    assert world.alice_card.uid in body
    assert world.bob_card.uid not in body
    assert reverse("card_mark_lost", args=[world.alice_card.pk]) in body


def test_driver_reporting_their_card_lost_blocks_it(client, world):
    client.force_login(world.alice)

    response = client.post(reverse("card_mark_lost", args=[world.alice_card.pk]), follow=True)

    world.alice_card.refresh_from_db()
    assert response.status_code == 200
    assert world.alice_card.status == IdTag.Status.LOST
    assert world.alice_card.blocked_at is not None
    assert reverse("card_mark_lost", args=[world.alice_card.pk]) not in response.content.decode()


def test_driver_cannot_report_another_drivers_card_lost(client, world):
    client.force_login(world.alice)

    response = client.post(reverse("card_mark_lost", args=[world.bob_card.pk]))

    world.bob_card.refresh_from_db()
    assert response.status_code == 404
    assert world.bob_card.status == IdTag.Status.ACTIVE
    assert world.bob_card.blocked_at is None


def test_reporting_a_card_lost_needs_a_post(client, world):
    client.force_login(world.alice)

    response = client.get(reverse("card_mark_lost", args=[world.alice_card.pk]))

    world.alice_card.refresh_from_db()
    assert response.status_code == 405
    assert world.alice_card.status == IdTag.Status.ACTIVE


@pytest.mark.parametrize("how", ["cookie", "header"])
def test_dashboard_speaks_swedish(client, world, how):
    client.force_login(world.alice)
    if how == "cookie":
        client.cookies["django_language"] = "sv"
        response = client.get(reverse("dashboard"))
    else:
        response = client.get(reverse("dashboard"), headers={"accept-language": "sv"})

    body = response.content.decode()
    assert "Mina kort" in body
    assert "Senaste laddningar" in body
    assert "My cards" not in body


def test_dates_are_written_the_swedish_way_in_english_too(client, world):
    make_session(world.cp_a.connectors.first(), world.alice_card, started_at=datetime(2025, 6, 1, 21, 30, tzinfo=UTC))
    client.force_login(world.alice)

    body = client.get(reverse("dashboard"), HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert '">2025-06-01</td>' in body and '">23:30</td>' in body
