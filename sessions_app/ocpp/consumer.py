"""The OCPP websocket edge: handshake, charger authentication, frames in and out.

No domain logic here: the handshake asks ``services.charge_point_connect``, frames go
to the ``ocpp`` package's router and the handlers of the OCPP version agreed at the
handshake (``v16``, ``v201``), and commands from other processes arrive on this
connection's channel (see ``commands``).
"""

import asyncio
import base64
import binascii
import contextlib
import dataclasses
import json
import logging
import re
from dataclasses import dataclass
from enum import Enum
from types import ModuleType

import ocpp.messages
from asgiref.typing import WebSocketResponseBodyEvent, WebSocketResponseStartEvent
from channels.consumer import get_handler_name
from channels.exceptions import ChannelFull, StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import timezone
from ocpp.exceptions import (
    FormationViolationError,
    FormatViolationError,
    NotImplementedError,
    NotSupportedError,
    OCPPError,
    TypeConstraintViolationError,
)
from ocpp.messages import Call, unpack
from ocpp.v16 import call as call16
from ocpp.v16.enums import Action as Action16
from ocpp.v21 import call as call21
from ocpp.v21.enums import Action as Action21
from ocpp.v201 import call as call201
from ocpp.v201.enums import Action as Action201

from core.client_ip import scope_client_address
from core.json_limits import JSONTooDeep, check_depth, unstorable_value
from sessions_app import services
from sessions_app.models import SEEN_WRITE_EVERY
from sessions_app.ocpp import batching, memory
from sessions_app.ocpp.commands import GO_TIMEOUT
from sessions_app.ocpp.tls import handshake_transport
from sessions_app.ocpp.v16 import SUBPROTOCOL, CentralSystem16, db
from sessions_app.ocpp.v201 import SUBPROTOCOL as SUBPROTOCOL_201
from sessions_app.ocpp.v201 import SUBPROTOCOL_21, CentralSystem21, CentralSystem201

logger = logging.getLogger(__name__)
# Validate payloads in the event loop: a schema check is cheaper than the hop to the thread pool the
# ocpp package would use (STACK.md: about 1,750 -> 2,650 CALLs/s on one core).
ocpp.messages.ASYNC_VALIDATION = False
#: The message id at the head of a frame, ``[2, "<id>", ...``, for one that cannot be parsed whole.
_FRAME_HEAD = re.compile(r'\s*\[\s*\d+\s*,\s*"([^"\\]{1,64})"')
#: How long a connection that looks alive has to prove it before a newcomer replaces it (seconds).
PROBE_TIMEOUT = 3
#: The close code uvicorn gives every socket when the server stops (service restart: the charger reconnects).
SERVICE_RESTART = 1012
#: The chargers this process holds (channel name -> charge point id), until their disconnect is stored.
_held: dict[str, int] = {}


@dataclass(frozen=True)
class Protocol:
    """One OCPP version the server speaks: its handler table, its CALL payloads and its actions."""

    subprotocol: str
    handlers: type
    calls: ModuleType
    actions: type[Enum]
    version: str


#: Newest first: a charger offering several gets the newest of them (``negotiate``).
PROTOCOLS = (
    Protocol(SUBPROTOCOL_21, CentralSystem21, call21, Action21, "2.1"),
    Protocol(SUBPROTOCOL_201, CentralSystem201, call201, Action201, "2.0.1"),
    Protocol(SUBPROTOCOL, CentralSystem16, call16, Action16, "1.6"),
)


def negotiate(offered: list[str]) -> Protocol | None:
    """The newest OCPP version both sides speak, whatever order the charger lists them in; None for none."""
    return next((protocol for protocol in PROTOCOLS if protocol.subprotocol in offered), None)


async def disconnect_all() -> None:
    """Store every connection this process still holds as ended: its last step when it stops, for the
    sockets whose own disconnect handling the server's shutdown timeout cut short."""
    held = [services.Disconnect(charge_point_id, channel) for channel, charge_point_id in _held.items()]
    for start in range(0, len(held), batching.MAX_BATCH):
        await db(services.charge_point_disconnect_many)(
            reports=held[start : start + batching.MAX_BATCH], now=timezone.now()
        )
    _held.clear()


def basic_auth_password(headers: list[tuple[bytes, bytes]], username: str) -> str | None:
    """The HTTP Basic password sent for ``username``; None when absent, unreadable or for another name."""
    for name, value in headers:
        if name.lower() != b"authorization":
            continue
        scheme, _, encoded = value.decode("latin-1").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return password if user == username else None
    return None


def _too_big(frame: str | bytes) -> bool:
    """Whether a frame is over OCPP_MAX_FRAME_BYTES as sent (text in UTF-8, up to 4 bytes a character): text
    is encoded only when its characters alone do not decide."""
    limit = settings.OCPP_MAX_FRAME_BYTES
    if len(frame) > limit:
        return True
    if isinstance(frame, str) and len(frame) > limit // 4:
        return len(frame.encode("utf-8", "surrogatepass")) > limit
    return False


def call_error_frame(raw: str, error: OCPPError, subprotocol: str = SUBPROTOCOL) -> str:
    """A CALLERROR for a frame the router could not read, reusing its message id when there is one."""
    try:
        check_depth(raw)
        frame = json.loads(raw)
        unique_id = frame[1] if isinstance(frame, list) and len(frame) > 1 and isinstance(frame[1], str) else "-1"
    except JSONTooDeep:  # not to be parsed: its id may still be readable at its head
        head = _FRAME_HEAD.match(raw)
        unique_id = head.group(1) if head else "-1"
    except (ValueError, TypeError):
        unique_id = "-1"
    if error.code == "FormatViolation" and subprotocol == SUBPROTOCOL:  # OCPP 1.6 spells it FormationViolation
        error = FormationViolationError(description=error.description, details=error.details)
    elif error.code == "FormationViolation" and subprotocol != SUBPROTOCOL:  # and 2.0.1 FormatViolation
        error = FormatViolationError(description=error.description, details=error.details)
    return json.dumps([4, unique_id, error.code, error.description or "", error.details or {}])


def _unhandled(action: str, protocol: Protocol) -> OCPPError:
    """OCPP 1.6 (4.2.3), and 2.0.1 alike: NotImplemented for an action we do not know, NotSupported for one we
    know but do not take from a charge point (the ``ocpp`` package has the two the other way round)."""
    if action in {member.value for member in protocol.actions}:
        return NotSupportedError(description=f"{action} is not accepted from a charge point")
    return NotImplementedError(description=f"{action} is not an OCPP {protocol.version} action")


async def _refuse_subprotocol(scope, receive, send) -> None:
    """Refuse a handshake that offers no OCPP version we speak (HTTP 403), logged and recorded as a security event."""
    if (await receive())["type"] != "websocket.connect":
        return
    ocpp_id, address = scope["url_route"]["kwargs"]["ocpp_id"], scope_client_address(scope)
    offered = scope.get("subprotocols", [])
    ours = ", ".join(protocol.subprotocol for protocol in PROTOCOLS)
    logger.warning("Refused charger %r from %s: it offers %r, none of %s", ocpp_id, address, offered, ours)
    await db(services.charge_point_subprotocol_refused)(ocpp_id=ocpp_id, remote_address=address, offered=offered)
    await send({"type": "websocket.close", "code": 1000})


class OcppConsumer(AsyncWebsocketConsumer):
    charge_point = None

    async def __call__(self, scope, receive, send):
        """However the connection ends (a close from either side, a dropped socket, an error in a handler,
        the server stopping), its disconnect handling runs.

        A handshake offering no OCPP version we speak is refused before the consumer takes a channel on the
        channel layer: a consumer stopped while its first channel read was starting waited for that read
        (Redis: up to 5 s), and held a stopping server at "Waiting for background tasks"."""
        ocpp = negotiate(scope.get("subprotocols", []))
        if ocpp is None:
            await _refuse_subprotocol(scope, receive, send)
            return
        self.ocpp = ocpp
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._release()

    async def connect(self):
        route = self.scope["url_route"]["kwargs"]
        ocpp_id = route["ocpp_id"]
        address = scope_client_address(self.scope)
        handshake = {
            "ocpp_id": ocpp_id,
            "organization_slug": route.get("organization_slug"),
            "password": basic_auth_password(self.scope.get("headers", []), ocpp_id),
            "remote_address": address,
            "channel_name": self.channel_name,
            "transport": handshake_transport(self.scope),  # TLS, the client certificate (security profiles 2, 3)
            "protocol": self.ocpp.subprotocol,
        }
        connect = db(services.charge_point_connect)  # not the one shared thread: handshakes run side by side
        connection = await connect(**handshake, at=timezone.now())
        if connection.contested_channel:
            alive = await self._answers(connection.contested_channel)
            connection = await connect(**handshake, at=timezone.now(), previous_alive=alive)
        if not connection.accepted:
            logger.warning("Refused charger %r from %s", ocpp_id, address)
            await self._refuse(unauthorized=connection.unauthorized)
            return
        if connection.replaced_channel:
            with contextlib.suppress(ChannelFull):  # a full channel has no reader: that process is gone
                await self.channel_layer.send(connection.replaced_channel, {"type": "ocpp.replaced"})
        self.charge_point = connection.charge_point
        _held[self.channel_name] = self.charge_point.pk
        self.protocol = self.ocpp.handlers(self.charge_point, self)
        self.commands: set[asyncio.Task] = set()
        self.commands_received: dict[str, asyncio.Future] = {}  # reply channel -> its sender's go
        self.seen_written = timezone.now()
        await self.accept(subprotocol=self.ocpp.subprotocol)
        logger.info("Charger %s connected from %s (OCPP %s)", ocpp_id, address, self.ocpp.version)

    async def _refuse(self, *, unauthorized: bool) -> None:
        """Refuse the handshake: a refusal for the charger's credentials is HTTP 401 with a Basic challenge (OCPP
        1.6 security whitepaper) where the server can answer with a status of our choosing (the ASGI
        websocket.http.response extension, which uvicorn's implementations offer); otherwise HTTP 403."""
        if not (unauthorized and "websocket.http.response" in (self.scope.get("extensions") or {})):
            await self.close()
            return
        challenge = [(b"www-authenticate", b'Basic realm="OCPP"'), (b"content-type", b"text/plain; charset=utf-8")]
        start: WebSocketResponseStartEvent = {
            "type": "websocket.http.response.start",
            "status": 401,
            "headers": challenge,
        }
        body: WebSocketResponseBodyEvent = {
            "type": "websocket.http.response.body",
            "body": b"Unauthorized\n",
            "more_body": False,
        }
        await self.base_send(start)
        await self.base_send(body)

    async def receive(self, text_data=None, bytes_data=None):
        if _too_big(text_data or bytes_data or b""):
            await self.close(code=1009)  # Message Too Big (RFC 6455): the charger learns why; nothing is read
            return
        if text_data is None:
            error = FormationViolationError(description="OCPP-J frames are text, not binary")
            await self.send(text_data=call_error_frame("", error, self.ocpp.subprotocol))
            return
        try:
            check_depth(text_data)  # json would recurse once per level: deep enough, and the consumer dies
            message = unpack(text_data)
        except JSONTooDeep as exc:
            await self.send(
                text_data=call_error_frame(
                    text_data, FormationViolationError(description=str(exc)), self.ocpp.subprotocol
                )
            )
            return
        except OCPPError as error:
            await self.send(text_data=call_error_frame(text_data, error, self.ocpp.subprotocol))
            return
        if isinstance(message, Call) and message.action not in self.protocol.route_map:
            await self.send(text_data=message.create_call_error(_unhandled(message.action, self.ocpp)).to_json())
            return
        if isinstance(message, Call) and (problem := unstorable_value(text_data, message.payload)):
            violation = TypeConstraintViolationError(details={"cause": problem})
            await self.send(text_data=message.create_call_error(violation).to_json())
            return
        now = timezone.now()
        if (now - self.seen_written).total_seconds() >= SEEN_WRITE_EVERY:
            self.seen_written = now
            await db(services.charge_point_seen)(
                charge_point_id=self.charge_point.pk, at=now, channel_name=self.channel_name
            )
        await self.protocol.route_message(text_data)

    async def dispatch(self, message):
        """Channels' own dispatch first tidies database connections on the one shared thread, for every
        frame: a hop every charger's every message would queue on. This consumer never uses the database
        outside ``db()`` threads, which tidy their own."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def websocket_disconnect(self, message):
        """As Channels' (no groups here), without its hop to the shared thread."""
        await self.disconnect(message["code"])
        raise StopConsumer()

    async def disconnect(self, code):
        await self._release(code)

    async def _release(self, code: int | None = None) -> None:
        """Store the disconnect, once, batched with other chargers' (a server stopping closes thousands)."""
        if self.charge_point is None or self.channel_name not in _held:
            return
        for task in self.commands:
            task.cancel()
        await batching.submit(
            services.charge_point_disconnect_many, services.Disconnect(self.charge_point.pk, self.channel_name)
        )
        _held.pop(self.channel_name, None)  # only now: a stop cutting this short leaves it to disconnect_all
        if code != SERVICE_RESTART:  # a stopping server does not tidy its memory on the way out
            memory.connection_closed(still_open=len(_held))
        logger.info("Charger %s disconnected (%s)", self.charge_point.ocpp_id, code or "dropped")

    async def _answers(self, channel: str) -> bool:
        """Whether the connection on ``channel`` still exists: its process answers for it, or none does."""
        reply_channel = await self.channel_layer.new_channel()
        try:
            await self.channel_layer.send(channel, {"type": "ocpp.probe", "reply_channel": reply_channel})
            await asyncio.wait_for(self.channel_layer.receive(reply_channel), PROBE_TIMEOUT)
        except (TimeoutError, ChannelFull):  # nobody reads that channel any more
            return False
        return True

    async def ocpp_probe(self, event):
        await self.channel_layer.send(event["reply_channel"], {"type": "ocpp.alive"})

    async def ocpp_replaced(self, event):
        """A newer connection of this charger was accepted: this one is stale."""
        await self.close(code=4000)

    async def ocpp_command(self, event):
        """Confirm receipt, then run the command as a task (awaiting it here would block the charger's own
        answer) once its sender says go. A sender that got the receipt too late has answered "offline" and
        says nothing: then the command is not run (``commands``)."""
        go = self.commands_received[event["reply_channel"]] = asyncio.get_running_loop().create_future()
        await self.channel_layer.send(event["reply_channel"], {"type": "ocpp.received"})
        task = asyncio.create_task(self._command(event, go))
        self.commands.add(task)
        task.add_done_callback(self.commands.discard)

    async def ocpp_go(self, event):
        go = self.commands_received.pop(event["reply_channel"], None)
        if go is not None and not go.done():
            go.set_result(None)

    async def _command(self, event, go: asyncio.Future):
        """Cancelled by the connection closing (``_release``), it still replies: "offline" while nothing was sent,
        "no_answer" once the sender said go (the command may have reached the charger), at once either way."""
        try:
            await asyncio.wait_for(go, GO_TIMEOUT)
        except TimeoutError:
            return
        except asyncio.CancelledError:
            await self._reply(event, {"outcome": "offline"})
            raise
        finally:
            self.commands_received.pop(event["reply_channel"], None)
        try:
            payload = getattr(self.ocpp.calls, event["action"])(**event["payload"])
            result = await asyncio.wait_for(self.protocol.call(payload, suppress=False), event["timeout"])
            reply = {"outcome": "answered", "payload": json.loads(json.dumps(dataclasses.asdict(result)))}
        except asyncio.CancelledError:
            await self._reply(event, {"outcome": "no_answer"})
            raise
        except TimeoutError:
            reply = {"outcome": "timeout"}
        except OCPPError as error:
            reply = {"outcome": "error", "code": error.code, "description": error.description or ""}
        except (TypeError, AttributeError) as error:
            reply = {"outcome": "error", "code": "InvalidCommand", "description": str(error)}
        await self._reply(event, reply)

    async def _reply(self, event, reply: dict) -> None:
        with contextlib.suppress(ChannelFull):  # a full reply channel has no reader: its sender gave up
            await self.channel_layer.send(event["reply_channel"], {"type": "ocpp.reply", **reply})
