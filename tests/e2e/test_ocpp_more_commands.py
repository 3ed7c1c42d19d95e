"""ClearCache, GetLocalListVersion, DataTransfer, GetCompositeSchedule and ClearChargingProfile, sent for real: the
``ocpp`` package's client as the charger on the server subprocess, the commands from the test process through the
Redis channel layer, each built by its typed builder; the outcome is kept on the charger's history.
"""

import asyncio

import pytest
from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from sessions_app.models import ChargePoint, ChargerCommand
from sessions_app.ocpp import command_payloads
from tests.e2e.ocpp_client import TestCharger, connected
from tests.e2e.test_ocpp_commands import needs_redis, send, send_from_thread

pytestmark = pytest.mark.django_db(transaction=True)

SCHEDULE = {"duration": 600, "charging_rate_unit": "A", "charging_schedule_period": [{"start_period": 0, "limit": 16}]}


class SmartCharger(TestCharger):
    """Answers the five commands as a charger with a local list (version 3) and a 16 A schedule does."""

    __test__ = False

    @on(Action.clear_cache)
    async def on_clear_cache(self):
        self.commands.append(("ClearCache", {}))
        return call_result.ClearCache(status="Accepted")

    @on(Action.get_local_list_version)
    async def on_get_local_list_version(self):
        self.commands.append(("GetLocalListVersion", {}))
        return call_result.GetLocalListVersion(list_version=3)

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id, **optional):
        self.commands.append(("DataTransfer", {"vendor_id": vendor_id, **optional}))
        return call_result.DataTransfer(status="Accepted", data="pong")

    @on(Action.get_composite_schedule)
    async def on_get_composite_schedule(self, connector_id, duration, **optional):
        self.commands.append(("GetCompositeSchedule", {"connector_id": connector_id, "duration": duration, **optional}))
        return call_result.GetCompositeSchedule(
            status="Accepted",
            connector_id=connector_id,
            schedule_start="2026-01-01T00:00:00Z",
            charging_schedule=SCHEDULE,
        )

    @on(Action.clear_charging_profile)
    async def on_clear_charging_profile(self, **criteria):
        self.commands.append(("ClearChargingProfile", criteria))
        return call_result.ClearChargingProfile(status="Accepted")


class RefusingCharger(TestCharger):
    """Refuses each command the way OCPP lets it, and thinks too long about a composite schedule."""

    __test__ = False

    @on(Action.clear_cache)
    async def on_clear_cache(self):
        return call_result.ClearCache(status="Rejected")

    @on(Action.get_local_list_version)
    async def on_get_local_list_version(self):
        return call_result.GetLocalListVersion(list_version=-1)

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id, **optional):
        return call_result.DataTransfer(status="UnknownVendorId")

    @on(Action.get_composite_schedule)
    async def on_get_composite_schedule(self, connector_id, duration, **optional):
        await asyncio.sleep(10)
        return call_result.GetCompositeSchedule(status="Rejected")

    @on(Action.clear_charging_profile)
    async def on_clear_charging_profile(self, **criteria):
        return call_result.ClearChargingProfile(status="Unknown")


def built(request) -> tuple[str, dict]:
    return command_payloads.command_payload(request)


COMMANDS = [
    built(command_payloads.clear_cache()),
    built(command_payloads.get_local_list_version()),
    built(command_payloads.data_transfer(vendor_id="com.example", message_id="Ping", data="ping")),
    built(command_payloads.get_composite_schedule(connector_id=1, duration=600, charging_rate_unit="A")),
    built(command_payloads.clear_charging_profile(profile_id=7, connector_id=1, charging_profile_purpose="TxProfile")),
]


@needs_redis
def test_each_command_reaches_the_charger_as_built_and_its_answer_is_kept(asgi_server, world):
    async def scenario():
        async with connected(asgi_server, "ALPHA-1", charger_class=SmartCharger) as charger:
            await charger.boot()
            results = [await send_from_thread("ALPHA-1", action, payload) for action, payload in COMMANDS]
            return results, charger.commands

    results, received = asyncio.run(scenario())

    assert received == COMMANDS
    assert [result.outcome for result in results] == ["answered"] * 5
    assert [result.status for result in results] == ["Accepted", "", "Accepted", "Accepted", "Accepted"]
    assert results[1].payload == {"list_version": 3}
    assert results[2].payload == {"status": "Accepted", "data": "pong"}
    assert results[3].payload["charging_schedule"] == SCHEDULE
    history = list(ChargerCommand.objects.filter(charge_point=world.cp_a).order_by("sent_at", "pk"))
    assert [(row.action, row.request, row.outcome) for row in history] == [
        (action, payload, "answered") for action, payload in COMMANDS
    ]
    assert history[1].answer == {"list_version": 3} and history[3].status == "Accepted"


@needs_redis
def test_refusals_and_a_charger_that_never_answers_are_reported_and_kept(asgi_server, world):
    async def scenario():
        async with connected(asgi_server, "ALPHA-1", charger_class=RefusingCharger) as charger:
            await charger.boot()
            # the composite schedule last: this charger handles one message at a time, and sits on that one
            last_first = [*COMMANDS[:3], COMMANDS[4], COMMANDS[3]]
            return [await send_from_thread("ALPHA-1", action, payload, 1) for action, payload in last_first]

    results = asyncio.run(scenario())

    assert [(result.outcome, result.status) for result in results] == [
        ("answered", "Rejected"),
        ("answered", ""),
        ("answered", "UnknownVendorId"),
        ("answered", "Unknown"),
        ("timeout", ""),
    ]
    assert results[1].payload == {"list_version": -1}
    history = ChargerCommand.objects.filter(charge_point=world.cp_a).order_by("sent_at", "pk")
    assert [(row.action, row.outcome, row.status) for row in history] == [
        ("ClearCache", "answered", "Rejected"),
        ("GetLocalListVersion", "answered", ""),
        ("DataTransfer", "answered", "UnknownVendorId"),
        ("ClearChargingProfile", "answered", "Unknown"),
        ("GetCompositeSchedule", "timeout", ""),
    ]


def test_a_command_to_an_offline_charger_is_offline_and_kept_so(world):
    assert not ChargePoint.objects.get(pk=world.cp_a.pk).channel_name
    action, payload = COMMANDS[0]

    result = send("ALPHA-1", action, payload)

    assert result.outcome == "offline"
    row = ChargerCommand.objects.get(charge_point=world.cp_a)
    assert (row.action, row.outcome, row.request, row.answer) == ("ClearCache", "offline", {}, {})
