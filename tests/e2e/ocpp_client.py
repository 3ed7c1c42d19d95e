"""A charger for the tests: the ``ocpp`` package's 1.6 client over a real websocket."""

import asyncio
import base64
import contextlib
import json
import ssl as ssl_module
import threading
from datetime import UTC, datetime

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action


def iso(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).astimezone(UTC).isoformat().replace("+00:00", "Z")


class TestCharger(ChargePoint):
    """Answers the central system's commands the way a cooperative charger does, and remembers them."""

    __test__ = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.commands: list[tuple[str, dict]] = []

    @on(Action.reset)
    async def on_reset(self, type):  # noqa: A002  (the OCPP field name)
        self.commands.append(("Reset", {"type": type}))
        return call_result.Reset(status="Accepted")

    @on(Action.remote_start_transaction)
    async def on_remote_start(self, id_tag, **optional):
        self.commands.append(("RemoteStartTransaction", {"id_tag": id_tag, **optional}))
        return call_result.RemoteStartTransaction(status="Accepted")

    @on(Action.remote_stop_transaction)
    async def on_remote_stop(self, transaction_id):
        self.commands.append(("RemoteStopTransaction", {"transaction_id": transaction_id}))
        return call_result.RemoteStopTransaction(status="Accepted")

    async def boot(self):
        return await self.call(
            call.BootNotification(charge_point_vendor="Test", charge_point_model="E2E"), suppress=False
        )


def basic_auth_headers(ocpp_id: str, password: str | None) -> dict[str, str]:
    """HTTP Basic with the charge point id as the user name (security profiles 1 and 2); none without a password."""
    if password is None:
        return {}
    return {"Authorization": "Basic " + base64.b64encode(f"{ocpp_id}:{password}".encode()).decode()}


@contextlib.asynccontextmanager
async def connected(
    url: str,
    ocpp_id: str,
    password: str | None = None,
    subprotocols=("ocpp1.6",),
    charger_class: type[TestCharger] = TestCharger,
    ssl: ssl_module.SSLContext | None = None,
):
    """Open the websocket (over TLS with ``ssl``, for a wss:// url) and run the charger's receive loop for the
    duration of the block."""
    async with websockets.connect(
        f"{url}/ocpp/{ocpp_id}",
        subprotocols=list(subprotocols),
        additional_headers=basic_auth_headers(ocpp_id, password),
        ssl=ssl,
    ) as ws:
        charger = charger_class(ocpp_id, ws, response_timeout=10)
        loop = asyncio.create_task(charger.start())
        try:
            yield charger
        finally:
            loop.cancel()


async def raw_exchange(url: str, ocpp_id: str, frame: str) -> list:
    """Send one raw text frame and return the decoded answer (for malformed input)."""
    async with websockets.connect(f"{url}/ocpp/{ocpp_id}", subprotocols=["ocpp1.6"]) as ws:
        await ws.send(frame)
        return json.loads(await asyncio.wait_for(ws.recv(), 10))


class ChargerThread:
    """A charger connected to the server in a thread and event loop of its own, driven from the test's thread
    (Playwright's sync API holds the test thread's loop)."""

    def __init__(self, url: str, ocpp_id: str, charger_class: type[TestCharger] = TestCharger):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.context = connected(url, ocpp_id, charger_class=charger_class)
        self.charger = self.run(self.context.__aenter__())

    def run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(20)

    def close(self) -> None:
        try:
            self.run(self.context.__aexit__(None, None, None))
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
            self.loop.close()
