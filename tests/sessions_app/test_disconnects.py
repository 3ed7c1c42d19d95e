"""Disconnects stored in batches (a server stopping closes thousands of sockets at once)."""

from datetime import UTC, datetime, timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext

from sessions_app.models import ChargePoint, ChargerConnection
from sessions_app.services import Disconnect, charge_point_connect, charge_point_disconnect_many

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _connect(cp: ChargePoint, channel: str, at: datetime) -> None:
    assert charge_point_connect(
        ocpp_id=cp.ocpp_id, organization_slug=None, password=None, remote_address=None, channel_name=channel, at=at
    ).accepted


def test_one_batch_ends_every_charger_still_on_its_channel_and_leaves_a_newer_connection_open(world):
    _connect(world.cp_a, "chan-a", T0)
    _connect(world.cp_b, "chan-b", T0)
    ChargePoint.objects.filter(pk=world.cp_b.pk).update(channel_name="chan-b2")  # cp_b moved on meanwhile

    held = charge_point_disconnect_many(
        reports=[Disconnect(world.cp_a.pk, "chan-a"), Disconnect(world.cp_b.pk, "chan-b")], now=T0 + timedelta(hours=1)
    )

    assert held == [True, False]
    assert ChargePoint.objects.get(pk=world.cp_a.pk).channel_name == ""
    assert ChargePoint.objects.get(pk=world.cp_b.pk).channel_name == "chan-b2"
    assert ChargerConnection.objects.get(charge_point=world.cp_a).disconnected_at == T0 + timedelta(hours=1)
    assert ChargerConnection.objects.get(charge_point=world.cp_b).disconnected_at is None


def test_a_disconnect_stored_as_of_before_the_connection_began_ends_it_as_it_began(world):
    _connect(world.cp_a, "chan-a", T0)

    charge_point_disconnect_many(reports=[Disconnect(world.cp_a.pk, "chan-a")], now=T0 - timedelta(seconds=5))

    assert ChargerConnection.objects.get(charge_point=world.cp_a).disconnected_at == T0


def test_a_disconnect_stored_twice_changes_nothing_the_second_time(world):
    _connect(world.cp_a, "chan-a", T0)
    report = Disconnect(world.cp_a.pk, "chan-a")

    assert charge_point_disconnect_many(reports=[report], now=T0 + timedelta(minutes=1)) == [True]
    assert charge_point_disconnect_many(reports=[report], now=T0 + timedelta(minutes=2)) == [False]
    assert ChargerConnection.objects.get(charge_point=world.cp_a).disconnected_at == T0 + timedelta(minutes=1)


def test_a_batch_locks_its_chargers_in_id_order(world):
    """Two batches locking the same chargers in different orders could deadlock each other."""
    _connect(world.cp_a, "chan-a", T0)
    with CaptureQueriesContext(connection) as queries:
        charge_point_disconnect_many(reports=[Disconnect(world.cp_a.pk, "chan-a")], now=T0 + timedelta(minutes=1))

    locking = next(q["sql"] for q in queries if q["sql"].startswith("SELECT") and "channel_name" in q["sql"])
    assert "ORDER BY 1 ASC" in locking  # the first column selected: the id
