"""Drivers reserve in the portal: a free connector with their own card, shown with its expiry and a Cancel button
(also on the start page); only their own can be cancelled. Only the transport is replaced."""

import pytest
from django.urls import reverse
from django.utils import timezone

from sessions_app.models import ChargePoint, Connector, Reservation
from sessions_app.ocpp.commands import CommandResult

pytestmark = pytest.mark.django_db


def online(cp: ChargePoint) -> None:
    ChargePoint.objects.filter(pk=cp.pk).update(channel_name=f"specific.test!{cp.pk}", last_seen_at=timezone.now())
    Connector.objects.filter(charge_point=cp).update(status="Available")


def reserve(client, world, card=None, number=1, minutes=15):
    card = card or world.alice_card
    connector = world.cp_a.connectors.get(number=number)
    return client.post(reverse("reservations"), {"connector": connector.pk, "card": card.pk, "minutes": minutes})


def messages_of(response) -> str:
    return " ".join(str(message) for message in response.context["messages"])


def test_a_driver_reserves_and_sees_the_reservation_with_its_expiry_and_a_cancel_button(client, world, transport):
    online(world.cp_a)
    client.force_login(world.alice)

    response = reserve(client, world, minutes=20)

    assert response.status_code == 302 and response.url == reverse("reservations")
    reservation = Reservation.objects.get()
    assert (reservation.status, reservation.created_by) == ("active", world.alice)
    assert transport.sent[0][1] == "ReserveNow"
    page = client.get(reverse("reservations"))
    assert "holds connector 1 for you until" in messages_of(page)
    cancel = reverse("reservation_cancel", args=[reservation.pk])
    assert cancel.encode() in page.content and b"Reserved until" in page.content
    start_page = client.get(reverse("charging_start"))
    assert cancel.encode() in start_page.content


def test_the_reserved_connector_stays_startable_for_its_driver_only(client, world, transport):
    online(world.cp_a)
    client.force_login(world.alice)
    reserve(client, world)
    Connector.objects.filter(charge_point=world.cp_a, number=1).update(status="Reserved")
    reserved = world.cp_a.connectors.get(number=1)

    assert reserved in client.get(reverse("charging_start")).context["form"].fields["connector"].queryset
    client.force_login(world.bob)
    offered = client.get(reverse("charging_start")).context["form"].fields["connector"].queryset
    assert reserved not in offered and world.cp_a.connectors.get(number=2) in offered
    assert reserved not in client.get(reverse("reservations")).context["form"].fields["connector"].queryset


def test_a_charger_refusing_is_told_and_kept(client, world, transport):
    online(world.cp_a)
    transport.result = CommandResult("answered", {"status": "Occupied"})
    client.force_login(world.alice)

    page = client.get(reserve(client, world).url)

    assert "Not reserved: The charger says the connector is in use." in messages_of(page)
    assert Reservation.objects.get().status == Reservation.Status.REFUSED


def test_too_long_and_someone_elses_card_are_refused_before_sending(client, world, transport, settings):
    settings.RESERVATION_MAX_MINUTES = 30
    online(world.cp_a)
    client.force_login(world.alice)

    assert "minutes" in reserve(client, world, minutes=31).context["form"].errors
    assert "card" in reserve(client, world, card=world.bob_card).context["form"].errors
    assert transport.sent == []


def test_a_driver_cancels_their_own_reservation_but_not_another_drivers(client, world, transport):
    online(world.cp_a)
    client.force_login(world.alice)
    reserve(client, world)
    reservation = Reservation.objects.get()
    cancel = reverse("reservation_cancel", args=[reservation.pk])

    client.force_login(world.bob)
    assert client.post(cancel).status_code == 404
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.ACTIVE

    client.force_login(world.alice)
    page = client.post(cancel, follow=True)
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.CANCELLED
    assert "Your reservation is cancelled." in messages_of(page)
    assert transport.sent[-1] == ("ALPHA-1", "CancelReservation", {"reservation_id": reservation.pk})


def test_a_reservation_the_charger_never_got_is_listed_with_the_outcome_in_words(client, world, transport):
    online(world.cp_a)
    transport.result = CommandResult("timeout")
    client.force_login(world.alice)

    page = client.get(reserve(client, world).url)

    told = "The charger did not answer in time."  # commands.outcome_text's words, not the code "timeout"
    assert f"Not reserved: {told}" in messages_of(page)
    assert f"Refused by the charger: {told}".encode() in page.content


def test_a_cancel_the_charger_was_not_told_of_says_why_in_outcome_texts_words(client, world, transport):
    online(world.cp_a)
    client.force_login(world.alice)
    reserve(client, world)
    transport.result = CommandResult("offline")

    page = client.post(reverse("reservation_cancel", args=[Reservation.objects.get().pk]), follow=True)

    assert (
        "Your reservation is cancelled, but the charger was offline, so nothing was sent: it may hold the connector"
        " until" in messages_of(page)
    )
