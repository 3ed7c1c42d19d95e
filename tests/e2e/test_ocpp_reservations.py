"""Reservations for real: the ``ocpp`` package's client as the charger on the server subprocess; the reservation
made and cancelled from the test process (ReserveNow and CancelReservation through the Redis channel layer), the
charger's StartTransaction and StatusNotification ending it as they would in the field.
"""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from ocpp.routing import on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action

from sessions_app.models import ChargePoint, ChargerCommand, ChargingSession, Reservation
from sessions_app.reservations import reservation_cancel, reservation_create, reservations_expire
from tests.e2e.ocpp_client import TestCharger, connected, iso
from tests.e2e.test_ocpp_commands import needs_redis
from tests.threads import in_thread

pytestmark = pytest.mark.django_db(transaction=True)


class ReservingCharger(TestCharger):
    """Answers ReserveNow with ``answer`` and CancelReservation with Accepted, and remembers both."""

    __test__ = False
    answer = "Accepted"

    @on(Action.reserve_now)
    async def on_reserve_now(self, connector_id, expiry_date, id_tag, reservation_id, **optional):
        self.commands.append(
            (
                "ReserveNow",
                {"connector_id": connector_id, "expiry_date": expiry_date, "id_tag": id_tag, "id": reservation_id},
            )
        )
        return call_result.ReserveNow(status=self.answer)

    @on(Action.cancel_reservation)
    async def on_cancel_reservation(self, reservation_id):
        self.commands.append(("CancelReservation", {"reservation_id": reservation_id}))
        return call_result.CancelReservation(status="Accepted")

    async def status(self, connector_id: int, status: str):
        await self.call(
            call.StatusNotification(connector_id=connector_id, error_code="NoError", status=status, timestamp=iso()),
            suppress=False,
        )

    async def start_transaction(self, id_tag: str, reservation_id: int | None = None):
        return await self.call(
            call.StartTransaction(
                connector_id=1, id_tag=id_tag, meter_start=1000, timestamp=iso(), reservation_id=reservation_id
            ),
            suppress=False,
        )


class OccupiedCharger(ReservingCharger):
    __test__ = False
    answer = "Occupied"


def reserve(world, **options):
    charge_point = ChargePoint.objects.get(pk=world.cp_a.pk)  # with its connection, as a view reads it
    return reservation_create(
        charge_point=charge_point,
        connector=charge_point.connectors.get(number=1),
        id_tag=world.alice_card,
        created_by=world.alice,
        now=options.pop("now", datetime.now(UTC)),
        timeout=10,
        **options,
    )


@needs_redis
def test_an_accepted_reservation_is_used_by_the_start_naming_it_and_linked_to_its_session(asgi_server, world):
    async def scenario():
        async with connected(asgi_server, "ALPHA-1", charger_class=ReservingCharger) as charger:
            await charger.boot()
            reservation = await in_thread(reserve, world=world)
            await charger.status(1, "Reserved")
            started = await charger.start_transaction(world.alice_card.uid, reservation_id=reservation.pk)
            return reservation, started, charger.commands

    reservation, started, received = asyncio.run(scenario())

    assert received == [
        (
            "ReserveNow",
            {
                "connector_id": 1,
                "expiry_date": reservation.expires_at.isoformat().replace("+00:00", "Z"),
                "id_tag": "04A1B2C3",
                "id": reservation.pk,
            },
        )
    ]
    assert started.id_tag_info["status"] == "Accepted"
    reservation.refresh_from_db()
    assert (reservation.status, reservation.charger_answer) == ("used", "Accepted")
    assert reservation.session_id == started.transaction_id
    command = ChargerCommand.objects.get(charge_point=world.cp_a, action="ReserveNow")
    assert (command.outcome, command.status, command.request["reservation_id"]) == (
        "answered",
        "Accepted",
        reservation.pk,
    )


@needs_redis
def test_a_charger_answering_occupied_refuses_the_reservation(asgi_server, world):
    async def scenario():
        async with connected(asgi_server, "ALPHA-1", charger_class=OccupiedCharger) as charger:
            await charger.boot()
            return await in_thread(reserve, world=world)

    reservation = asyncio.run(scenario())

    assert (reservation.status, reservation.charger_answer) == ("refused", "Occupied")
    assert reservation.ended_at is not None


@needs_redis
def test_a_reservation_expiring_while_the_car_arrives_leaves_the_start_an_ordinary_session(asgi_server, world):
    async def scenario():
        async with connected(asgi_server, "ALPHA-1", charger_class=ReservingCharger) as charger:
            await charger.boot()
            reservation = await in_thread(reserve, world=world, minutes=1)
            # the minute passes: beat (or the server's sweeper) ends it, as the charger ends its own
            expired = await in_thread(reservations_expire, now=reservation.expires_at)
            await charger.status(1, "Available")
            started = await charger.start_transaction(world.alice_card.uid)  # no reservation named any more
            return reservation, expired, started

    reservation, expired, started = asyncio.run(scenario())

    assert expired == 1
    reservation.refresh_from_db()
    assert (reservation.status, reservation.ended_at, reservation.session) == (
        "expired",
        reservation.expires_at,
        None,
    )
    session = ChargingSession.objects.get(pk=started.transaction_id)
    assert started.id_tag_info["status"] == "Accepted"
    assert session.state == ChargingSession.State.ACTIVE and session.id_tag == world.alice_card


@needs_redis
def test_cancel_sends_cancel_reservation_to_the_charger(asgi_server, world):
    async def scenario():
        async with connected(asgi_server, "ALPHA-1", charger_class=ReservingCharger) as charger:
            await charger.boot()
            reservation = await in_thread(reserve, world=world)
            result = await in_thread(reservation_cancel, reservation=reservation, now=datetime.now(UTC), timeout=10)
            return reservation, result, charger.commands

    reservation, result, received = asyncio.run(scenario())

    assert (result.outcome, result.status) == ("answered", "Accepted")
    assert received[-1] == ("CancelReservation", {"reservation_id": reservation.pk})
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.CANCELLED
    assert ChargerCommand.objects.filter(action="CancelReservation", status="Accepted").count() == 1


@needs_redis
def test_the_reserved_connector_faulting_ends_the_reservation(asgi_server, world):
    async def scenario():
        async with connected(asgi_server, "ALPHA-1", charger_class=ReservingCharger) as charger:
            await charger.boot()
            reservation = await in_thread(reserve, world=world)
            await charger.status(1, "Reserved")
            await charger.status(1, "Faulted")
            return reservation

    reservation = asyncio.run(scenario())

    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.FAULTED and reservation.ended_at is not None


def test_a_reservation_at_an_offline_charger_is_refused_at_once(world):
    assert not ChargePoint.objects.get(pk=world.cp_a.pk).channel_name
    began = datetime.now(UTC)

    reservation = reserve(world)

    assert datetime.now(UTC) - began < timedelta(seconds=5)
    assert (reservation.status, reservation.charger_answer) == ("refused", "offline")
    command = ChargerCommand.objects.get(charge_point=world.cp_a)
    assert (command.action, command.outcome) == ("ReserveNow", "offline")
