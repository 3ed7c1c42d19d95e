"""Send an OCPP command to a charger from any process, and wait for its answer.

The message goes through the channel layer to the channel of the server process that
holds the charger's socket (``ChargePoint.channel_name``, never a group, so a reconnect
overlap cannot deliver a command twice); the answer comes back on a fresh reply channel.
That process first confirms it got the command: without that receipt within ``RECEIPT_TIMEOUT``
seconds no process holds the charger any more (it died, or the charger is moving to another
node), and the sender answers "offline" at once instead of waiting out the command's timeout.
A receipt in time is answered with "go", and only then is the command sent to the charger: one
that reached a slow process after its sender gave up is never run. No clocks are compared.

Callers speak one command vocabulary, OCPP 1.6's actions and payloads (``ACTIONS``), whatever the charger's version;
to a charger that speaks 2.0.1 ``command_send`` sends their translation (``v201_commands``), keeps that on the
charger's history (what was really sent, and its answer as it came) and returns the answer as the caller's action
answers. The 2.0.1-only actions (``v201_commands.V201_ONLY``) go to 2.0.1 chargers only.

Once told "go" the command may have reached the charger, so a connection that ends before the charger
answers is ``no_answer`` (sent, no answer: it may have been carried out), never "offline" (nothing sent):
the holder replies so as its connection closes, and a sender hearing nothing from the holder says the same.
"""

import asyncio
import dataclasses
from dataclasses import dataclass, field
from typing import cast

from asgiref.sync import async_to_sync
from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer, get_channel_layer
from django.utils import timezone
from django.utils.translation import gettext as _

from sessions_app.models import ChargePoint
from sessions_app.ocpp import v201_commands
from sessions_app.ocpp.command_payloads import CommandPayloadError
from sessions_app.ocpp.v201_commands import Translation
from sessions_app.services import charger_command_record

#: What operators and drivers may send, by OCPP 1.6 action name.
ACTIONS = (
    "RemoteStartTransaction",
    "RemoteStopTransaction",
    "Reset",
    "UnlockConnector",
    "ChangeAvailability",
    "GetConfiguration",
    "ChangeConfiguration",
    "TriggerMessage",
    "ClearCache",
    "GetLocalListVersion",
    "DataTransfer",
    "GetCompositeSchedule",
    "ClearChargingProfile",
    "SetChargingProfile",
    "SendLocalList",  # the local list feature sends it through sessions_app.local_list
    "ReserveNow",  # drivers and operators reserve through sessions_app.reservations
    "CancelReservation",
    "UpdateFirmware",  # operators' firmware campaigns go through sessions_app.firmware
    "SignedUpdateFirmware",
    # security extension (sessions_app.charger_security): CertificateSigned answers a charger's SignCertificate
    "CertificateSigned",
    "ExtendedTriggerMessage",
    "InstallCertificate",
    "GetInstalledCertificateIds",
    "DeleteCertificate",
    "GetDiagnostics",  # operators ask through sessions_app.uploads, which makes the upload address
    "GetLog",
)
#: Seconds the sender waits for the receipt; the holder then waits longer than that for "go".
RECEIPT_TIMEOUT = 2.5
GO_TIMEOUT = RECEIPT_TIMEOUT + 1
#: answered (see the status); offline: nothing was sent; timeout: the charger, still connected, did not answer in
#: time; no_answer: sent, but the connection ended before an answer came; error: the charger answered CALLERROR.
OUTCOMES = ("answered", "offline", "timeout", "no_answer", "error")
#: The error code of a command this side could not send (the charger never saw it).
INVALID_COMMAND = "InvalidCommand"
#: What goes out on a connection: ``ACTIONS``, and what 2.0.1 chargers get besides (translations, 2.0.1-only).
SENT_ACTIONS = frozenset({*ACTIONS, "RequestStartTransaction", "RequestStopTransaction", *v201_commands.V201_ONLY})


@dataclass(frozen=True)
class CommandResult:
    """``outcome`` is one of ``OUTCOMES``; ``payload`` is the charger's answer (snake_case)."""

    outcome: str
    payload: dict = field(default_factory=dict)
    code: str = ""
    description: str = ""

    @property
    def status(self) -> str:
        """The charger's ``status`` answer (Accepted, Rejected, ...) when it gave one."""
        return str(self.payload.get("status", ""))


def outcome_text(result: CommandResult) -> str:
    """A command's outcome in the reader's language, as a clause ("the charger was offline, so nothing was sent")
    that a page puts in its own sentence: every page that reports a command says it in the same words."""
    if result.outcome == "answered":
        if result.status:
            return _("the charger answered %(status)s") % {"status": result.status}
        return _("the charger answered")
    if result.outcome == "offline":
        return _("the charger was offline, so nothing was sent")
    if result.outcome == "timeout":
        return _("the charger did not answer in time")
    if result.outcome == "no_answer":
        return _("the charger's connection ended before it answered")
    if result.outcome == "error":
        error = " ".join(part for part in (result.code, result.description) if part)
        if error:
            return _("the charger returned an error: %(error)s") % {"error": error}
        return _("the charger returned an error")
    raise ValueError(f"Unknown command outcome {result.outcome!r}.")


async def command_send_async(
    charge_point: ChargePoint, action: str, payload: dict, timeout: float = 30
) -> CommandResult:
    if action not in SENT_ACTIONS:
        raise ValueError(f"Unknown command {action!r}.")
    if not charge_point.channel_name:
        return CommandResult("offline")
    layer = cast(BaseChannelLayer, get_channel_layer())  # the settings always name a channel layer
    reply_channel = await layer.new_channel()
    try:
        await layer.send(
            charge_point.channel_name,
            {
                "type": "ocpp.command",
                "action": action,
                "payload": payload,
                "reply_channel": reply_channel,
                "timeout": timeout,
            },
        )
        await asyncio.wait_for(layer.receive(reply_channel), RECEIPT_TIMEOUT)
        await layer.send(charge_point.channel_name, {"type": "ocpp.go", "reply_channel": reply_channel})
    except (TimeoutError, ChannelFull):  # nobody holds that channel any more: the process or socket is gone
        return CommandResult("offline")
    try:
        reply = await asyncio.wait_for(layer.receive(reply_channel), timeout + 2)
    except TimeoutError:  # the holder had the go, then stopped without a word: the command may have gone out
        return CommandResult("no_answer")
    return CommandResult(
        reply["outcome"], reply.get("payload", {}), reply.get("code", ""), reply.get("description", "")
    )


def command_translation(charge_point: ChargePoint, action: str, payload: dict) -> Translation:
    """What goes to this charger for ``action``: the same to a 1.6 charger, its translation to a 2.0.1 one.

    ``CommandPayloadError`` when it cannot be said to this charger (a 2.0.1-only action to a 1.6 charger, a
    configuration key or a session 2.0.1 has no name for): nothing is sent. Forms and the API ask first."""
    if action not in ACTIONS and action not in v201_commands.V201_ONLY:
        raise ValueError(f"Unknown command {action!r}.")
    if charge_point.speaks_ocpp2:  # 2.1 takes 2.0.1's commands as they are
        return v201_commands.command_translate(charge_point, action, payload)
    if action in v201_commands.V201_ONLY:
        raise CommandPayloadError(
            "action", str(_("%(action)s is an OCPP 2.0.1 command; this charger speaks 1.6.") % {"action": action})
        )
    return Translation(action, payload)


def command_send(charge_point: ChargePoint, action: str, payload: dict, timeout: float = 30) -> CommandResult:
    """From synchronous code (views, admin, tasks); the command and its outcome go on the charger's history.

    The history keeps what was sent (to a 2.0.1 charger: the translated action and payload) and the charger's
    answer as it came, a charger's password in them (AuthorizationKey, BasicAuthPassword: write-only) masked there
    once; the answer returned is that one, in the shape ``action`` answers in.

    A command that cannot be said to this charger (``command_translation``'s ``CommandPayloadError``) is neither
    sent nor kept: its outcome is ``error`` with the code ``InvalidCommand`` (as the consumer's for a payload its
    call class refuses) and the reason. Forms and the API ask ``command_translation`` first, to name the field."""
    try:
        translation = command_translation(charge_point, action, payload)
    except CommandPayloadError as refused:
        return CommandResult("error", code=INVALID_COMMAND, description=str(refused))
    sent_at = timezone.now()
    result = async_to_sync(command_send_async)(charge_point, translation.action, translation.payload, timeout)
    kept = charger_command_record(
        charge_point=charge_point,
        action=translation.action,
        request=translation.payload,
        outcome=result.outcome,
        answer=result.payload,
        error_code=result.code,
        error_description=result.description,
        sent_at=sent_at,
        finished_at=timezone.now(),
    )
    answer = translation.answer(kept.answer) if result.outcome == "answered" else kept.answer
    return dataclasses.replace(result, payload=answer)
