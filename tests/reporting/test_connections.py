"""Connection history: each accepted websocket connection of a charger is a ChargerConnection; the gaps
between them are its offline time (reporting.rollups ``offline_s``)."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from sessions_app.models import ChargePoint, ChargerConnection
from sessions_app.services import charge_point_connect, charge_point_disconnect, charge_point_seen
from tests.e2e.conftest import asgi_server  # noqa: F401 - the real server, for the last test
from tests.threads import in_thread

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def connect(cp: ChargePoint, channel: str, at: datetime, previous_alive: bool | None = None):
    return charge_point_connect(
        ocpp_id=cp.ocpp_id,
        organization_slug=None,
        password=None,
        remote_address="10.0.0.9",
        channel_name=channel,
        at=at,
        previous_alive=previous_alive,
    )


def history(cp: ChargePoint) -> list[tuple[datetime, datetime | None]]:
    return list(
        ChargerConnection.objects.filter(charge_point=cp)
        .order_by("connected_at")
        .values_list("connected_at", "disconnected_at")
    )


def test_an_accepted_connection_is_recorded_open_and_closed_when_its_socket_closes(world):
    assert connect(world.cp_a, "chan-1", T0).accepted
    assert history(world.cp_a) == [(T0, None)]

    charge_point_disconnect(charge_point_id=world.cp_a.pk, channel_name="chan-1", at=T0 + timedelta(hours=2))

    assert history(world.cp_a) == [(T0, T0 + timedelta(hours=2))]
    assert ChargePoint.objects.get(pk=world.cp_a.pk).channel_name == ""


def test_a_refused_handshake_records_no_connection(world):
    world.cp_a.set_password("a-long-charger-secret-42")
    world.cp_a.save()

    assert not connect(world.cp_a, "chan-1", T0).accepted
    assert history(world.cp_a) == []


def test_a_stale_socket_closing_after_its_replacement_leaves_the_new_connection_open(world):
    """A charger with a password takes over from its live connection; the old socket closes later."""
    world.cp_a.set_password("a-long-charger-secret-42")
    world.cp_a.save()

    def connect_with_password(channel, at):
        return charge_point_connect(
            ocpp_id="ALPHA-1",
            organization_slug=None,
            password="a-long-charger-secret-42",
            remote_address=None,
            channel_name=channel,
            at=at,
        )

    connect_with_password("chan-1", T0)
    charge_point_seen(charge_point_id=world.cp_a.pk, at=T0 + timedelta(minutes=9))
    second = connect_with_password("chan-2", T0 + timedelta(minutes=10))
    assert second.replaced_channel == "chan-1"
    charge_point_disconnect(charge_point_id=world.cp_a.pk, channel_name="chan-1", at=T0 + timedelta(minutes=11))

    # The replaced connection was alive: it ends as the new one begins, no offline gap, and the new one stays open.
    assert history(world.cp_a) == [(T0, T0 + timedelta(minutes=10)), (T0 + timedelta(minutes=10), None)]


def test_a_connection_a_dead_server_left_open_ends_at_the_chargers_last_message(world):
    """The process holding the socket died: nobody closed the record. The charger comes back much later."""
    connect(world.cp_a, "chan-1", T0)
    charge_point_seen(charge_point_id=world.cp_a.pk, at=T0 + timedelta(minutes=40))
    back = T0 + timedelta(hours=3)  # silent for far more than two heartbeat intervals: not "online"

    assert connect(world.cp_a, "chan-2", back).accepted

    assert history(world.cp_a) == [(T0, T0 + timedelta(minutes=40)), (back, None)]


def test_a_contested_connection_found_dead_ends_at_the_last_message_and_one_found_alive_stays(world):
    """Within two heartbeats the old connection looks alive: the server asks it (contested) before deciding."""
    connect(world.cp_a, "chan-1", T0)
    charge_point_seen(charge_point_id=world.cp_a.pk, at=T0 + timedelta(minutes=4))
    attempt = T0 + timedelta(minutes=6)

    contested = connect(world.cp_a, "chan-2", attempt)
    assert not contested.accepted and contested.contested_channel == "chan-1"
    assert history(world.cp_a) == [(T0, None)]  # nothing decided yet

    refused = connect(world.cp_a, "chan-2", attempt, previous_alive=True)  # no password: a hijack attempt
    assert not refused.accepted
    assert history(world.cp_a) == [(T0, None)]

    taken = connect(world.cp_a, "chan-2", attempt, previous_alive=False)  # nobody answered for chan-1
    assert taken.accepted
    assert history(world.cp_a) == [(T0, T0 + timedelta(minutes=4)), (attempt, None)]


def test_a_disconnect_for_an_unknown_channel_changes_nothing(world):
    connect(world.cp_a, "chan-1", T0)

    charge_point_disconnect(charge_point_id=world.cp_a.pk, channel_name="chan-0", at=T0 + timedelta(hours=1))

    assert history(world.cp_a) == [(T0, None)]


def test_a_close_reported_before_the_connection_began_ends_it_where_it_began(world):
    connect(world.cp_a, "chan-1", T0)

    charge_point_disconnect(charge_point_id=world.cp_a.pk, channel_name="chan-1", at=T0 - timedelta(seconds=3))

    assert history(world.cp_a) == [(T0, T0)]


def test_connections_are_kept_per_charger(world):
    connect(world.cp_a, "chan-a", T0)
    connect(world.cp_b, "chan-b", T0 + timedelta(minutes=1))
    charge_point_disconnect(charge_point_id=world.cp_b.pk, channel_name="chan-b", at=T0 + timedelta(minutes=2))

    assert history(world.cp_a) == [(T0, None)]
    assert history(world.cp_b) == [(T0 + timedelta(minutes=1), T0 + timedelta(minutes=2))]


@pytest.mark.django_db(transaction=True)
def test_a_real_websocket_connection_is_recorded_and_closed(asgi_server, world):  # noqa: F811
    from tests.e2e.ocpp_client import connected

    async def scenario():
        async with connected(asgi_server, "ALPHA-1") as charger:
            await charger.boot()
            return await in_thread(history, world.cp_a)

    while_connected = asyncio.run(scenario())

    assert len(while_connected) == 1 and while_connected[0][1] is None
    for _ in range(300):  # the server closes the record as the socket closes (a bound: 30 s)
        if history(world.cp_a)[0][1] is not None:
            break
        asyncio.run(asyncio.sleep(0.1))
    ((connected_at, disconnected_at),) = history(world.cp_a)
    assert connected_at == while_connected[0][0] and disconnected_at >= connected_at
