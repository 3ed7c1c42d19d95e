"""Commands to a charger from another process: the test process holds no socket.

The charger is connected to the server subprocess; the test sends through the channel
layer (Redis, shared by both processes) with ``commands.command_send``, in a thread,
because the test's event loop is busy running the charger.
"""

import asyncio
import time

import pytest
from django.conf import settings
from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from sessions_app.models import ChargePoint
from sessions_app.ocpp import commands
from tests.e2e.ocpp_client import TestCharger, connected
from tests.threads import in_thread

pytestmark = pytest.mark.django_db(transaction=True)
needs_redis = pytest.mark.skipif(
    not settings.REDIS_URL,
    reason="Commands cross processes through the Redis channel layer (set REDIS_URL).",
)


def send(ocpp_id: str, action: str, payload: dict, timeout: float = 10) -> commands.CommandResult:
    """As a view does: read the charger's row, then send and wait (synchronous)."""
    return commands.command_send(ChargePoint.objects.get(ocpp_id=ocpp_id), action, payload, timeout)


async def send_from_thread(*args) -> commands.CommandResult:
    """``send`` in a worker thread (this loop runs the charger)."""
    return await in_thread(send, *args)


class SilentCharger(TestCharger):
    """Takes a Reset and thinks about it for longer than anyone waits."""

    __test__ = False

    @on(Action.reset)
    async def on_reset(self, type):  # noqa: A002  (the OCPP field name)
        await asyncio.sleep(10)
        return call_result.Reset(status="Accepted")


@needs_redis
def test_a_command_from_another_process_reaches_the_charger_and_brings_back_its_answer(asgi_server, world):
    async def scenario():
        async with connected(asgi_server, "ALPHA-1") as charger:
            await charger.boot()
            reset = await send_from_thread("ALPHA-1", "Reset", {"type": "Soft"})
            start = await send_from_thread(
                "ALPHA-1", "RemoteStartTransaction", {"connector_id": 1, "id_tag": world.alice_card.uid}
            )
            return reset, start, charger.commands

    reset, start, received = asyncio.run(scenario())

    assert (reset.outcome, reset.status) == ("answered", "Accepted")
    assert (start.outcome, start.status) == ("answered", "Accepted")
    assert received == [
        ("Reset", {"type": "Soft"}),
        ("RemoteStartTransaction", {"id_tag": "04A1B2C3", "connector_id": 1}),
    ]


def test_a_command_to_a_charger_that_went_away_is_offline(asgi_server, world):
    async def connect_and_leave():
        async with connected(asgi_server, "ALPHA-1") as charger:
            await charger.boot()

    asyncio.run(connect_and_leave())
    for _ in range(50):  # the server forgets the socket as it closes
        if not ChargePoint.objects.get(pk=world.cp_a.pk).channel_name:
            break
        asyncio.run(asyncio.sleep(0.1))

    result = send("ALPHA-1", "Reset", {"type": "Soft"})

    assert result.outcome == "offline" and result.status == ""


def test_a_command_to_a_connection_nobody_holds_any_more_is_offline(world):
    """A server process that died leaves its channel name behind: nobody answers on it."""
    ChargePoint.objects.filter(pk=world.cp_a.pk).update(channel_name="specific.gone!deadbeef")

    result = send("ALPHA-1", "Reset", {"type": "Soft"}, timeout=0.5)

    assert result.outcome == "offline"


@needs_redis
def test_a_charger_that_never_answers_gives_a_timeout(asgi_server, world):
    async def scenario():
        async with connected(asgi_server, "ALPHA-1", charger_class=SilentCharger):
            return await send_from_thread("ALPHA-1", "Reset", {"type": "Hard"}, 1)

    result = asyncio.run(scenario())

    assert result.outcome == "timeout"


@needs_redis
def test_a_command_while_the_charger_moves_to_another_node_answers_offline_at_once(asgi_server, world):
    """The charger's row still names a channel of the node it left (here: one no process reads): no receipt comes,
    so the sender answers "offline" within seconds instead of waiting out the command's 30 s."""

    def leave_for_another_node():
        ChargePoint.objects.filter(pk=world.cp_a.pk).update(channel_name="specific.left!node")

    async def scenario():
        async with connected(asgi_server, "ALPHA-1") as charger:
            await charger.boot()
            await in_thread(leave_for_another_node)
            began = time.monotonic()
            result = await send_from_thread("ALPHA-1", "Reset", {"type": "Soft"}, 30)
            return result, time.monotonic() - began, charger.commands

    result, took, received = asyncio.run(scenario())

    assert result.outcome == "offline"
    assert took < commands.RECEIPT_TIMEOUT + 1
    assert received == []
