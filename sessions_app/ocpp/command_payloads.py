"""Typed payloads for commands to chargers: one place that knows each action's fields and OCPP 1.6's limits.

Each builder takes the action's fields as keyword arguments, checks them (``CommandPayloadError`` names
the field and says what is wrong, for the admin form and the operator API alike) and returns the ``ocpp``
package's call dataclass. ``command_payload`` turns that into what ``commands.command_send`` carries
through the channel layer: the action name and the snake_case dict the consumer rebuilds the call from.
"""

import base64
import binascii
import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from django.utils.translation import gettext_lazy as _
from ocpp.charge_point import remove_nones
from ocpp.v16 import call, datatypes
from ocpp.v16.enums import ChargingProfileKindType, ChargingProfilePurposeType, ChargingRateUnitType, RecurrencyKind

from core.timeutil import utc_text
from sessions_app.ocpp.certificates import CertificateError, certificate_load, certificate_pem

#: OCPP 1.6 CiString lengths of DataTransfer.req.
VENDOR_ID_MAX_LENGTH = 255
MESSAGE_ID_MAX_LENGTH = 50
#: DataTransfer's data has no limit in OCPP; a command's data is what a person types, so this is plenty.
DATA_MAX_LENGTH = 10_000
#: The longest composite schedule asked for: one week, in seconds.
SCHEDULE_MAX_DURATION = 7 * 24 * 3600
#: Connector ids a command may name; 0 is the whole charge point.
CONNECTOR_MAX_ID = 1000
#: OCPP 1.6 IdToken is a CiString20.
ID_TAG_MAX_LENGTH = 20
#: Ids and versions the server numbers (reservationId, requestId, listVersion, chargingProfileId) are JSON
#: integers, which chargers hold in 32 bits.
REQUEST_MAX_ID = 2**31 - 1
#: Files a charger downloads (firmware) or uploads (diagnostics, logs): the schemes it may use, the longest
#: address (SignedUpdateFirmware's and GetLog's limit), attempts and seconds between them (bounded for sanity).
TRANSFER_SCHEMES = ("http", "https", "ftp", "ftps")
LOCATION_MAX_LENGTH = 512
MAX_RETRIES = 100
MAX_RETRY_INTERVAL = 24 * 3600
#: SignedUpdateFirmware.req's limits of the signing certificate and the signature.
SIGNING_CERTIFICATE_MAX_LENGTH = 5500
SIGNATURE_MAX_LENGTH = 800
CHARGING_RATE_UNITS = tuple(unit.value for unit in ChargingRateUnitType)
PROFILE_PURPOSES = tuple(purpose.value for purpose in ChargingProfilePurposeType)
#: GetLog's log types.
LOG_TYPES = ("DiagnosticsLog", "SecurityLog")


class CommandPayloadError(ValueError):
    """A field of a command that OCPP 1.6 does not allow; ``field`` is its snake_case name."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def command_payload(request) -> tuple[str, dict]:
    """The action name and the snake_case fields of a call dataclass, absent optional fields left out (also
    inside nested objects such as a charging profile, as the ``ocpp`` package leaves them out of the message)."""
    return type(request).__name__, remove_nones(dataclasses.asdict(request))


def clear_cache() -> call.ClearCache:
    """The charger forgets the id tags it cached from earlier authorizations."""
    return call.ClearCache()


def get_local_list_version() -> call.GetLocalListVersion:
    """The version of the charger's local authorization list (-1: no list support, 0: empty)."""
    return call.GetLocalListVersion()


def data_transfer(*, vendor_id: str, message_id: str = "", data: str = "") -> call.DataTransfer:
    """Vendor-specific data; empty ``message_id`` and ``data`` are left out of the message."""
    _require(vendor_id, "vendor_id")
    _check_length(vendor_id, VENDOR_ID_MAX_LENGTH, "vendor_id")
    _check_length(message_id, MESSAGE_ID_MAX_LENGTH, "message_id")
    _check_length(data, DATA_MAX_LENGTH, "data")
    return call.DataTransfer(vendor_id=vendor_id, message_id=message_id or None, data=data or None)


def get_composite_schedule(
    *, connector_id: int, duration: int, charging_rate_unit: str = ""
) -> call.GetCompositeSchedule:
    """The charging schedule the charger would follow for ``duration`` seconds from now."""
    _check_connector(connector_id)
    if not 0 <= duration <= SCHEDULE_MAX_DURATION:
        raise CommandPayloadError(
            "duration",
            str(_("Give a duration in seconds from 0 to %(max)s (one week).") % {"max": SCHEDULE_MAX_DURATION}),
        )
    _check_choice(charging_rate_unit, CHARGING_RATE_UNITS, "charging_rate_unit")
    return call.GetCompositeSchedule(
        connector_id=connector_id, duration=duration, charging_rate_unit=charging_rate_unit or None
    )


def clear_charging_profile(
    *,
    profile_id: int | None = None,
    connector_id: int | None = None,
    charging_profile_purpose: str = "",
    stack_level: int | None = None,
) -> call.ClearChargingProfile:
    """Clear the profiles that match every criterion given; with none given the charger clears all of them."""
    if connector_id is not None:
        _check_connector(connector_id)
    _check_choice(charging_profile_purpose, PROFILE_PURPOSES, "charging_profile_purpose")
    if stack_level is not None and stack_level < 0:
        raise CommandPayloadError("stack_level", str(_("A stack level is 0 or more.")))
    return call.ClearChargingProfile(
        id=profile_id,
        connector_id=connector_id,
        charging_profile_purpose=charging_profile_purpose or None,
        stack_level=stack_level,
    )


#: SetChargingProfile (OCPP 1.6 3.13, 5.16): the kinds and recurrences a profile has; a recurring schedule repeats
#: after a day or a week, so its periods and duration fit in one. Chargers hold few periods (their
#: ChargingScheduleMaxPeriods, often 24 or fewer); this bound only keeps a message sane.
PROFILE_KINDS = tuple(kind.value for kind in ChargingProfileKindType)
RECURRENCY_KINDS = tuple(kind.value for kind in RecurrencyKind)
RECURRENCY_SECONDS = {"Daily": 24 * 3600, "Weekly": 7 * 24 * 3600}
SCHEDULE_MAX_PERIODS = 1000
PHASES_MAX = 3
#: A schedule period as the builder takes it: ``(start_period, limit)``, ``(start_period, limit, number_phases)``
#: or a mapping with those keys (the operator API's objects, OCPP's JSON in snake_case).
SchedulePeriod = tuple | Mapping


def set_charging_profile(*, connector_id: int, **profile: Any) -> call.SetChargingProfile:
    """Set a charging profile (``profile``: the fields of ``charging_profile``, which checks them) on a connector
    (0: the whole charger).

    ChargePointMaxProfile limits the whole charger, so only on connector 0; TxDefaultProfile applies to the
    transactions that start afterwards (on connector 0: to those of every connector); TxProfile limits one
    running transaction, so it names it and its connector.
    """
    _check_connector(connector_id)
    built = charging_profile(**profile)
    purpose = built.charging_profile_purpose
    if purpose == "ChargePointMaxProfile" and connector_id != 0:
        raise CommandPayloadError(
            "connector_id", str(_("A ChargePointMaxProfile limits the whole charger: set it on connector 0."))
        )
    if purpose == "TxProfile":
        if connector_id == 0:
            raise CommandPayloadError(
                "connector_id", str(_("A TxProfile is set on the connector of its transaction, not on 0."))
            )
        if built.transaction_id is None:
            raise CommandPayloadError("transaction_id", str(_("A TxProfile names the running transaction it limits.")))
    return call.SetChargingProfile(connector_id=connector_id, cs_charging_profiles=built)


def charging_profile(
    *,
    charging_profile_id: int,
    stack_level: int,
    charging_profile_purpose: str,
    charging_profile_kind: str,
    charging_rate_unit: str,
    schedule_periods: Sequence[SchedulePeriod],
    recurrency_kind: str | None = None,
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
    transaction_id: int | None = None,
    duration: int | None = None,
    start_schedule: datetime | None = None,
    min_charging_rate: Decimal | float | None = None,
    pause_allowed: bool = False,
) -> datatypes.ChargingProfile:
    """A ChargingProfile as OCPP 1.6 allows it, wherever it is sent (SetChargingProfile, RemoteStartTransaction).

    The periods start at 0 and each after the one before, within the schedule's duration (and a recurrence's day
    or week); limits are more than 0 with at most one decimal (sent as JSON numbers), in A or W per
    ``charging_rate_unit``; a recurrence (Daily, Weekly) exactly for a Recurring profile, which needs its
    ``start_schedule``; a Relative one has none (it starts when the transaction does); a transaction id only for
    a TxProfile; times with their time zone, sent in UTC, ``valid_to`` after ``valid_from``. ``pause_allowed``: a
    limit may be 0 (OCPP allows it: the car pauses), as load management sends a session waiting its turn; a person's
    form and the operator API keep refusing it (a slip would stop a car).
    """
    _check_id(charging_profile_id, "charging_profile_id", _("Give a profile id from 0 to %(max)s."))
    if stack_level < 0:
        raise CommandPayloadError("stack_level", str(_("A stack level is 0 or more.")))
    _require(charging_profile_purpose, "charging_profile_purpose")
    _check_choice(charging_profile_purpose, PROFILE_PURPOSES, "charging_profile_purpose")
    _require(charging_profile_kind, "charging_profile_kind")
    _check_choice(charging_profile_kind, PROFILE_KINDS, "charging_profile_kind")
    _check_choice(recurrency_kind or "", RECURRENCY_KINDS, "recurrency_kind")
    if charging_profile_kind == "Recurring" and not recurrency_kind:
        raise CommandPayloadError("recurrency_kind", str(_("A Recurring profile repeats Daily or Weekly: choose one.")))
    if recurrency_kind and charging_profile_kind != "Recurring":
        raise CommandPayloadError("recurrency_kind", str(_("Only a Recurring profile has a recurrence.")))
    if transaction_id is not None and charging_profile_purpose != "TxProfile":
        raise CommandPayloadError("transaction_id", str(_("Only a TxProfile names a transaction.")))
    valid_from_utc = None if valid_from is None else _utc_text(valid_from, "valid_from")
    valid_to_utc = None if valid_to is None else _utc_text(valid_to, "valid_to")
    if valid_from is not None and valid_to is not None and valid_to <= valid_from:
        raise CommandPayloadError("valid_to", str(_("The profile must end after it becomes valid.")))
    _require(charging_rate_unit, "charging_rate_unit")
    _check_choice(charging_rate_unit, CHARGING_RATE_UNITS, "charging_rate_unit")
    if charging_profile_kind == "Relative" and start_schedule is not None:
        raise CommandPayloadError(
            "start_schedule", str(_("A Relative schedule starts with the transaction: leave its start empty."))
        )
    if charging_profile_kind == "Recurring" and start_schedule is None:
        raise CommandPayloadError("start_schedule", str(_("A Recurring schedule repeats from its start: give it.")))
    start_schedule_utc = None if start_schedule is None else _utc_text(start_schedule, "start_schedule")
    recurrence = RECURRENCY_SECONDS.get(recurrency_kind or "")
    if duration is not None:
        if duration <= 0:
            raise CommandPayloadError("duration", str(_("Give the schedule's duration in seconds, more than 0.")))
        if recurrence is not None and duration > recurrence:
            raise CommandPayloadError(
                "duration",
                str(_("A %(kind)s schedule lasts at most %(max)s s.") % {"kind": recurrency_kind, "max": recurrence}),
            )
    min_rate = None
    if min_charging_rate is not None:
        min_rate = _rate(
            min_charging_rate,
            "min_charging_rate",
            str(_("The minimum charging rate is a number more than 0.")),
            str(_("The minimum charging rate has at most one decimal, e.g. 7.5.")),
        )
    periods = _schedule_periods(schedule_periods, duration if duration is not None else recurrence, pause_allowed)
    return datatypes.ChargingProfile(
        charging_profile_id=charging_profile_id,
        stack_level=stack_level,
        charging_profile_purpose=charging_profile_purpose,
        charging_profile_kind=charging_profile_kind,
        charging_schedule=datatypes.ChargingSchedule(
            charging_rate_unit=charging_rate_unit,
            charging_schedule_period=periods,
            duration=duration,
            start_schedule=start_schedule_utc,
            min_charging_rate=min_rate,
        ),
        transaction_id=transaction_id,
        recurrency_kind=recurrency_kind or None,
        valid_from=valid_from_utc,
        valid_to=valid_to_utc,
    )


#: Where a field of ``charging_profile`` sits in OCPP's ChargingProfile JSON (snake_case), for its errors.
_PROFILE_JSON_FIELDS = {
    "schedule_periods": "charging_schedule.charging_schedule_period",
    "charging_rate_unit": "charging_schedule.charging_rate_unit",
    "duration": "charging_schedule.duration",
    "start_schedule": "charging_schedule.start_schedule",
    "min_charging_rate": "charging_schedule.min_charging_rate",
}


def charging_profile_check(profile: Mapping) -> None:
    """OCPP's ChargingProfile JSON in snake_case, already valid against OCPP 1.6's schema (the operator API's
    remote start takes one): ``charging_profile``'s rules, the error naming the field by its path in the JSON."""
    schedule = profile.get("charging_schedule") or {}
    try:
        charging_profile(
            charging_profile_id=profile["charging_profile_id"],
            stack_level=profile["stack_level"],
            charging_profile_purpose=profile["charging_profile_purpose"],
            charging_profile_kind=profile["charging_profile_kind"],
            charging_rate_unit=schedule.get("charging_rate_unit") or "",
            schedule_periods=schedule.get("charging_schedule_period") or [],
            recurrency_kind=profile.get("recurrency_kind"),
            valid_from=_json_time(profile.get("valid_from"), "valid_from"),
            valid_to=_json_time(profile.get("valid_to"), "valid_to"),
            transaction_id=profile.get("transaction_id"),
            duration=schedule.get("duration"),
            start_schedule=_json_time(schedule.get("start_schedule"), "start_schedule"),
            min_charging_rate=schedule.get("min_charging_rate"),
        )
    except CommandPayloadError as error:
        raise CommandPayloadError(_PROFILE_JSON_FIELDS.get(error.field, error.field), error.message) from error


def _json_time(value: str | None, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError) as error:
        raise CommandPayloadError(field, str(_("Give the time in ISO 8601 with its time zone."))) from error


def _schedule_periods(
    periods: Sequence[SchedulePeriod], within: int | None, pause_allowed: bool = False
) -> list[datatypes.ChargingSchedulePeriod]:
    """The periods checked in order; ``within``: the seconds every period must start within (duration, recurrence)."""
    field = "schedule_periods"
    if not periods:
        raise CommandPayloadError(field, str(_("Give at least one period, the first starting at 0 s.")))
    if len(periods) > SCHEDULE_MAX_PERIODS:
        raise CommandPayloadError(field, str(_("At most %(max)s periods.") % {"max": SCHEDULE_MAX_PERIODS}))
    checked: list[datatypes.ChargingSchedulePeriod] = []
    for number, period in enumerate(periods, 1):
        start, limit, phases = _period_fields(period, number)
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise CommandPayloadError(
                field, str(_("Period %(number)s: its start is a whole number of seconds.") % {"number": number})
            )
        if number == 1 and start != 0:
            raise CommandPayloadError(
                field, str(_("The first period starts at 0 s, not %(start)s.") % {"start": start})
            )
        if checked and start <= checked[-1].start_period:
            raise CommandPayloadError(
                field,
                str(
                    _("Period %(number)s starts at %(start)s s, not after the one before it (%(before)s s).")
                    % {"number": number, "start": start, "before": checked[-1].start_period}
                ),
            )
        if within is not None and start >= within:
            raise CommandPayloadError(
                field,
                str(
                    _("Period %(number)s starts at %(start)s s, after the schedule's %(within)s s are over.")
                    % {"number": number, "start": start, "within": within}
                ),
            )
        rate = _rate(
            limit,
            field,
            str(_("Period %(number)s: the limit is a number more than 0.") % {"number": number}),
            str(_("Period %(number)s: the limit has at most one decimal, e.g. 7.5.") % {"number": number}),
            zero_allowed=pause_allowed,
        )
        if phases is not None and (
            isinstance(phases, bool) or not isinstance(phases, int) or not 1 <= phases <= PHASES_MAX
        ):
            raise CommandPayloadError(
                field,
                str(_("Period %(number)s: from 1 to %(max)s phases.") % {"number": number, "max": PHASES_MAX}),
            )
        checked.append(datatypes.ChargingSchedulePeriod(start_period=start, limit=rate, number_phases=phases))
    return checked


def _period_fields(period: SchedulePeriod, number: int) -> tuple:
    if isinstance(period, Mapping):
        return period.get("start_period"), period.get("limit"), period.get("number_phases")
    if isinstance(period, tuple | list) and len(period) in (2, 3):
        return period[0], period[1], period[2] if len(period) == 3 else None
    raise CommandPayloadError(
        "schedule_periods",
        str(
            _("Period %(number)s: give its start in seconds, its limit and optionally its phases.") % {"number": number}
        ),
    )


def _rate(
    value: Decimal | float | int | None, field: str, not_positive: str, too_precise: str, zero_allowed: bool = False
) -> float:
    """A limit or rate: a number more than 0 with at most one decimal (OCPP 1.6: "at most one digit fraction"),
    sent as a JSON number; ``not_positive`` and ``too_precise`` say what is wrong with it."""
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError) as error:
        raise CommandPayloadError(field, not_positive) from error
    if isinstance(value, bool) or not amount.is_finite() or amount < 0 or (amount == 0 and not zero_allowed):
        raise CommandPayloadError(field, not_positive)
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -1:
        raise CommandPayloadError(field, too_precise)
    return float(amount)


def reserve_now(
    *, connector_id: int, expiry_date: datetime, id_tag: str, reservation_id: int, parent_id_tag: str | None = None
) -> call.ReserveNow:
    """Hold a connector (0: any connector of the charger) for ``id_tag`` until ``expiry_date`` (aware, sent in UTC).

    Drivers and operators reserve through ``sessions_app.reservations``, which keeps the reservation whose
    primary key is ``reservation_id``; this builder only checks the fields OCPP 1.6 limits.
    """
    _check_connector(connector_id)
    expiry = _utc_text(expiry_date, "expiry_date")
    _require(id_tag, "id_tag")
    _check_length(id_tag, ID_TAG_MAX_LENGTH, "id_tag")
    _check_length(parent_id_tag or "", ID_TAG_MAX_LENGTH, "parent_id_tag")
    _check_id(reservation_id, "reservation_id", _("Give a reservation id from 0 to %(max)s."))
    return call.ReserveNow(
        connector_id=connector_id,
        expiry_date=expiry,
        id_tag=id_tag,
        reservation_id=reservation_id,
        parent_id_tag=parent_id_tag or None,
    )


def cancel_reservation(*, reservation_id: int) -> call.CancelReservation:
    """End a reservation the charger holds; it answers Rejected for an id it does not know (any more)."""
    _check_id(reservation_id, "reservation_id", _("Give a reservation id from 0 to %(max)s."))
    return call.CancelReservation(reservation_id=reservation_id)


def update_firmware(
    *, location: str, retrieve_date: datetime, retries: int | None = None, retry_interval: int | None = None
) -> call.UpdateFirmware:
    """Download the firmware at ``location`` (an http, https, ftp or ftps URI) from ``retrieve_date`` on and install it.

    The charger answers with no status; its FirmwareStatusNotifications tell how it goes
    (``sessions_app.firmware`` runs campaigns of these).
    """
    _check_location(location, "location")
    _check_retries(retries, retry_interval)
    return call.UpdateFirmware(
        location=location,
        retrieve_date=_utc_text(retrieve_date, "retrieve_date"),
        retries=retries,
        retry_interval=retry_interval,
    )


def signed_update_firmware(
    *,
    request_id: int,
    location: str,
    retrieve_date_time: datetime,
    signing_certificate: str,
    signature: str,
    retries: int | None = None,
    retry_interval: int | None = None,
    install_date_time: datetime | None = None,
) -> call.SignedUpdateFirmware:
    """The security extension's update: the charger checks ``signature`` (base64) of the image with the PEM
    ``signing_certificate`` before installing; its SignedFirmwareStatusNotifications carry ``request_id``."""
    _check_id(request_id, "request_id", _("Give a request id from 0 to %(max)s."))
    _check_location(location, "location")
    _check_retries(retries, retry_interval)
    retrieve = _utc_text(retrieve_date_time, "retrieve_date_time")
    install = None
    if install_date_time is not None:
        install = _utc_text(install_date_time, "install_date_time")
        if install_date_time < retrieve_date_time:
            raise CommandPayloadError("install_date_time", str(_("The installation cannot come before the download.")))
    _require(signing_certificate, "signing_certificate")
    _check_length(signing_certificate, SIGNING_CERTIFICATE_MAX_LENGTH, "signing_certificate")
    if "-----BEGIN CERTIFICATE-----" not in signing_certificate:
        raise CommandPayloadError("signing_certificate", str(_("Give the certificate in PEM.")))
    _require(signature, "signature")
    _check_length(signature, SIGNATURE_MAX_LENGTH, "signature")
    try:
        base64.b64decode(signature, validate=True)
    except binascii.Error as error:
        raise CommandPayloadError("signature", str(_("Give the signature in base64."))) from error
    return call.SignedUpdateFirmware(
        request_id=request_id,
        firmware={
            "location": location,
            "retrieve_date_time": retrieve,
            "signing_certificate": signing_certificate,
            "signature": signature,
            **({"install_date_time": install} if install else {}),
        },
        retries=retries,
        retry_interval=retry_interval,
    )


def _check_location(location: str, field: str) -> None:
    """An address a charger downloads from or uploads to: one of ``TRANSFER_SCHEMES`` with a host (one without a
    domain is fine on a private network), no spaces."""
    _require(location, field)
    _check_length(location, LOCATION_MAX_LENGTH, field)
    parts = urlsplit(location)
    if parts.scheme.lower() not in TRANSFER_SCHEMES or not parts.hostname or any(c.isspace() for c in location):
        raise CommandPayloadError(
            field, str(_("Give a URL starting with %(schemes)s.") % {"schemes": ", ".join(TRANSFER_SCHEMES)})
        )


def _check_retries(retries: int | None, retry_interval: int | None) -> None:
    if retries is not None and not 0 <= retries <= MAX_RETRIES:
        raise CommandPayloadError("retries", str(_("Give from 0 to %(max)s attempts.") % {"max": MAX_RETRIES}))
    if retry_interval is not None and not 0 <= retry_interval <= MAX_RETRY_INTERVAL:
        raise CommandPayloadError(
            "retry_interval",
            str(_("Give from 0 to %(max)s seconds between attempts.") % {"max": MAX_RETRY_INTERVAL}),
        )


def _check_id(value: int, field: str, message) -> None:
    """An id or version the server numbers, within ``REQUEST_MAX_ID``; ``message`` names it, with %(max)s."""
    if not 0 <= value <= REQUEST_MAX_ID:
        raise CommandPayloadError(field, str(message % {"max": REQUEST_MAX_ID}))


def _utc_text(moment: datetime, field: str) -> str:
    """An aware moment as OCPP's UTC text; a naive one is refused (whose local time would it be?)."""
    if moment.tzinfo is None:
        raise CommandPayloadError(field, str(_("Give the time with its time zone.")))
    return utc_text(moment)


def get_diagnostics(
    *,
    location: str,
    retries: int | None = None,
    retry_interval: int | None = None,
    start_time: datetime | None = None,
    stop_time: datetime | None = None,
) -> call.GetDiagnostics:
    """The charger uploads its diagnostics file to the directory ``location`` (from ``start_time`` to ``stop_time``).

    Operators ask through ``sessions_app.uploads.upload_request``, which makes a one-time upload address here.
    """
    _check_location(location, "location")
    _check_retries(retries, retry_interval)
    _check_window(start_time, stop_time, "start_time", "stop_time")
    return call.GetDiagnostics(
        location=location,
        retries=retries,
        retry_interval=retry_interval,
        start_time=_utc(start_time),
        stop_time=_utc(stop_time),
    )


def get_log(
    *,
    log_type: str,
    request_id: int,
    remote_location: str,
    oldest_timestamp: datetime | None = None,
    latest_timestamp: datetime | None = None,
    retries: int | None = None,
    retry_interval: int | None = None,
) -> call.GetLog:
    """GetLog (security extension): the charger uploads its ``log_type`` log to ``remote_location``; its
    LogStatusNotifications carry ``request_id``. The ``log`` object is built from the three fields of its own."""
    _require(log_type, "log_type")
    _check_choice(log_type, LOG_TYPES, "log_type")
    _check_id(request_id, "request_id", _("Give a request id from 0 to %(max)s."))
    _check_location(remote_location, "remote_location")
    _check_retries(retries, retry_interval)
    _check_window(oldest_timestamp, latest_timestamp, "oldest_timestamp", "latest_timestamp")
    log: dict[str, str | None] = {"remote_location": remote_location}
    if oldest_timestamp is not None:
        log["oldest_timestamp"] = _utc(oldest_timestamp)
    if latest_timestamp is not None:
        log["latest_timestamp"] = _utc(latest_timestamp)
    return call.GetLog(
        log=log, log_type=log_type, request_id=request_id, retries=retries, retry_interval=retry_interval
    )


def _check_window(start: datetime | None, stop: datetime | None, start_field: str, stop_field: str) -> None:
    for value, field in ((start, start_field), (stop, stop_field)):
        if value is not None:
            _utc_text(value, field)
    if start is not None and stop is not None and stop < start:
        raise CommandPayloadError(stop_field, str(_("The end of the period comes before its start.")))


def _utc(moment: datetime | None) -> str | None:
    return None if moment is None else _utc_text(moment, "")


#: SendLocalList: its update types, the idTagInfo statuses OCPP 1.6 has, and at most this many entries in one message
#: (the charger's own limit, SendLocalListMaxLength, is usually far lower; ``sessions_app.local_list`` keeps to it).
LOCAL_LIST_UPDATE_TYPES = ("Full", "Differential")
LOCAL_LIST_STATUSES = ("Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx")
LOCAL_LIST_MAX_ENTRIES = 10_000


def send_local_list(*, list_version: int, update_type: str, local_authorization_list: list[dict]) -> call.SendLocalList:
    """The charger's local authorization list (OCPP 1.6 5.15): ``Full`` replaces it, ``Differential`` changes it.

    Each entry is ``{"id_tag": ..., "id_tag_info": {"status": ..., "expiry_date": ..., "parent_id_tag": ...}}``
    (expiry and parent optional; the expiry a datetime or an ISO 8601 string). In a Full update every entry
    carries its idTagInfo; in a Differential one an entry without it removes that id tag from the list.
    """
    _check_id(list_version, "list_version", _("Give a list version from 0 to %(max)s."))
    _require(update_type, "update_type")
    _check_choice(update_type, LOCAL_LIST_UPDATE_TYPES, "update_type")
    field = "local_authorization_list"
    if len(local_authorization_list) > LOCAL_LIST_MAX_ENTRIES:
        raise CommandPayloadError(field, str(_("At most %(max)s entries.") % {"max": LOCAL_LIST_MAX_ENTRIES}))
    entries: list[dict] = []
    seen: set[str] = set()
    for entry in local_authorization_list:
        id_tag = _local_list_id_tag(entry.get("id_tag") or "", field)
        if id_tag.upper() in seen:
            raise CommandPayloadError(field, str(_("Id tag %(id_tag)s appears twice.") % {"id_tag": id_tag}))
        seen.add(id_tag.upper())
        info = entry.get("id_tag_info")
        if not info:
            if update_type == "Full":
                raise CommandPayloadError(
                    field, str(_("Id tag %(id_tag)s: a full list gives every id tag its status.") % {"id_tag": id_tag})
                )
            entries.append({"id_tag": id_tag})
            continue
        status = info.get("status") or ""
        if status not in LOCAL_LIST_STATUSES:
            raise CommandPayloadError(
                field,
                str(
                    _("Id tag %(id_tag)s: the status is one of %(choices)s.")
                    % {"id_tag": id_tag, "choices": ", ".join(LOCAL_LIST_STATUSES)}
                ),
            )
        checked: dict = {"status": status}
        if info.get("expiry_date"):
            checked["expiry_date"] = _local_list_expiry(info["expiry_date"], id_tag, field)
        if info.get("parent_id_tag"):
            checked["parent_id_tag"] = _local_list_id_tag(info["parent_id_tag"], field)
        entries.append({"id_tag": id_tag, "id_tag_info": checked})
    return call.SendLocalList(list_version=list_version, update_type=update_type, local_authorization_list=entries)


def _local_list_id_tag(value: str, field: str) -> str:
    """An OCPP 1.6 IdToken: a CiString20, printable ASCII."""
    if not value or len(value) > ID_TAG_MAX_LENGTH or not all(" " <= char <= "~" for char in value):
        raise CommandPayloadError(
            field,
            str(
                _("%(id_tag)r is no id tag: 1 to %(max)s printable ASCII characters.")
                % {"id_tag": value, "max": ID_TAG_MAX_LENGTH}
            ),
        )
    return value


def _local_list_expiry(value: datetime | str, id_tag: str, field: str) -> str:
    moment: datetime | None = value if isinstance(value, datetime) else None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
    if moment is None or moment.tzinfo is None:
        raise CommandPayloadError(
            field, str(_("Id tag %(id_tag)s: give the expiry as a date-time with its time zone.") % {"id_tag": id_tag})
        )
    return utc_text(moment)


# --- security extension (OCPP 1.6 security whitepaper; sessions_app.charger_security) ---------------------------

CERTIFICATE_TYPES = ("CentralSystemRootCertificate", "ManufacturerRootCertificate")
HASH_ALGORITHMS = ("SHA256", "SHA384", "SHA512")
#: InstallCertificate.req's certificate; CertificateHashDataType's hashes and serial number.
CERTIFICATE_MAX_LENGTH = 5500
CERTIFICATE_HASH_MAX_LENGTH = 128
CERTIFICATE_SERIAL_MAX_LENGTH = 40
HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
#: ExtendedTriggerMessage.req's requestedMessage.
EXTENDED_TRIGGER_MESSAGES = (
    "BootNotification",
    "LogStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "MeterValues",
    "SignChargePointCertificate",
    "StatusNotification",
)


def extended_trigger_message(*, requested_message: str, connector_id: int | None = None) -> call.ExtendedTriggerMessage:
    """Ask the charger to send a message now; SignChargePointCertificate: a new certificate signing request."""
    _require(requested_message, "requested_message")
    _check_choice(requested_message, EXTENDED_TRIGGER_MESSAGES, "requested_message")
    if connector_id is not None:
        _check_connector(connector_id)
    return call.ExtendedTriggerMessage(requested_message=requested_message, connector_id=connector_id)


def install_certificate(*, certificate_type: str, certificate: str) -> call.InstallCertificate:
    """Install a root certificate on the charger: one PEM certificate, sent as read (PEM, nothing around it)."""
    _require(certificate_type, "certificate_type")
    _check_choice(certificate_type, CERTIFICATE_TYPES, "certificate_type")
    _require(certificate.strip(), "certificate")
    _check_length(certificate.strip(), CERTIFICATE_MAX_LENGTH, "certificate")
    try:
        parsed = certificate_load(certificate)
    except CertificateError as error:
        raise CommandPayloadError(
            "certificate", str(_("Give exactly one PEM-encoded X.509 certificate (-----BEGIN CERTIFICATE-----)."))
        ) from error
    pem = certificate_pem(parsed)
    _check_length(pem, CERTIFICATE_MAX_LENGTH, "certificate")
    return call.InstallCertificate(certificate_type=certificate_type, certificate=pem)


def get_installed_certificate_ids(*, certificate_type: str) -> call.GetInstalledCertificateIds:
    """The hash data of the root certificates of one type the charger holds (for DeleteCertificate)."""
    _require(certificate_type, "certificate_type")
    _check_choice(certificate_type, CERTIFICATE_TYPES, "certificate_type")
    return call.GetInstalledCertificateIds(certificate_type=certificate_type)


def delete_certificate(
    *, hash_algorithm: str, issuer_name_hash: str, issuer_key_hash: str, serial_number: str
) -> call.DeleteCertificate:
    """Delete the certificate these hash data name (as GetInstalledCertificateIds reported them)."""
    _require(hash_algorithm, "hash_algorithm")
    _check_choice(hash_algorithm, HASH_ALGORITHMS, "hash_algorithm")
    hashes = {}
    for field, value, limit in (
        ("issuer_name_hash", issuer_name_hash, CERTIFICATE_HASH_MAX_LENGTH),
        ("issuer_key_hash", issuer_key_hash, CERTIFICATE_HASH_MAX_LENGTH),
        ("serial_number", serial_number, CERTIFICATE_SERIAL_MAX_LENGTH),
    ):
        value = value.strip()
        _require(value, field)
        _check_length(value, limit, field)
        if not set(value) <= HEX_DIGITS:
            raise CommandPayloadError(field, str(_("Hexadecimal digits only.")))
        hashes[field] = value
    return call.DeleteCertificate(certificate_hash_data={"hash_algorithm": hash_algorithm, **hashes})


def _require(value: str, field: str) -> None:
    if not value:
        raise CommandPayloadError(field, str(_("Required for this command.")))


def _check_length(value: str, limit: int, field: str) -> None:
    if len(value) > limit:
        raise CommandPayloadError(field, str(_("At most %(limit)s characters.") % {"limit": limit}))


def _check_connector(connector_id: int) -> None:
    if not 0 <= connector_id <= CONNECTOR_MAX_ID:
        raise CommandPayloadError(
            "connector_id",
            str(_("Give a connector from 0 (the whole charger) to %(max)s.") % {"max": CONNECTOR_MAX_ID}),
        )


def _check_choice(value: str, choices: tuple[str, ...], field: str) -> None:
    if value and value not in choices:
        raise CommandPayloadError(field, str(_("Choose one of %(choices)s.") % {"choices": ", ".join(choices)}))
