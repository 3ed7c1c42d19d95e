"""OCPI 2.2.1 Commands, our receiver side: a partner (an eMSP) asks the operator's chargers to start or stop one of
its drivers' sessions, unlock a connector, reserve a connector or cancel that reservation.

- ``command_receive`` reads the request (2001 for a malformed one; 2003 for a location or EVSE that is not the
  operator's) and answers at once with a CommandResponse: ACCEPTED, REJECTED, UNKNOWN_SESSION (a session that is
  not this partner's). An accepted command is kept (``RoamingCommand``, with the charger it is for) and its
  execution queued after the commit (``roaming.command_execute``). A START_SESSION or RESERVE_NOW token is stored
  (``roaming.tokens.token_upsert``) in the same transaction, so the charger's Authorize judges it as any card.
- ``command_execute`` sends the OCPP command the way the admin, board and API send theirs
  (``sessions_app.ocpp.commands.command_send``, translated there for 2.x chargers; reservations through
  ``sessions_app.reservations``, which keeps them and their fees as a driver's) and posts the CommandResult to the
  partner's ``response_url`` through the outbox (``roaming.push``), once per command. ``RoamingCommand.result`` is
  the result posted; ``result_sent_at`` when the partner acknowledged it.
- Locations, EVSEs and connectors are named as the Locations module names them (``roaming.locations.connector_find``:
  the operator's own only). START_SESSION or RESERVE_NOW without an EVSE goes to a charger of the location with a
  free connector, which then chooses the connector.
- A command still without a result ``OVERDUE`` after it came (never queued, its worker gone) is answered TIMEOUT
  (``commands_overdue``, every minute).
- A reservation the operator cancels or the connector's fault ends is posted to its RESERVE_NOW's ``response_url``
  as CANCELED_RESERVATION (``command_reservation_ended``).
- A START_SESSION (or RESERVE_NOW) authorized the token at its charger: ``command_start_recent`` finds it (no
  real-time authorization for 15 minutes then, as OCPI asks), and ``authorization_reference_for`` gives the
  session the command's ``authorization_reference``.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from django.db import transaction
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.text import capfirst

from core.background import task_queue
from roaming.locations import CONNECTOR_ID, connector_find, locations_for
from roaming.models import Partner, PushItem, RoamingCommand, RoamingSession, RoamingToken
from roaming.ocpi import OcpiError, Status, invalid
from roaming.push import push_enqueue
from roaming.tokens import token_find, token_upsert, token_validate
from sessions_app.models import ChargePoint, ChargingSession, Connector, ConnectorStatus, Reservation
from sessions_app.ocpp import commands
from sessions_app.reservations import ReservationRefused, refusal_reason, reservation_cancel, reservation_create

logger = logging.getLogger(__name__)

START_SESSION, STOP_SESSION, UNLOCK_CONNECTOR = "START_SESSION", "STOP_SESSION", "UNLOCK_CONNECTOR"
RESERVE_NOW, CANCEL_RESERVATION = "RESERVE_NOW", "CANCEL_RESERVATION"
#: Seconds the charger has to answer a command.
CHARGER_TIMEOUT = 30
#: Seconds the partner is told to wait for the result (the charger's time, and the post's).
RESULT_TIMEOUT = CHARGER_TIMEOUT + 30
#: A command with no result this long after it came was never queued or lost its worker: TIMEOUT is posted.
OVERDUE = timedelta(minutes=5)
#: A START_SESSION or RESERVE_NOW authorizes its token at its charger this long (no real-time authorization).
START_AUTHORIZED = timedelta(minutes=15)
#: OCPI's CiString(36) (ids), and its URL type's length.
ID_LENGTH = 36
URL_LENGTH = 255
#: The charger's answers (1.6 terms, also a 2.x charger's as ``command_send`` translates them back) as results.
ANSWERS = {
    "Accepted": RoamingCommand.Result.ACCEPTED,
    "Rejected": RoamingCommand.Result.REJECTED,
    "Unlocked": RoamingCommand.Result.ACCEPTED,
    "UnlockFailed": RoamingCommand.Result.FAILED,
    "NotSupported": RoamingCommand.Result.NOT_SUPPORTED,
    "Occupied": RoamingCommand.Result.EVSE_OCCUPIED,
    "Faulted": RoamingCommand.Result.EVSE_INOPERATIVE,
    "Unavailable": RoamingCommand.Result.EVSE_INOPERATIVE,
}
#: ``command_send``'s outcomes other than an answer, as results.
OUTCOMES = {
    "offline": RoamingCommand.Result.FAILED,
    "timeout": RoamingCommand.Result.TIMEOUT,
    "no_answer": RoamingCommand.Result.TIMEOUT,
    "error": RoamingCommand.Result.FAILED,
}
#: A charger's CALLERROR codes saying it does not do the command.
UNSUPPORTED_ERRORS = ("NotImplemented", "NotSupported")
#: Connector states in which a session cannot start (the charger is not asked).
INOPERATIVE = (ConnectorStatus.FAULTED, ConnectorStatus.UNAVAILABLE)


class Response(StrEnum):
    """OCPI's CommandResponseType: how a request is answered at once."""

    ACCEPTED = "ACCEPTED"
    NOT_SUPPORTED = "NOT_SUPPORTED"
    REJECTED = "REJECTED"
    UNKNOWN_SESSION = "UNKNOWN_SESSION"


@dataclass(frozen=True)
class Decision:
    """What a request is answered at once, and the charger (and reservation) an accepted one is for."""

    result: Response
    message: str = ""
    charge_point: ChargePoint | None = None
    reservation: Reservation | None = None


def display_text(message: str) -> list[dict[str, str]]:
    """OCPI's DisplayText list (English, at most 512 characters), empty for no message."""
    return [{"language": "en", "text": message[:512]}] if message else []


# --- reading the request -------------------------------------------------------------------------------------------


def _text(data: dict, name: str, *, required: bool = True, max_length: int = ID_LENGTH) -> str:
    value = data.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not 0 < len(value) <= max_length or not value.isprintable():
        raise invalid(f"{name} must be a string of 1 to {max_length} printable characters.")
    return value


def _response_url(data: dict) -> str:
    url = _text(data, "response_url", max_length=URL_LENGTH)
    if not url.startswith(("https://", "http://")):
        raise invalid("response_url must be an http(s) URL.")
    return url


def _moment(data: dict, name: str) -> datetime:
    raw = data.get(name)
    moment = parse_datetime(raw) if isinstance(raw, str) else None
    if moment is None:
        raise invalid(f"{name} must be an RFC 3339 date and time.")
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)


def _token(partner: Partner, data: dict, *, until: datetime) -> RoamingToken:
    """The request's token, stored (``token_upsert``: 2001 for a bad one or another party's) good until ``until``
    as a real-time authorization's (the partner authorized it, OCPI says; the charger's Authorize takes it then
    without asking the partner again). A token the partner pushed is left as its token list says."""
    token = data.get("token")
    if not isinstance(token, dict):
        raise invalid("token must be a Token object.")
    checked = token_validate(token)
    known = token_find(
        partner=partner,
        country_code=checked["country_code"],
        party_id=checked["party_id"],
        uid=checked["uid"],
        ocpi_type=checked["type"],
    )
    if known is None:
        return token_upsert(partner=partner, data=token, authorized_until=until)
    if known.authorized_until is None:  # pushed: the partner's token list says what it is
        return known
    return token_upsert(partner=partner, data=token, authorized_until=max(until, known.authorized_until))


def _unknown_location(message: str) -> OcpiError:
    return OcpiError(Status.UNKNOWN_LOCATION, message, 404)


def _connector(partner: Partner, location_id: str, evse_uid: str, connector_id: str = CONNECTOR_ID) -> Connector:
    connector = connector_find(
        organization=partner.organization, location_id=location_id, evse_uid=evse_uid, connector_id=connector_id
    )
    if connector is None:
        raise _unknown_location(f"Unknown EVSE {evse_uid} (connector {connector_id}) at location {location_id}.")
    return connector


def _evse_target(partner: Partner, data: dict, *, connector_field: bool) -> ChargePoint:
    """The charger a START_SESSION or RESERVE_NOW is for: its EVSE's, or without one a charger of the location with
    a free connector (the first by OCPP id; the first charger when none is free)."""
    location_id = _text(data, "location_id")
    evse_uid = _text(data, "evse_uid", required=False)
    connector_id = _text(data, "connector_id", required=False) if connector_field else ""
    if connector_id and not evse_uid:
        raise invalid("connector_id needs evse_uid.")
    if evse_uid:
        return _connector(partner, location_id, evse_uid, connector_id or CONNECTOR_ID).charge_point
    site = (
        locations_for(organization=partner.organization).filter(pk=int(location_id)).first()
        if location_id.isdigit()
        else None
    )
    chargers = ChargePoint.objects.filter(
        site=site, registration_status=ChargePoint.RegistrationStatus.ACCEPTED
    ).order_by("ocpp_id")
    charge_point = chargers.filter(connectors__status=ConnectorStatus.AVAILABLE).first() or chargers.first()
    if site is None or charge_point is None:
        raise _unknown_location(f"Unknown location {location_id}.")
    return charge_point


def _start_read(partner: Partner, data: dict, now: datetime) -> Decision:
    _text(data, "authorization_reference", required=False)
    charge_point = _evse_target(partner, data, connector_field=True)
    _token(partner, data, until=now + START_AUTHORIZED)
    return Decision(Response.ACCEPTED, charge_point=charge_point)


def _stop_read(partner: Partner, data: dict, now: datetime) -> Decision:
    session_id = _text(data, "session_id")
    roaming = (
        RoamingSession.objects.select_related("session__charge_point")
        .filter(session_id=int(session_id), partner=partner)
        .first()
        if session_id.isdigit()
        else None
    )
    if roaming is None:
        return Decision(Response.UNKNOWN_SESSION, f"No session {session_id} of yours is known here.")
    if roaming.session.state != ChargingSession.State.ACTIVE:
        return Decision(Response.REJECTED, f"Session {session_id} has ended.")
    return Decision(Response.ACCEPTED, charge_point=roaming.session.charge_point)


def _unlock_read(partner: Partner, data: dict, now: datetime) -> Decision:
    location_id, evse_uid = _text(data, "location_id"), _text(data, "evse_uid")
    connector = _connector(partner, location_id, evse_uid, _text(data, "connector_id"))
    return Decision(Response.ACCEPTED, charge_point=connector.charge_point)


def _reservations_named(partner: Partner, reservation_id: str) -> list[Reservation]:
    """The open reservations this partner's RESERVE_NOW with ``reservation_id`` made (case-insensitive: a
    CiString), newest first."""
    return [
        command.reservation
        for command in RoamingCommand.objects.filter(
            partner=partner,
            command=RESERVE_NOW,
            request__reservation_id__iexact=reservation_id,
            reservation__status__in=Reservation.OPEN,
        )
        .select_related("reservation__charge_point")
        .order_by("-received_at")
        if command.reservation is not None
    ]


def _reserve_read(partner: Partner, data: dict, now: datetime) -> Decision:
    _text(data, "reservation_id")
    _text(data, "authorization_reference", required=False)
    expiry = _moment(data, "expiry_date")
    charge_point = _evse_target(partner, data, connector_field=False)
    _token(partner, data, until=max(expiry, now + START_AUTHORIZED))
    return Decision(Response.ACCEPTED, charge_point=charge_point)


def _cancel_read(partner: Partner, data: dict, now: datetime) -> Decision:
    reservation_id = _text(data, "reservation_id")
    reservations = _reservations_named(partner, reservation_id)
    if not reservations:
        return Decision(Response.REJECTED, f"No open reservation {reservation_id} of yours is known here.")
    reservation = reservations[0]
    return Decision(Response.ACCEPTED, charge_point=reservation.charge_point, reservation=reservation)


_READERS = {
    START_SESSION: _start_read,
    STOP_SESSION: _stop_read,
    UNLOCK_CONNECTOR: _unlock_read,
    RESERVE_NOW: _reserve_read,
    CANCEL_RESERVATION: _cancel_read,
}
COMMANDS = tuple(sorted(_READERS))


def command_receive(*, partner: Partner, command: str, data: Any, now: datetime) -> dict[str, Any]:
    """A partner's command (module docstring): its CommandResponse. ``OcpiError`` for an unknown command (404), a
    malformed request (2001) or a location not the operator's (2003); nothing is kept then."""
    read = _READERS.get(command)
    if read is None:
        raise OcpiError(Status.CLIENT_ERROR, f"Unknown command {command!r}: one of {', '.join(COMMANDS)}.", 404)
    if not isinstance(data, dict):
        raise invalid(f"The body must be a {command} object.")
    response_url = _response_url(data)
    with transaction.atomic():
        decision = read(partner, data, now)
        if decision.result == Response.ACCEPTED:
            kept = RoamingCommand.objects.create(
                partner=partner,
                command=command,
                request=data,
                response_url=response_url,
                charge_point=decision.charge_point,
                reservation=decision.reservation,
                received_at=now,
            )
            transaction.on_commit(lambda: _execute_soon(kept.pk), robust=True)
    answer: dict[str, Any] = {"result": decision.result, "timeout": RESULT_TIMEOUT}
    if decision.message:
        answer["message"] = display_text(decision.message)
    return answer


def _execute_soon(command_id: int) -> None:
    from roaming.tasks import command_execute_task  # the tasks import this module

    task_queue(command_execute_task, command_id)


# --- at the charger -------------------------------------------------------------------------------------------------


def _result(result: commands.CommandResult, answers: dict[str, str] | None = None) -> tuple[str, str]:
    """A ``command_send`` result as OCPI's CommandResultType and a message; ``answers`` overrides ``ANSWERS``."""
    message = f"{capfirst(commands.outcome_text(result))}."
    if result.outcome == "answered":
        return {**ANSWERS, **(answers or {})}.get(result.status, RoamingCommand.Result.FAILED), message
    if result.outcome == "error" and result.code in UNSUPPORTED_ERRORS:
        return RoamingCommand.Result.NOT_SUPPORTED, message
    return OUTCOMES[result.outcome], message


def _charger_send(
    charge_point: ChargePoint, action: str, payload: dict, answers: dict | None = None
) -> tuple[str, str]:
    return _result(commands.command_send(charge_point, action, payload, timeout=CHARGER_TIMEOUT), answers)


def _command_connector(command: RoamingCommand) -> Connector | None:
    """The connector the request's EVSE names (None: none named, the charger chooses; or no longer there)."""
    request = command.request
    if not request.get("evse_uid"):
        return None
    return connector_find(
        organization=command.partner.organization,
        location_id=request["location_id"],
        evse_uid=request["evse_uid"],
        connector_id=request.get("connector_id") or CONNECTOR_ID,
    )


def _command_token(command: RoamingCommand) -> RoamingToken | None:
    """The token the request carried (stored when it came)."""
    token = command.request["token"]
    return token_find(
        partner=command.partner,
        country_code=token["country_code"],
        party_id=token["party_id"],
        uid=token["uid"],
        ocpi_type=token["type"],
    )


def _start_execute(command: RoamingCommand, charge_point: ChargePoint) -> tuple[str, str]:
    connector, token = _command_connector(command), _command_token(command)
    if token is None:
        return RoamingCommand.Result.FAILED, "The token is no longer known here."
    payload: dict[str, Any] = {"id_tag": token.id_tag.uid}
    if connector is not None:
        if ChargingSession.objects.filter(connector=connector, state=ChargingSession.State.ACTIVE).exists():
            return RoamingCommand.Result.EVSE_OCCUPIED, "Another session is charging on this EVSE."
        if connector.status in INOPERATIVE:
            return RoamingCommand.Result.EVSE_INOPERATIVE, f"The EVSE is {connector.get_status_display().lower()}."
        payload["connector_id"] = connector.number
    return _charger_send(charge_point, "RemoteStartTransaction", payload)


def _stop_execute(command: RoamingCommand, charge_point: ChargePoint) -> tuple[str, str]:
    return _charger_send(charge_point, "RemoteStopTransaction", {"transaction_id": int(command.request["session_id"])})


def _unlock_execute(command: RoamingCommand, charge_point: ChargePoint) -> tuple[str, str]:
    connector = _command_connector(command)
    if connector is None:  # removed since
        return RoamingCommand.Result.FAILED, "The connector is no longer here."
    return _charger_send(charge_point, "UnlockConnector", {"connector_id": connector.number})


def _reserve_execute(command: RoamingCommand, charge_point: ChargePoint) -> tuple[str, str]:
    """A reservation through ``sessions_app.reservations``; one of the partner's with the same reservation_id at
    the same location is replaced (cancelled first), as OCPI says."""
    token, now = _command_token(command), timezone.now()
    if token is None:
        return RoamingCommand.Result.FAILED, "The token is no longer known here."
    for earlier in _reservations_named(command.partner, command.request["reservation_id"]):
        if earlier.charge_point.site_id == charge_point.site_id:
            reservation_cancel(reservation=earlier, now=now, timeout=CHARGER_TIMEOUT)
    try:
        reservation = reservation_create(
            charge_point=charge_point,
            connector=_command_connector(command),
            id_tag=token.id_tag,
            created_by=None,
            now=now,
            expires_at=_moment(command.request, "expiry_date"),
            timeout=CHARGER_TIMEOUT,
        )
    except ReservationRefused as refused:
        return RoamingCommand.Result.REJECTED, refused.message
    RoamingCommand.objects.filter(pk=command.pk).update(reservation=reservation)
    if reservation.status != Reservation.Status.REFUSED:
        return RoamingCommand.Result.ACCEPTED, ""
    answer = reservation.charger_answer
    result = OUTCOMES.get(answer) or ANSWERS.get(answer, RoamingCommand.Result.REJECTED)
    return result, refusal_reason(reservation)


def _cancel_execute(command: RoamingCommand, charge_point: ChargePoint) -> tuple[str, str]:
    reservation = command.reservation
    if reservation is None or reservation.status not in Reservation.OPEN:
        return RoamingCommand.Result.UNKNOWN_RESERVATION, "The reservation has ended."
    try:
        sent = reservation_cancel(reservation=reservation, now=timezone.now(), timeout=CHARGER_TIMEOUT)
    except ReservationRefused as refused:  # it ended meanwhile
        return RoamingCommand.Result.UNKNOWN_RESERVATION, refused.message
    # Rejected: the charger held no such reservation (any more); ours has ended all the same.
    return _result(sent, {"Rejected": RoamingCommand.Result.UNKNOWN_RESERVATION})


_EXECUTORS = {
    START_SESSION: _start_execute,
    STOP_SESSION: _stop_execute,
    UNLOCK_CONNECTOR: _unlock_execute,
    RESERVE_NOW: _reserve_execute,
    CANCEL_RESERVATION: _cancel_execute,
}


def command_execute(*, command_id: int) -> str:
    """Send a kept command to its charger and post the result to the partner (module docstring); returns the
    result. A command with a result already is left alone."""
    command = RoamingCommand.objects.select_related(
        "partner__organization", "charge_point", "reservation__charge_point"
    ).get(pk=command_id)
    if command.result:
        return command.result
    result: str
    if command.charge_point is None:  # removed meanwhile
        result, message = RoamingCommand.Result.FAILED, "The charger is no longer here."
    else:
        with translation.override("en"):
            result, message = _EXECUTORS[command.command](command, command.charge_point)
    command_result_post(command=command, result=result, message=message)
    return result


def command_result_post(*, command: RoamingCommand, result: str, message: str = "") -> bool:
    """Keep the command's result and post it (a CommandResult) to the partner's ``response_url``: once per command;
    False when it had a result already."""
    with transaction.atomic():
        if not RoamingCommand.objects.filter(pk=command.pk, result="").update(result=result):
            return False
        _post(command, key=f"command:{command.pk}", result=result, message=message)
    command.result = result
    return True


def _post(command: RoamingCommand, *, key: str, result: str, message: str) -> None:
    body: dict[str, Any] = {"result": result}
    if message:
        body["message"] = display_text(message)
    push_enqueue(
        partner=command.partner, module="commands", key=key, method="POST", url=command.response_url, body=body
    )


def commands_overdue(*, now: datetime | None = None) -> int:
    """Commands still without a result ``OVERDUE`` after they came (never queued, or their worker died): TIMEOUT
    posted, so the partner hears rather than waits; not sent to the charger late. Beat's job every minute (and
    the server's without a broker); how many."""
    now = now or timezone.now()
    overdue = RoamingCommand.objects.filter(result="", received_at__lt=now - OVERDUE).select_related(
        "partner__organization"
    )
    message = "The command could not be carried out in time."
    return sum(
        command_result_post(command=command, result=RoamingCommand.Result.TIMEOUT, message=message)
        for command in overdue
    )


# --- afterwards -----------------------------------------------------------------------------------------------------


def command_result_acknowledged(item: PushItem, at: datetime) -> None:
    """``push.acknowledged_handlers``: the partner took a command's result."""
    kind, _, command_id = item.key.partition(":")
    if item.module == "commands" and kind == "command" and command_id.isdigit():
        RoamingCommand.objects.filter(pk=int(command_id), result_sent_at=None).update(result_sent_at=at)


def command_reservation_ended(reservation_id: int) -> None:
    """``hooks.reservation_ended_handlers``: a partner's reservation that the operator cancelled or a fault ended is
    posted to its RESERVE_NOW's ``response_url`` as CANCELED_RESERVATION (the partner's own cancel, a use or an
    expiry is not)."""
    reservation = Reservation.objects.filter(pk=reservation_id).first()
    if reservation is None or not (
        reservation.status == Reservation.Status.FAULTED
        or (reservation.status == Reservation.Status.CANCELLED and reservation.cancelled_by_id is not None)
    ):
        return
    for command in RoamingCommand.objects.filter(reservation=reservation, command=RESERVE_NOW).select_related(
        "partner__organization"
    ):
        with translation.override("en"):
            message = str(reservation.get_status_display())
        _post(
            command,
            key=f"command:{command.pk}:cancelled",
            result=RoamingCommand.Result.CANCELED_RESERVATION,
            message=message,
        )


def command_start_recent(*, token: RoamingToken, charge_point: ChargePoint, at: datetime) -> RoamingCommand | None:
    """The newest START_SESSION or RESERVE_NOW of ``token`` at ``charge_point`` received in the ``START_AUTHORIZED``
    before ``at``: the partner authorized the token there (OCPI: no real-time authorization then)."""
    return (
        RoamingCommand.objects.filter(
            partner_id=token.partner_id,
            command__in=(START_SESSION, RESERVE_NOW),
            charge_point=charge_point,
            received_at__gt=at - START_AUTHORIZED,
            received_at__lte=at,
            request__token__uid=token.uid,
            request__token__type=token.type,
        )
        .order_by("-received_at")
        .first()
    )


def authorization_reference_for(*, session: ChargingSession, token: RoamingToken) -> str:
    """The ``authorization_reference`` the partner gave for ``session``: its RESERVE_NOW's when the session used
    that reservation, else its START_SESSION's at that charger shortly before (``command_start_recent``)."""
    reserved = RoamingCommand.objects.filter(
        reservation__session=session, partner_id=token.partner_id, command=RESERVE_NOW
    ).first()
    command = reserved or command_start_recent(token=token, charge_point=session.charge_point, at=session.started_at)
    return str((command.request.get("authorization_reference") or "") if command else "")
