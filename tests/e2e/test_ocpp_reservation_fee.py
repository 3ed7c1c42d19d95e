"""The reservation fee for real: the ``ocpp`` package's client as the charger on the server subprocess accepts
ReserveNow; a reservation that expires is charged its fee once (the expiry and the handler in the test process, as
beat runs them); one used by the charger's StartTransaction is charged for the minutes reserved (the handler in
the server process, after the start's commit)."""

import asyncio
import math
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing.balances import account_balance
from billing.models import LedgerEntry, ReservationPrice
from billing.reservation_fees import reservation_fee_by_id, reservation_fees_sweep
from billing.services import tariff_assignment_create, tariff_create
from sessions_app.models import Reservation
from sessions_app.reservations import reservations_expire
from tests.e2e.ocpp_client import connected
from tests.e2e.test_ocpp_commands import needs_redis
from tests.e2e.test_ocpp_reservations import ReservingCharger, in_thread, reserve

pytestmark = pytest.mark.django_db(transaction=True)

D = Decimal


@pytest.fixture
def fee_tariff(world):
    """Alpha's tariff: 4.00/kWh charging; a reservation costs 5.00 plus 60.00 an hour reserved, per started minute
    (incl. 25 % VAT)."""
    tariff = tariff_create(
        organization=world.org_a,
        values={"name": "Reserve and charge", "valid_from": datetime(2020, 1, 1, tzinfo=UTC)},
        elements=[
            {"components": [{"type": "ENERGY", "price": D("4.00")}]},
            {
                "reservation": "RESERVATION",
                "components": [
                    {"type": "FLAT", "price": D("5.00")},
                    {"type": "TIME", "price": D("60.00"), "step_size": 60},
                ],
            },
        ],
    )
    tariff_assignment_create(tariff=tariff)
    return tariff


def fee_charges(reservation_id: int) -> list[Decimal]:
    return list(
        LedgerEntry.objects.filter(reservation_id=reservation_id, kind=LedgerEntry.Kind.CHARGE).values_list(
            "receivable", flat=True
        )
    )


@needs_redis
def test_a_reservation_the_charger_accepted_that_expires_charges_the_driver_its_fee_once(
    asgi_server, world, fee_tariff
):
    async def scenario():
        async with connected(asgi_server, "ALPHA-1", charger_class=ReservingCharger) as charger:
            await charger.boot()
            reservation = await in_thread(reserve, world=world, minutes=10)
            await charger.status(1, "Reserved")
            # the ten minutes pass: beat (or the server's sweeper) ends it, as the charger ends its own
            expired = await in_thread(reservations_expire, now=reservation.expires_at)
            again = await in_thread(reservations_expire, now=reservation.expires_at + timedelta(minutes=1))
            await in_thread(reservation_fee_by_id, reservation_id=reservation.pk)  # the handler once more
            swept = await in_thread(reservation_fees_sweep)
            return reservation, expired, again, swept, charger.commands

    reservation, expired, again, swept, received = asyncio.run(scenario())

    assert received[0][0] == "ReserveNow" and (expired, again, swept) == (1, 0, 0)
    reservation.refresh_from_db()
    assert (reservation.status, reservation.charger_answer) == (Reservation.Status.EXPIRED, "Accepted")
    price = ReservationPrice.objects.get(reservation=reservation)
    assert price.gross_total == D("15.00")  # 5.00 + 10 minutes at 60.00/h
    assert fee_charges(reservation.pk) == [D("15.00")]
    assert account_balance(world.alice.customer_account).owed == D("15.00")


@needs_redis
def test_a_reservation_used_by_the_start_charges_the_minutes_reserved_until_it(asgi_server, world, fee_tariff):
    made = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)  # reserved three minutes ago

    async def scenario():
        async with connected(asgi_server, "ALPHA-1", charger_class=ReservingCharger) as charger:
            await charger.boot()
            reservation = await in_thread(reserve, world=world, now=made, minutes=30)
            await charger.status(1, "Reserved")
            started = await charger.start_transaction(world.alice_card.uid, reservation_id=reservation.pk)
            return reservation, started

    reservation, started = asyncio.run(scenario())

    assert started.id_tag_info["status"] == "Accepted"
    reservation.refresh_from_db()
    assert (reservation.status, reservation.session_id) == (Reservation.Status.USED, started.transaction_id)
    deadline = time.monotonic() + 10  # the server's handler runs right after the start's commit
    while not fee_charges(reservation.pk) and time.monotonic() < deadline:
        time.sleep(0.1)
    price = ReservationPrice.objects.get(reservation=reservation)
    reserved = reservation.session.started_at - reservation.created_at
    minutes = math.ceil(reserved / timedelta(minutes=1))  # per started minute
    assert 3 <= minutes <= 5
    assert (price.reserved_from, price.reserved_until) == (reservation.created_at, reservation.session.started_at)
    assert price.gross_total == D("5.00") + minutes * D("1.00")
    assert fee_charges(reservation.pk) == [price.gross_total]
