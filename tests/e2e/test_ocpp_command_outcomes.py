"""A charger that takes a command and leaves without answering: the command was sent, so its outcome is
``no_answer`` (sent, no answer), reported as the connection closes and kept so; never "offline", which says
nothing was sent. The ``ocpp`` package's client is the charger on the real server, the command comes from the
test process through the Redis channel layer.
"""

import asyncio
import time

import pytest
from ocpp.routing import on
from ocpp.v16.enums import Action

from sessions_app.models import ChargerCommand
from tests.e2e.ocpp_client import TestCharger, connected
from tests.e2e.test_ocpp_commands import needs_redis, send_from_thread

pytestmark = pytest.mark.django_db(transaction=True)


class LeavingCharger(TestCharger):
    """Takes a Reset, then closes its socket without a word."""

    __test__ = False

    @on(Action.reset)
    async def on_reset(self, type):  # noqa: A002  (the OCPP field name)
        self.commands.append(("Reset", {"type": type}))
        await self._connection.close()
        await asyncio.Event().wait()  # never answers; the block's end cancels it


@needs_redis
def test_a_charger_that_leaves_after_receiving_a_command_is_sent_no_answer_not_offline(asgi_server, world):
    async def scenario():
        async with connected(asgi_server, "ALPHA-1", charger_class=LeavingCharger) as charger:
            await charger.boot()
            began = time.monotonic()
            result = await send_from_thread("ALPHA-1", "Reset", {"type": "Soft"}, 20)
            return result, time.monotonic() - began, charger.commands

    result, took, received = asyncio.run(scenario())

    assert received == [("Reset", {"type": "Soft"})]
    assert (result.outcome, result.status) == ("no_answer", "")
    assert took < 10  # told as the connection closed, not after the command's 20 s
    row = ChargerCommand.objects.get(charge_point=world.cp_a)
    assert (row.action, row.outcome, row.request) == ("Reset", "no_answer", {"type": "Soft"})


@needs_redis
def test_a_remote_start_without_a_connector_and_with_a_charging_profile_reaches_the_charger(asgi_server, world):
    """What the operator API's station start sends: OCPP lets the charger pick the connector."""
    profile = {
        "charging_profile_id": 7,
        "stack_level": 0,
        "charging_profile_purpose": "TxProfile",
        "charging_profile_kind": "Relative",
        "charging_schedule": {
            "charging_rate_unit": "A",
            "charging_schedule_period": [{"start_period": 0, "limit": 16}],
        },
    }
    payload = {"id_tag": world.alice_card.uid, "charging_profile": profile}

    async def scenario():
        async with connected(asgi_server, "ALPHA-1") as charger:
            await charger.boot()
            result = await send_from_thread("ALPHA-1", "RemoteStartTransaction", payload)
            return result, charger.commands

    result, received = asyncio.run(scenario())

    assert (result.outcome, result.status) == ("answered", "Accepted")
    assert received == [("RemoteStartTransaction", payload)]
