"""The local authorization list for real: the ``ocpp`` package's client as a charger with a list, the server
subprocess sending it at boot (after GetConfiguration), after a card is blocked, again after VersionMismatch or
Failed, in pieces the charger's sizes allow, and not at all to a charger without a list.
"""

import asyncio
import time

import pytest
from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from accounts.services import id_tag_block
from sessions_app.models import ChargePoint, ChargerCommand, LocalAuthList
from tests.e2e.ocpp_client import TestCharger, connected
from tests.e2e.test_ocpp_commands import needs_redis
from tests.factories import make_tag
from tests.threads import in_thread

pytestmark = pytest.mark.django_db(transaction=True)


class ListCharger(TestCharger):
    """A charger with a local list: its configuration, its list and version, and answers to SendLocalList queued in
    ``answers`` (Accepted when none is left)."""

    __test__ = False
    configuration = {"LocalAuthListEnabled": "true", "LocalAuthListMaxLength": "100", "SendLocalListMaxLength": "50"}
    start_version = 0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.config = dict(type(self).configuration)
        self.version = type(self).start_version
        self.held: dict[str, dict] = {}
        self.lists: list[tuple[str, int, list]] = []
        self.answers: list[str] = []

    @on(Action.get_configuration)
    async def on_get_configuration(self, **optional):
        keys = optional.get("key") or list(self.config)
        self.commands.append(("GetConfiguration", {"key": keys}))
        return call_result.GetConfiguration(
            configuration_key=[
                {"key": key, "readonly": key != "LocalAuthListEnabled", "value": self.config[key]}
                for key in keys
                if key in self.config
            ],
            unknown_key=[key for key in keys if key not in self.config] or None,
        )

    @on(Action.change_configuration)
    async def on_change_configuration(self, key, value):
        self.commands.append(("ChangeConfiguration", {"key": key, "value": value}))
        self.config[key] = value
        return call_result.ChangeConfiguration(status="Accepted")

    @on(Action.get_local_list_version)
    async def on_get_local_list_version(self):
        self.commands.append(("GetLocalListVersion", {}))
        return call_result.GetLocalListVersion(list_version=self.version)

    @on(Action.send_local_list)
    async def on_send_local_list(self, list_version, update_type, **optional):
        entries = optional.get("local_authorization_list", [])
        self.lists.append((update_type, list_version, entries))
        answer = self.answers.pop(0) if self.answers else "Accepted"
        if answer == "Accepted":
            if update_type == "Full":
                self.held = {}
            for entry in entries:
                if entry.get("id_tag_info"):
                    self.held[entry["id_tag"]] = entry["id_tag_info"]
                else:
                    self.held.pop(entry["id_tag"], None)
            self.version = list_version
        return call_result.SendLocalList(status=answer)


class SmallCharger(ListCharger):
    __test__ = False
    configuration = {"LocalAuthListEnabled": "false", "LocalAuthListMaxLength": "2", "SendLocalListMaxLength": "1"}


class NoListCharger(TestCharger):
    """Knows GetConfiguration, and says it has no local list (version -1)."""

    __test__ = False

    @on(Action.get_configuration)
    async def on_get_configuration(self, **optional):
        return call_result.GetConfiguration(unknown_key=optional.get("key"))

    @on(Action.get_local_list_version)
    async def on_get_local_list_version(self):
        return call_result.GetLocalListVersion(list_version=-1)


def _state(ocpp_id: str = "ALPHA-1") -> LocalAuthList | None:
    return LocalAuthList.objects.filter(charge_point__ocpp_id=ocpp_id).first()


async def until(check, timeout: float = 20, what: str = ""):
    """Wait until ``check()`` (run in a thread, so it may read the database) is true."""
    deadline = time.monotonic() + timeout
    while True:
        result = await in_thread(check)
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out waiting for {what or check}")
        await asyncio.sleep(0.1)


def _in_sync_at(version: int):
    def check():
        state = _state()
        return state if state is not None and state.state == "in_sync" and state.version == version else None

    return check


@pytest.fixture
def keeping(world):
    world.site_a.local_auth_list = True
    world.site_a.save()
    return world


def test_the_full_list_goes_out_at_boot_after_the_configuration_is_read(asgi_server, keeping):
    async def scenario():
        async with connected(asgi_server, "ALPHA-1", charger_class=ListCharger) as charger:
            await charger.boot()
            state = await until(_in_sync_at(1), what="the list in sync")
            return charger, state

    charger, state = asyncio.run(scenario())

    assert [action for action, _payload in charger.commands] == ["GetConfiguration", "GetLocalListVersion"]
    assert charger.commands[0][1] == {
        "key": ["LocalAuthListEnabled", "LocalAuthListMaxLength", "SendLocalListMaxLength"]
    }
    [(update_type, version, entries)] = charger.lists
    assert (update_type, version) == ("Full", 1)
    assert charger.held == {"04A1B2C3": {"status": "Accepted"}, "04B0B0B0": {"status": "Accepted"}}
    assert state.entries == charger.held and state.last_status == "Accepted"
    cp = ChargePoint.objects.get(ocpp_id="ALPHA-1")
    assert (cp.local_list_max_length, cp.send_local_list_max_length) == (100, 50)
    sent = ChargerCommand.objects.get(charge_point=cp, action="SendLocalList")
    assert (sent.outcome, sent.status, sent.request["update_type"]) == ("answered", "Accepted", "Full")


@needs_redis
def test_a_blocked_card_reaches_the_charger_as_a_differential_update(asgi_server, keeping):
    async def scenario():
        async with connected(asgi_server, "ALPHA-1", charger_class=ListCharger) as charger:
            await charger.boot()
            await until(_in_sync_at(1), what="the first list")

            # Its sync runs on commit, there (tasks inline), via Redis.
            await in_thread(id_tag_block, id_tag=keeping.bob_card)
            await until(_in_sync_at(2), what="the differential update")
            return charger

    charger = asyncio.run(scenario())

    assert charger.lists[1] == ("Differential", 2, [{"id_tag": "04B0B0B0", "id_tag_info": {"status": "Blocked"}}])
    assert charger.held["04B0B0B0"] == {"status": "Blocked"}


def test_version_mismatch_brings_the_full_list_at_once(asgi_server, keeping):
    LocalAuthList.objects.create(
        charge_point=keeping.cp_a,
        version=3,
        entries={"04A1B2C3": {"status": "Accepted"}},
        state=LocalAuthList.State.IN_SYNC,
        full_needed=False,
    )

    class MismatchingCharger(ListCharger):
        __test__ = False
        start_version = 3

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.answers = ["VersionMismatch"]

    async def scenario():
        async with connected(asgi_server, "ALPHA-1", charger_class=MismatchingCharger) as charger:
            await charger.boot()
            await until(_in_sync_at(4), what="the full list after the mismatch")
            return charger

    charger = asyncio.run(scenario())

    assert [(update_type, version) for update_type, version, _entries in charger.lists] == [
        ("Differential", 4),
        ("Full", 4),
    ]
    assert set(charger.held) == {"04A1B2C3", "04B0B0B0"}


def test_failed_is_sent_again_later_by_the_servers_own_sweep(server_process, keeping):
    server = server_process(REDIS_URL="", POST_STOP_SWEEP_SECONDS="1", LOCAL_LIST_RETRY_BASE_SECONDS="1")
    server.manage("createcachetable")  # without Redis the cache is a table the test database may lack
    server.start()

    class FailingOnceCharger(ListCharger):
        __test__ = False

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.answers = ["Failed"]

    async def scenario():
        async with connected(server.url, "ALPHA-1", charger_class=FailingOnceCharger) as charger:
            await charger.boot()
            failed = await until(
                lambda: (state := _state()) is not None and state.state == "failed" and state, what="failed"
            )
            await until(_in_sync_at(1), what="the list sent again")
            return charger, failed

    charger, failed = asyncio.run(scenario())

    assert (failed.last_status, failed.attempts, failed.full_needed) == ("Failed", 1, True)
    assert [(update_type, version) for update_type, version, _entries in charger.lists] == [("Full", 1), ("Full", 1)]
    assert len(charger.held) == 2
    state = _state()
    assert (state.attempts, state.last_status) == (0, "Accepted")


def test_a_card_blocked_while_the_charger_is_offline_reaches_it_when_it_is_back(asgi_server, keeping):
    async def first_visit():
        async with connected(asgi_server, "ALPHA-1", charger_class=ListCharger) as charger:
            await charger.boot()
            await until(_in_sync_at(1), what="the first list")
            return charger.version

    version = asyncio.run(first_visit())
    deadline = time.monotonic() + 10
    while ChargePoint.objects.get(pk=keeping.cp_a.pk).channel_name and time.monotonic() < deadline:
        time.sleep(0.1)

    id_tag_block(id_tag=keeping.bob_card)  # offline: nothing sent, the list waits
    assert LocalAuthList.objects.get(charge_point=keeping.cp_a).state == "pending"
    assert ChargerCommand.objects.filter(action="SendLocalList").count() == 1

    class ReturningCharger(ListCharger):
        __test__ = False
        start_version = version

    async def second_visit():
        async with connected(asgi_server, "ALPHA-1", charger_class=ReturningCharger) as charger:
            await charger.boot()
            await until(_in_sync_at(2), what="the update after reconnecting")
            return charger

    charger = asyncio.run(second_visit())
    assert charger.lists == [("Differential", 2, [{"id_tag": "04B0B0B0", "id_tag_info": {"status": "Blocked"}}])]


def test_a_small_charger_gets_its_list_switched_on_cut_to_capacity_and_in_pieces(asgi_server, keeping):
    make_tag(keeping.alice.customer_account, uid="CAFE0003")

    async def scenario():
        async with connected(asgi_server, "ALPHA-1", charger_class=SmallCharger) as charger:
            await charger.boot()
            await until(_in_sync_at(2), what="two messages")
            return charger

    charger = asyncio.run(scenario())

    assert ("ChangeConfiguration", {"key": "LocalAuthListEnabled", "value": "true"}) in charger.commands
    assert [(update_type, version, len(entries)) for update_type, version, entries in charger.lists] == [
        ("Full", 1, 1),
        ("Differential", 2, 1),
    ]
    assert len(charger.held) == 2
    cp = ChargePoint.objects.get(ocpp_id="ALPHA-1")
    assert (cp.local_list_max_length, cp.send_local_list_max_length) == (2, 1)


def test_a_charger_without_a_local_list_is_marked_unsupported_and_sent_none(asgi_server, keeping):
    async def scenario():
        async with connected(asgi_server, "ALPHA-1", charger_class=NoListCharger) as charger:
            await charger.boot()
            return await until(
                lambda: (state := _state()) is not None and state.state == "unsupported" and state, what="unsupported"
            )

    state = asyncio.run(scenario())

    assert state.last_status == "NotSupported"
    assert not ChargerCommand.objects.filter(action="SendLocalList").exists()
