"""The connection sweep: a charger silent for more than two heartbeat intervals is offline (DOMAIN: "Uptime"), so
the connection a killed server process left open ends, at the charger's last message; one that talks again
comes back with a new connection."""

import asyncio
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from sessions_app import services
from sessions_app.models import ChargePoint, ChargerConnection, offline_after
from sessions_app.services import (
    charge_point_connect,
    charge_point_seen,
    charge_points_disconnect_silent,
)
from sessions_app.tasks import connection_sweep_task
from tests.sessions_app.websocket import ChargerSocket
from tests.threads import in_thread

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
LAST_SEEN = T0 + timedelta(minutes=10)


def _connect(cp: ChargePoint, channel: str, at: datetime) -> None:
    assert charge_point_connect(
        ocpp_id=cp.ocpp_id, organization_slug=None, password=None, remote_address=None, channel_name=channel, at=at
    ).accepted


def _silent_since(cp: ChargePoint, at: datetime, channel: str = "chan-1") -> None:
    """Connected at T0, last heard from at ``at``."""
    _connect(cp, channel, T0)
    charge_point_seen(charge_point_id=cp.pk, at=at, channel_name=channel)


def history(cp: ChargePoint) -> list[tuple[datetime, datetime | None]]:
    return list(
        ChargerConnection.objects.filter(charge_point=cp)
        .order_by("connected_at")
        .values_list("connected_at", "disconnected_at")
    )


def test_a_silent_chargers_connection_ends_at_its_last_message_not_at_the_sweep(world):
    _silent_since(world.cp_a, LAST_SEEN)
    sweep_at = LAST_SEEN + timedelta(hours=5)

    assert charge_points_disconnect_silent(now=sweep_at) == 1

    assert ChargePoint.objects.get(pk=world.cp_a.pk).channel_name == ""
    assert history(world.cp_a) == [(T0, LAST_SEEN)]
    assert charge_points_disconnect_silent(now=sweep_at + timedelta(minutes=1)) == 0  # nothing left to end


@pytest.mark.parametrize(
    "silence", [timedelta(seconds=-1), timedelta(0), timedelta(seconds=1)], ids=["before", "at", "after"]
)
def test_the_sweep_ends_exactly_the_connections_is_online_calls_offline(world, silence):
    """One rule: two heartbeat intervals, plus the lag of the last-seen write."""
    _silent_since(world.cp_a, LAST_SEEN)
    now = LAST_SEEN + offline_after(world.cp_a.heartbeat_interval) + silence
    online = ChargePoint.objects.get(pk=world.cp_a.pk).is_online(now)

    swept = charge_points_disconnect_silent(now=now)

    assert (online, swept) == ((True, 0) if silence <= timedelta(0) else (False, 1))
    assert offline_after(300) == timedelta(seconds=2 * 300 + 30)


def test_a_charger_heard_from_within_its_heartbeat_rule_keeps_its_connection(world):
    _silent_since(world.cp_a, LAST_SEEN)

    assert charge_points_disconnect_silent(now=LAST_SEEN + timedelta(minutes=10)) == 0

    assert ChargePoint.objects.get(pk=world.cp_a.pk).channel_name == "chan-1"
    assert history(world.cp_a) == [(T0, None)]


def test_each_charger_is_judged_by_its_own_heartbeat_interval(world):
    ChargePoint.objects.filter(pk=world.cp_b.pk).update(heartbeat_interval=3600)
    _silent_since(world.cp_a, LAST_SEEN, "chan-a")
    _silent_since(world.cp_b, LAST_SEEN, "chan-b")

    assert charge_points_disconnect_silent(now=LAST_SEEN + timedelta(minutes=15)) == 1

    assert history(world.cp_a) == [(T0, LAST_SEEN)]
    assert history(world.cp_b) == [(T0, None)]  # 15 minutes is well within two hours
    assert ChargePoint.objects.get(pk=world.cp_b.pk).channel_name == "chan-b"


def test_a_charger_reconnecting_while_the_sweep_runs_keeps_its_new_connection(world, monkeypatch):
    """The charger was picked as silent, then connected again before the sweep locked its row: the second
    look under the lock finds it online and leaves the new connection alone."""
    _silent_since(world.cp_a, LAST_SEEN)
    sweep_at = LAST_SEEN + timedelta(hours=1)
    end_one = services._charge_point_disconnect_silent

    def reconnect_first(**kwargs):
        _connect(world.cp_a, "chan-2", sweep_at)
        return end_one(**kwargs)

    monkeypatch.setattr(services, "_charge_point_disconnect_silent", reconnect_first)

    assert charge_points_disconnect_silent(now=sweep_at) == 0

    assert ChargePoint.objects.get(pk=world.cp_a.pk).channel_name == "chan-2"
    assert history(world.cp_a) == [(T0, LAST_SEEN), (sweep_at, None)]  # the handshake ended the old one


def test_a_swept_charger_that_talks_again_is_back_with_a_new_connection_from_that_moment(world):
    _silent_since(world.cp_a, LAST_SEEN)
    charge_points_disconnect_silent(now=LAST_SEEN + timedelta(hours=1))
    back = LAST_SEEN + timedelta(hours=2)

    charge_point_seen(charge_point_id=world.cp_a.pk, at=back, channel_name="chan-1")

    cp = ChargePoint.objects.get(pk=world.cp_a.pk)
    assert (cp.channel_name, cp.connected_at, cp.last_seen_at) == ("chan-1", back, back)
    assert cp.is_online(back)
    assert history(world.cp_a) == [(T0, LAST_SEEN), (back, None)]  # offline in between


def test_a_message_on_a_live_connection_only_moves_last_seen(world):
    _silent_since(world.cp_a, LAST_SEEN)

    charge_point_seen(charge_point_id=world.cp_a.pk, at=LAST_SEEN + timedelta(minutes=1), channel_name="chan-1")

    assert ChargePoint.objects.get(pk=world.cp_a.pk).last_seen_at == LAST_SEEN + timedelta(minutes=1)
    assert history(world.cp_a) == [(T0, None)]


def test_a_message_on_a_replaced_connection_does_not_take_the_charger_back(world):
    _connect(world.cp_a, "chan-1", T0)
    _connect(world.cp_a, "chan-2", T0 + timedelta(hours=1))  # chan-1 was silent: replaced

    charge_point_seen(charge_point_id=world.cp_a.pk, at=T0 + timedelta(hours=1, minutes=1), channel_name="chan-1")

    assert ChargePoint.objects.get(pk=world.cp_a.pk).channel_name == "chan-2"
    assert history(world.cp_a) == [(T0, T0), (T0 + timedelta(hours=1), None)]


def test_a_connection_never_ends_before_it_began(world):
    _connect(world.cp_a, "chan-1", T0)
    ChargePoint.objects.filter(pk=world.cp_a.pk).update(last_seen_at=T0 - timedelta(minutes=5))

    assert charge_points_disconnect_silent(now=T0 + timedelta(hours=1)) == 1

    assert history(world.cp_a) == [(T0, T0)]


def test_beat_sweeps_connections_every_minute_and_the_command_sweeps_now(world):
    assert settings.CELERY_BEAT_SCHEDULE["connection-sweep"]["task"] == connection_sweep_task.name
    assert settings.CELERY_BEAT_SCHEDULE["connection-sweep"]["schedule"] == 60.0
    stale = timezone.now() - offline_after(300) - timedelta(minutes=1)
    _connect(world.cp_a, "chan-a", stale)
    assert connection_sweep_task() == 1
    _connect(world.cp_b, "chan-b", stale)
    out = StringIO()
    call_command("connection_sweep", stdout=out)
    assert out.getvalue() == "1 silent connection(s) ended.\n"
    assert not ChargePoint.objects.exclude(channel_name="").exists()


def test_a_live_charger_swept_while_silent_is_back_through_its_next_message(transactional_db, world):
    """Through the real consumer: its "seen" write names its connection, so the charger is online again."""
    start = timezone.now()

    async def silent_then_heartbeat() -> datetime:
        async with ChargerSocket(world.cp_a.ocpp_id) as charger:
            with time_machine.travel(start + offline_after(300) + timedelta(minutes=1), tick=False):
                back = timezone.now()
                assert await in_thread(charge_points_disconnect_silent) == 1
                assert (await charger.call("Heartbeat", {}))[0] == 3
        return back

    back = asyncio.run(silent_then_heartbeat())

    [first, second] = history(world.cp_a)
    assert first[1] is not None and first[1] < back  # ended at its last message, not at the sweep
    assert second[0] == back and second[1] is not None  # back from its heartbeat until it closed its socket
