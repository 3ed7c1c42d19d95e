"""A command reaches a charger only through the process that holds its socket, which confirms receipt at once: a
command no process confirms answers "offline" within seconds, not after its whole timeout. Here the charger's
consumer runs in the test's own event loop on the in-memory channel layer (the one-process demo)."""

import asyncio
import json
import time

import pytest
from asgiref.testing import ApplicationCommunicator
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.routing import URLRouter

from sessions_app.models import ChargePoint
from sessions_app.ocpp import commands
from sessions_app.ocpp.routing import websocket_urlpatterns

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def in_memory_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


class Charger(ApplicationCommunicator):
    """The charger's end of a websocket to the consumer (channels' own communicator would need daphne)."""

    def __init__(self, ocpp_id: str = "ALPHA-1"):
        super().__init__(
            URLRouter(websocket_urlpatterns),
            {
                "type": "websocket",
                "path": f"/ocpp/{ocpp_id}",
                "query_string": b"",
                "headers": [],
                "subprotocols": ["ocpp1.6"],
                "client": ("127.0.0.1", 40000),
            },
        )

    async def connect(self) -> bool:
        await self.send_input({"type": "websocket.connect"})
        return (await self.receive_output(5))["type"] == "websocket.accept"

    async def receive_from(self) -> str:
        return (await self.receive_output(5))["text"]

    async def send_to(self, text: str) -> None:
        await self.send_input({"type": "websocket.receive", "text": text})

    async def disconnect(self) -> None:
        await self.send_input({"type": "websocket.disconnect", "code": 1000})
        await self.wait(5)


async def connected_charge_point(world) -> ChargePoint:
    """Its row as the consumer left it (read the way the consumer reads: the thread's connection closed after)."""
    return await database_sync_to_async(ChargePoint.objects.get)(pk=world.cp_a.pk)


async def answer_one_call(communicator: Charger, payload: dict) -> tuple[str, dict]:
    """Act as the charger for one CALL from the server: answer it with ``payload``; returns its action and payload."""
    _, unique_id, action, sent = json.loads(await communicator.receive_from())
    await communicator.send_to(json.dumps([3, unique_id, payload]))
    return action, sent


def test_a_command_is_confirmed_run_and_answered_through_the_in_memory_layer(world):
    async def scenario():
        communicator = Charger()
        assert await communicator.connect()
        charge_point = await connected_charge_point(world)
        sending = asyncio.create_task(commands.command_send_async(charge_point, "Reset", {"type": "Soft"}))
        received = await answer_one_call(communicator, {"status": "Accepted"})
        result = await sending
        await communicator.disconnect()
        return received, result

    received, result = asyncio.run(scenario())

    assert received == ("Reset", {"type": "Soft"})
    assert (result.outcome, result.status) == ("answered", "Accepted")


def test_a_command_to_a_channel_nobody_reads_answers_offline_at_once(world):
    """A charger moving between nodes: its row still names the old process's channel, which nobody reads."""
    ChargePoint.objects.filter(pk=world.cp_a.pk).update(channel_name="specific.gone!deadbeef")

    began = time.monotonic()
    result = commands.command_send(ChargePoint.objects.get(pk=world.cp_a.pk), "Reset", {"type": "Soft"}, timeout=30)

    assert result.outcome == "offline"
    assert time.monotonic() - began < commands.RECEIPT_TIMEOUT + 1


async def reset_sent_to_the_holder(world):
    """A connected charger, and a Reset sent to its consumer as ``command_send_async`` would; its receipt."""
    communicator = Charger()
    assert await communicator.connect()
    charge_point = await connected_charge_point(world)
    layer = get_channel_layer()
    reply_channel = await layer.new_channel()
    await layer.send(
        charge_point.channel_name,
        {
            "type": "ocpp.command",
            "action": "Reset",
            "payload": {"type": "Soft"},
            "reply_channel": reply_channel,
            "timeout": 5,
        },
    )
    receipt = await asyncio.wait_for(layer.receive(reply_channel), 2)
    return communicator, charge_point, layer, reply_channel, receipt


def test_a_command_whose_sender_gave_up_before_the_receipt_is_not_run(world):
    """The sender has answered "offline" (and so says no "go"): running it now would surprise whoever was told."""

    async def scenario():
        communicator, charge_point, layer, reply_channel, receipt = await reset_sent_to_the_holder(world)
        nothing_sent = await communicator.receive_nothing(timeout=commands.GO_TIMEOUT + 0.5)
        await communicator.disconnect()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(layer.receive(reply_channel), 0.2)
        return receipt, nothing_sent

    receipt, nothing_sent = asyncio.run(scenario())

    assert receipt == {"type": "ocpp.received"}
    assert nothing_sent


def test_the_consumer_confirms_receipt_and_asks_the_charger_only_after_go(world):
    async def scenario():
        communicator, charge_point, layer, reply_channel, receipt = await reset_sent_to_the_holder(world)
        before_go = await communicator.receive_nothing(timeout=0.3)
        await layer.send(charge_point.channel_name, {"type": "ocpp.go", "reply_channel": reply_channel})
        await answer_one_call(communicator, {"status": "Rejected"})
        reply = await asyncio.wait_for(layer.receive(reply_channel), 2)
        await communicator.disconnect()
        return receipt, before_go, reply

    receipt, before_go, reply = asyncio.run(scenario())

    assert receipt == {"type": "ocpp.received"}
    assert before_go
    assert (reply["outcome"], reply["payload"]) == ("answered", {"status": "Rejected"})


def test_a_charger_that_leaves_before_answering_is_no_answer_at_once_not_offline(world):
    """The command reached the charger's socket: "offline" (nothing was sent) would be untrue."""

    async def scenario():
        communicator = Charger()
        assert await communicator.connect()
        charge_point = await connected_charge_point(world)
        began = time.monotonic()
        sending = asyncio.create_task(commands.command_send_async(charge_point, "Reset", {"type": "Soft"}, 30))
        _, _, action, _ = json.loads(await communicator.receive_from())
        await communicator.disconnect()
        return action, await sending, time.monotonic() - began

    action, result, took = asyncio.run(scenario())

    assert action == "Reset"
    assert result.outcome == "no_answer"
    assert took < 5


def test_a_charger_that_leaves_before_go_is_offline_at_once(world):
    async def scenario():
        communicator, charge_point, layer, reply_channel, receipt = await reset_sent_to_the_holder(world)
        await communicator.disconnect()
        return await asyncio.wait_for(layer.receive(reply_channel), 1)

    reply = asyncio.run(scenario())

    assert reply == {"type": "ocpp.reply", "outcome": "offline"}


def test_a_holder_that_confirms_then_stays_silent_is_no_answer(world):
    """Its process died after the go: the command may have gone out, so the sender cannot say "offline"."""
    ChargePoint.objects.filter(pk=world.cp_a.pk).update(channel_name="specific.holder!silent")

    async def holder():
        layer = get_channel_layer()
        command = await layer.receive("specific.holder!silent")
        await layer.send(command["reply_channel"], {"type": "ocpp.received"})
        return (await layer.receive("specific.holder!silent"))["type"]

    async def scenario():
        charge_point = await connected_charge_point(world)
        holding = asyncio.create_task(holder())
        result = await commands.command_send_async(charge_point, "Reset", {"type": "Soft"}, timeout=0.1)
        return result, await holding

    result, last_heard = asyncio.run(scenario())

    assert last_heard == "ocpp.go"
    assert result.outcome == "no_answer"
