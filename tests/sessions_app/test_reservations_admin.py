"""Reservations in the admin: an operator reserves (ReserveNow at once) and cancels its own; another operator
neither sees nor cancels them. Only the transport is replaced (``commands.command_send``)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from sessions_app.models import Reservation
from sessions_app.ocpp.commands import CommandResult

pytestmark = pytest.mark.django_db


def add_url() -> str:
    return reverse("admin:sessions_app_reservation_add")


def form(world, **fields) -> dict:
    expires = timezone.localtime(timezone.now() + timedelta(minutes=20))
    return {
        "charge_point": world.cp_a.pk,
        "connector": world.cp_a.connectors.get(number=1).pk,
        "id_tag": world.alice_card.pk,
        "expires_at": expires.strftime("%Y-%m-%d %H:%M:%S"),
        **fields,
    }


def test_an_operator_reserves_from_the_admin_and_the_charger_is_asked(client, world, transport):
    client.force_login(world.carol)
    assert client.get(add_url()).status_code == 200

    response = client.post(add_url(), form(world))

    reservation = Reservation.objects.get()
    assert response.status_code == 302 and response.url.endswith(f"/{reservation.pk}/change/")
    assert (reservation.status, reservation.created_by) == ("active", world.carol)
    assert transport.sent[0][1] == "ReserveNow" and transport.sent[0][2]["connector_id"] == 1
    page = client.get(response.url)
    assert page.status_code == 200 and b"Accepted" in page.content


def test_a_refusal_before_sending_is_shown_on_the_form(client, world, transport, settings):
    settings.RESERVATION_MAX_MINUTES = 10
    client.force_login(world.carol)

    response = client.post(add_url(), form(world))

    assert response.status_code == 200 and b"from 1 to 10 minutes" in response.content
    assert transport.sent == [] and not Reservation.objects.exists()


def test_a_charger_refusing_is_kept_and_said(client, world, transport):
    transport.result = CommandResult("answered", {"status": "Occupied"})
    client.force_login(world.carol)

    response = client.post(add_url(), form(world), follow=True)

    assert Reservation.objects.get().status == Reservation.Status.REFUSED
    assert b"The reservation was refused" in response.content


def test_another_operators_charger_and_card_cannot_be_chosen(client, world, transport):
    client.force_login(world.dave)
    response = client.post(add_url(), form(world))
    assert response.status_code == 200
    assert set(response.context["form"].errors) >= {"charge_point", "id_tag"}
    assert transport.sent == []


def test_the_cancel_action_sends_cancel_reservation_and_another_operator_sees_nothing(client, world, transport):
    client.force_login(world.carol)
    client.post(add_url(), form(world))
    reservation = Reservation.objects.get()
    changelist = reverse("admin:sessions_app_reservation_changelist")

    client.force_login(world.dave)
    assert list(client.get(changelist).context["cl"].result_list) == []
    client.post(changelist, {"action": "cancel", "_selected_action": [reservation.pk]})
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.ACTIVE
    assert client.get(reverse("admin:sessions_app_reservation_change", args=[reservation.pk])).status_code == 302

    client.force_login(world.carol)
    response = client.post(changelist, {"action": "cancel", "_selected_action": [reservation.pk]}, follow=True)
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.CANCELLED
    assert transport.sent[-1] == ("ALPHA-1", "CancelReservation", {"reservation_id": reservation.pk})
    assert b"Cancelled 1 reservation." in response.content
