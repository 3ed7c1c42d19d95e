"""The live board's push: the OCPP side tells the boards of a station's operator (and the platform admins')
which station changed, after the commit, and never fails a charger's message; the board's websocket lets only
operator staff and platform admins in, each to their own group.

The channel layer is the in-memory one here; the browser test (tests/e2e/test_board_in_browser.py) runs the
same over Redis between a real charger and a real browser.
"""

import asyncio
import json
import logging
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from asgiref.testing import ApplicationCommunicator
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from django.test import Client
from django.utils import timezone

from sessions_app import board_push, services
from sessions_app.board_push import ALL_GROUP, board_group
from sessions_app.ocpp.routing import websocket_urlpatterns

#: How long a test waits for a message that must come, and for one that must not (after the last that came).
ARRIVES, ABSENT = 5.0, 0.2


@pytest.fixture(autouse=True)
def layer(settings):
    """A fresh in-memory channel layer, pushes not paused by a test's failure nor held back by the readings'
    throttle."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    board_push._paused_until = 0.0
    board_push._readings_pushed.clear()
    yield get_channel_layer()
    board_push._paused_until = 0.0  # nor does a failure here pause the pushes of the tests after it
    board_push._readings_pushed.clear()


def _pushed(layer, action, *organizations) -> list[list[int]]:
    """Run ``action`` (a service call, its commit callbacks run) in a worker thread of a running event loop, as
    the server runs services, and return the station ids each board group then heard of: an organization's,
    or the platform admins' for None.

    No waiting for what must not come: a marker push (negative ids) follows the action the same way, and what
    came before it is all the action pushed."""
    groups = [ALL_GROUP if organization is None else board_group(organization.pk) for organization in organizations]
    markers = {-1: 0, **{-2 - n: org.pk for n, org in enumerate(organizations) if org is not None}}

    async def scenario():
        channels = []
        for group in groups:
            channels.append(await layer.new_channel())
            await layer.group_add(group, channels[-1])
        await sync_to_async(action)()
        await sync_to_async(board_push._push)(markers)
        heard = []
        for channel in channels:
            ids: list[int] = []
            while True:
                message = await asyncio.wait_for(layer.receive(channel), ARRIVES)
                assert message["type"] == "board.changed"
                ids += [pk for pk in message["stations"] if pk > 0]
                if any(pk < 0 for pk in message["stations"]):
                    break
            heard.append(ids)
        return heard

    return async_to_sync(scenario)()


def _status(world, connector: int, status: str, minutes: int = 0) -> services.StatusReport:
    return services.StatusReport(
        world.cp_a, connector, status, "NoError", timezone.now() - timedelta(minutes=10) + timedelta(minutes=minutes)
    )


def test_a_status_change_reaches_its_operators_boards_and_the_admins_not_the_other_operators(
    world, layer, django_capture_on_commit_callbacks
):
    def record():
        with django_capture_on_commit_callbacks(execute=True):
            services.connector_status_record_many(reports=[_status(world, 2, "Faulted")], now=timezone.now())

    own, admins, other = _pushed(layer, record, world.org_a, None, world.org_b)
    assert own == admins == [world.cp_a.pk]
    assert other == []


def test_nothing_is_pushed_before_the_commit(world, layer, django_capture_on_commit_callbacks):
    def record_and_roll_back():
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            services.connector_status_record_many(reports=[_status(world, 1, "Charging")], now=timezone.now())
        assert callbacks  # queued for the commit, which never comes here

    assert _pushed(layer, record_and_roll_back, world.org_a) == [[]]


def test_a_charger_connecting_and_disconnecting_is_pushed(world, layer, django_capture_on_commit_callbacks):
    def connect():
        with django_capture_on_commit_callbacks(execute=True):
            connection = services.charge_point_connect(
                ocpp_id="ALPHA-1",
                organization_slug=None,
                password=None,
                remote_address="127.0.0.1",
                channel_name="test.alpha",
                at=timezone.now(),
            )
        assert connection.accepted

    def disconnect():
        with django_capture_on_commit_callbacks(execute=True):
            services.charge_point_disconnect(charge_point_id=world.cp_a.pk, channel_name="test.alpha")

    for action in (connect, disconnect):
        own, other = _pushed(layer, action, world.org_a, world.org_b)
        assert own == [world.cp_a.pk] and other == []


def test_a_session_starting_and_its_readings_are_pushed_the_readings_at_most_every_few_seconds(
    world, layer, django_capture_on_commit_callbacks
):
    now = timezone.now()
    started = {}

    def start():
        with django_capture_on_commit_callbacks(execute=True):
            started["session"] = services.session_start(
                charge_point=world.cp_a,
                connector_id=1,
                raw_uid=world.alice_card.uid,
                meter_start_wh=1000,
                timestamp=now - timedelta(minutes=5),
                now=now,
            )

    def readings(minute: int):
        def record():
            sample = {
                "timestamp": now - timedelta(minutes=4 - minute),
                "sampled_value": [{"value": str(1000 + 100 * minute), "measurand": "Energy.Active.Import.Register"}],
            }
            report = services.MeterValuesReport(world.cp_a, 1, started["session"].pk, [sample])
            with django_capture_on_commit_callbacks(execute=True):
                assert services.meter_values_record_many(reports=[report], now=now) == [1]

        return record

    assert _pushed(layer, start, world.org_a) == [[world.cp_a.pk]]
    assert _pushed(layer, readings(1), world.org_a) == [[world.cp_a.pk]]
    assert _pushed(layer, readings(2), world.org_a) == [[]]  # within READINGS_EVERY of the last
    board_push._readings_pushed[world.cp_a.pk] -= board_push.READINGS_EVERY
    assert _pushed(layer, readings(3), world.org_a) == [[world.cp_a.pk]]


def test_a_failing_channel_layer_does_not_fail_the_chargers_message_and_is_logged_once(
    world, layer, django_capture_on_commit_callbacks, monkeypatch, caplog
):
    async def broken(group, message):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(layer, "group_send", broken)
    caplog.set_level(logging.WARNING, logger="sessions_app.board_push")
    for minute in (1, 2):
        with django_capture_on_commit_callbacks(execute=True):  # no event loop here: the push is awaited
            stored = services.connector_status_record_many(
                reports=[_status(world, 1, "Preparing", minute)], now=timezone.now()
            )
        assert stored[0] is not None
    assert [r.getMessage() for r in caplog.records].count(caplog.records[0].getMessage()) == 1
    assert "pause" in caplog.records[0].getMessage()


# --- the websocket ---------------------------------------------------------------------------------------


class BoardSocket:
    """A browser's board websocket on the real routing (origin check, session cookie, consumer), no server.
    (channels' WebsocketCommunicator would do, but its package needs daphne.)"""

    def __init__(self, user=None, origin: bytes = b"http://testserver"):
        headers = [(b"origin", origin)]
        if user is not None:
            client = Client()
            client.force_login(user)
            headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
        scope = {"type": "websocket", "path": "/ws/board/", "headers": headers, "subprotocols": []}
        self.communicator = ApplicationCommunicator(URLRouter(websocket_urlpatterns), scope)

    async def connect(self) -> bool:
        await self.communicator.send_input({"type": "websocket.connect"})
        return (await self.communicator.receive_output(ARRIVES))["type"] == "websocket.accept"

    async def receive_json(self) -> dict:
        message = await self.communicator.receive_output(ARRIVES)
        assert message["type"] == "websocket.send"
        return json.loads(message["text"])

    async def hears_nothing(self) -> bool:
        return await self.communicator.receive_nothing(ABSENT)

    async def disconnect(self) -> None:
        await self.communicator.send_input({"type": "websocket.disconnect", "code": 1000})
        await self.communicator.wait(ARRIVES)


def _refused(socket: BoardSocket) -> bool:
    async def attempt():
        connected = await socket.connect()
        if connected:
            await socket.disconnect()
        return not connected

    return async_to_sync(attempt)()


@pytest.mark.django_db(transaction=True)
def test_the_websocket_refuses_anonymous_users_drivers_staff_without_an_organization_and_other_origins(
    world, django_user_model
):
    loose = django_user_model.objects.create_user(email="loose@example.com", password="x", is_staff=True)
    assert _refused(BoardSocket())
    assert _refused(BoardSocket(world.alice))
    assert _refused(BoardSocket(loose))
    assert _refused(BoardSocket(world.carol, origin=b"http://evil.example"))
    assert not _refused(BoardSocket(world.carol))


@pytest.mark.django_db(transaction=True)
def test_an_operator_hears_of_their_own_stations_only_and_the_admin_of_all(world):
    report = services.StatusReport(world.cp_b, 1, "Faulted", "GroundFailure", timezone.now())
    carol, dave, admin = BoardSocket(world.carol), BoardSocket(world.dave), BoardSocket(world.admin)

    async def scenario():
        for socket in (carol, dave, admin):
            assert await socket.connect()
        # As the server stores a StatusNotification: in a worker thread, committed, then pushed.
        await database_sync_to_async(services.connector_status_record_many)(reports=[report], now=timezone.now())
        heard = (await dave.receive_json(), await admin.receive_json())
        nothing = await carol.hears_nothing()
        for socket in (carol, dave, admin):
            await socket.disconnect()
        return heard, nothing

    heard, nothing = async_to_sync(scenario)()
    assert heard == ({"changed": [world.cp_b.pk]}, {"changed": [world.cp_b.pk]})
    assert nothing


@pytest.mark.django_db(transaction=True)
def test_a_stop_of_a_running_session_is_pushed(world):
    from tests.factories import make_session

    session = make_session(world.cp_a.connectors.get(number=1), world.alice_card, energy_wh=None)
    carol = BoardSocket(world.carol)

    async def scenario():
        assert await carol.connect()
        await database_sync_to_async(services.session_stop)(
            charge_point=world.cp_a,
            transaction_id=session.pk,
            raw_uid="",
            meter_stop_wh=1_004_000,
            timestamp=timezone.now(),
            reason="Remote",
            transaction_data=[],
            now=timezone.now(),
        )
        heard = await carol.receive_json()
        await carol.disconnect()
        return heard

    assert async_to_sync(scenario)() == {"changed": [world.cp_a.pk]}
