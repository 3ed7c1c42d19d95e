"""Reservations through the API: a driver's own (me/reservations/) and an operator's (operator/reservations/).

Only the transport is replaced (``commands.command_send``); the refused cases: another driver, another operator.
"""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from sessions_app.models import ChargePoint, Connector, Reservation
from sessions_app.ocpp import commands
from sessions_app.ocpp.commands import CommandResult
from tests.sessions_app.conftest import FakeTransport

pytestmark = pytest.mark.django_db


@pytest.fixture
def transport(monkeypatch) -> FakeTransport:
    fake = FakeTransport(CommandResult("answered", {"status": "Accepted"}))
    monkeypatch.setattr(commands, "command_send", fake)
    return fake


def online(cp: ChargePoint) -> None:
    ChargePoint.objects.filter(pk=cp.pk).update(channel_name=f"specific.test!{cp.pk}", last_seen_at=timezone.now())
    Connector.objects.filter(charge_point=cp).update(status="Available")


def as_user(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


def connector(cp: ChargePoint, number: int = 1) -> Connector:
    return cp.connectors.get(number=number)


def reserve(api, world, card=None, number=1, **extra):
    card = card or world.alice_card
    return api.post(
        reverse("api:reservations"), {"connector": connector(world.cp_a, number).pk, "card": card.pk, **extra}
    )


# --- drivers -------------------------------------------------------------------------------------


def test_a_driver_reserves_a_connector_with_their_card_and_sees_it(world, transport, settings):
    settings.RESERVATION_MINUTES = 15
    online(world.cp_a)
    api = as_user(world.alice)

    response = reserve(api, world)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["station"], body["connector"], body["card"], body["status"]) == ("ALPHA-1", 1, "04A1B2C3", "active")
    assert transport.sent[0][1] == "ReserveNow" and transport.sent[0][2]["reservation_id"] == body["id"]
    listed = api.get(reverse("api:reservations")).json()["results"]
    assert [row["id"] for row in listed] == [body["id"]]


def test_a_driver_chooses_the_minutes_up_to_the_maximum(world, transport, settings):
    settings.RESERVATION_MAX_MINUTES = 30
    online(world.cp_a)
    api = as_user(world.alice)

    assert reserve(api, world, minutes=31).json()["error"]["code"] == "cannot_reserve"
    response = reserve(api, world, minutes=30)
    body = response.json()
    expires = Reservation.objects.get(pk=body["id"])
    assert response.status_code == 201 and expires.expires_at - expires.created_at == timedelta(minutes=30)


@pytest.mark.parametrize(
    ("result", "status_code", "code"),
    [
        (CommandResult("answered", {"status": "Occupied"}), 409, "charger_rejected"),
        (CommandResult("offline"), 503, "charger_offline"),
        (CommandResult("timeout"), 504, "charger_timeout"),
        (CommandResult("error", code="InternalError"), 502, "charger_error"),
    ],
)
def test_a_refused_reservation_is_the_matching_error_and_kept_refused(world, transport, result, status_code, code):
    online(world.cp_a)
    transport.result = result

    response = reserve(as_user(world.alice), world)

    assert (response.status_code, response.json()["error"]["code"]) == (status_code, code)
    assert Reservation.objects.get().status == Reservation.Status.REFUSED


def test_a_driver_cannot_reserve_with_another_drivers_card_nor_a_reserved_connector(world, transport):
    online(world.cp_a)
    response = reserve(as_user(world.bob), world, card=world.alice_card)
    assert response.status_code == 400 and "card" in response.json()["error"]["fields"]

    assert reserve(as_user(world.alice), world).status_code == 201
    taken = reserve(as_user(world.bob), world, card=world.bob_card)
    assert (taken.status_code, taken.json()["error"]["code"]) == (409, "cannot_reserve")


def test_a_driver_cannot_reserve_at_another_operator(world, transport):
    online(world.cp_b)
    response = as_user(world.alice).post(
        reverse("api:reservations"), {"connector": connector(world.cp_b).pk, "card": world.alice_card.pk}
    )
    assert response.status_code == 400 and "connector" in response.json()["error"]["fields"]


def test_a_driver_cancels_their_own_reservation_and_not_another_drivers(world, transport):
    online(world.cp_a)
    mine = reserve(as_user(world.alice), world).json()["id"]
    url = reverse("api:reservation_cancel", args=[mine])

    assert as_user(world.bob).post(url).status_code == 404
    assert as_user(world.bob).get(reverse("api:reservations")).json()["results"] == []
    response = as_user(world.alice).post(url)

    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert transport.sent[-1] == ("ALPHA-1", "CancelReservation", {"reservation_id": mine})
    again = as_user(world.alice).post(url)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "cannot_reserve")


def test_operator_staff_are_not_drivers_here(world):
    assert as_user(world.carol).get(reverse("api:reservations")).status_code == 403


# --- operators -----------------------------------------------------------------------------------


def test_an_operator_reserves_any_connector_of_theirs_for_their_card(world, transport, carol_api):
    online(world.cp_a)
    expires_at = timezone.now() + timedelta(minutes=20)

    response = carol_api.post(
        reverse("api:operator_reservations"),
        {"station": world.cp_a.pk, "connector": 2, "card": world.bob_card.pk, "expires_at": expires_at.isoformat()},
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["connector_number"], body["card_uid"], body["status"]) == (2, "04B0B0B0", "active")
    assert body["created_by"] == world.carol.pk
    assert transport.sent[0][2]["connector_id"] == 2


def test_an_operator_gets_a_refused_reservation_with_its_reason(world, transport, carol_api):
    transport.result = CommandResult("offline")
    response = carol_api.post(
        reverse("api:operator_reservations"), {"station": world.cp_a.pk, "card": world.alice_card.pk}
    )
    body = response.json()
    assert (response.status_code, body["status"], body["charger_answer"]) == (201, "refused", "offline")
    assert body["reason"] and body["connector_number"] is None


def test_an_operator_cannot_name_another_operators_station_or_card(world, transport, carol_api):
    response = carol_api.post(
        reverse("api:operator_reservations"), {"station": world.cp_b.pk, "card": world.alice_card.pk}
    )
    assert response.status_code == 400 and "station" in response.json()["error"]["fields"]
    response = carol_api.post(
        reverse("api:operator_reservations"), {"station": world.cp_a.pk, "connector": 9, "card": world.alice_card.pk}
    )
    assert response.status_code == 400 and "connector" in response.json()["error"]["fields"]
    assert transport.sent == []


def test_another_operator_neither_sees_nor_cancels_the_reservation(world, transport, carol_api):
    online(world.cp_a)
    made = carol_api.post(
        reverse("api:operator_reservations"), {"station": world.cp_a.pk, "connector": 1, "card": world.alice_card.pk}
    ).json()["id"]
    dave = as_user(world.dave)

    assert dave.get(reverse("api:operator_reservations")).json()["results"] == []
    assert dave.get(reverse("api:operator_reservation", args=[made])).status_code == 404
    assert dave.post(reverse("api:operator_reservation_cancel", args=[made])).status_code == 404
    assert as_user(world.alice).get(reverse("api:operator_reservations")).status_code == 403

    listed = carol_api.get(reverse("api:operator_reservations"), {"status": "active"}).json()["results"]
    assert [row["id"] for row in listed] == [made]
    response = carol_api.post(reverse("api:operator_reservation_cancel", args=[made]))
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
