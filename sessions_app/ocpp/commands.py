"""Send an OCPP command to a charger from any process, and wait for its answer.

The message goes through the channel layer to the channel of the server process that
holds the charger's socket (``ChargePoint.channel_name``, never a group, so a reconnect
overlap cannot deliver a command twice); the answer comes back on a fresh reply channel.
That process first confirms it got the command: without that receipt within ``RECEIPT_TIMEOUT``
seconds no process holds the charger any more (it died, or the charger is moving to another
node), and the sender answers "offline" at once instead of waiting out the command's timeout.
A receipt in time is answered with "go", and only then is the command sent to the charger: one
that reached a slow process after its sender gave up is never run. No clocks are compared.

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
    if action not in ACTIONS:
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


def command_send(charge_point: ChargePoint, action: str, payload: dict, timeout: float = 30) -> CommandResult:
    """From synchronous code (views, admin, tasks); the command and its outcome go on the charger's history.
    The answer returned is the one the history keeps, a charger's password in it (GetConfiguration AuthorizationKey,
    write-only in OCPP) masked there once."""
    sent_at = timezone.now()
    result = async_to_sync(command_send_async)(charge_point, action, payload, timeout)
    kept = charger_command_record(
        charge_point=charge_point,
        action=action,
        request=payload,
        outcome=result.outcome,
        answer=result.payload,
        error_code=result.code,
        error_description=result.description,
        sent_at=sent_at,
        finished_at=timezone.now(),
    )
    return dataclasses.replace(result, payload=kept.answer)
