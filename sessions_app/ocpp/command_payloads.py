"""Typed payloads for commands to chargers: one place that knows each action's fields and OCPP 1.6's limits.

Each builder takes the action's fields as keyword arguments, checks them (``CommandPayloadError`` names
the field and says what is wrong, for the admin form and the operator API alike) and returns the ``ocpp``
package's call dataclass. ``command_payload`` turns that into what ``commands.command_send`` carries
through the channel layer: the action name and the snake_case dict the consumer rebuilds the call from.
"""

import dataclasses
from datetime import UTC, datetime

from django.utils.translation import gettext_lazy as _
from ocpp.v16 import call
from ocpp.v16.enums import ChargingProfilePurposeType, ChargingRateUnitType

#: OCPP 1.6 CiString lengths of DataTransfer.req.
VENDOR_ID_MAX_LENGTH = 255
MESSAGE_ID_MAX_LENGTH = 50
#: DataTransfer's data has no limit in OCPP; a command's data is what a person types, so this is plenty.
DATA_MAX_LENGTH = 10_000
#: The longest composite schedule asked for: one week, in seconds.
SCHEDULE_MAX_DURATION = 7 * 24 * 3600
#: Connector ids a command may name; 0 is the whole charge point.
CONNECTOR_MAX_ID = 1000
#: OCPP 1.6 IdToken is a CiString20; a reservationId is a JSON integer, which chargers hold in 32 bits.
ID_TAG_MAX_LENGTH = 20
RESERVATION_MAX_ID = 2**31 - 1
CHARGING_RATE_UNITS = tuple(unit.value for unit in ChargingRateUnitType)
PROFILE_PURPOSES = tuple(purpose.value for purpose in ChargingProfilePurposeType)


class CommandPayloadError(ValueError):
    """A field of a command that OCPP 1.6 does not allow; ``field`` is its snake_case name."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def command_payload(request) -> tuple[str, dict]:
    """The action name and the snake_case fields of a call dataclass, absent optional fields left out."""
    fields = {name: value for name, value in dataclasses.asdict(request).items() if value is not None}
    return type(request).__name__, fields


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


def reserve_now(
    *, connector_id: int, expiry_date: datetime, id_tag: str, reservation_id: int, parent_id_tag: str | None = None
) -> call.ReserveNow:
    """Hold a connector (0: any connector of the charger) for ``id_tag`` until ``expiry_date`` (aware, sent in UTC).

    Drivers and operators reserve through ``sessions_app.reservations``, which keeps the reservation whose
    primary key is ``reservation_id``; this builder only checks the fields OCPP 1.6 limits.
    """
    _check_connector(connector_id)
    if expiry_date.tzinfo is None:
        raise CommandPayloadError("expiry_date", str(_("Give the time with its time zone.")))
    _require(id_tag, "id_tag")
    _check_length(id_tag, ID_TAG_MAX_LENGTH, "id_tag")
    _check_length(parent_id_tag or "", ID_TAG_MAX_LENGTH, "parent_id_tag")
    _check_reservation_id(reservation_id)
    return call.ReserveNow(
        connector_id=connector_id,
        expiry_date=expiry_date.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        id_tag=id_tag,
        reservation_id=reservation_id,
        parent_id_tag=parent_id_tag or None,
    )


def cancel_reservation(*, reservation_id: int) -> call.CancelReservation:
    """End a reservation the charger holds; it answers Rejected for an id it does not know (any more)."""
    _check_reservation_id(reservation_id)
    return call.CancelReservation(reservation_id=reservation_id)


def _check_reservation_id(reservation_id: int) -> None:
    if not 0 <= reservation_id <= RESERVATION_MAX_ID:
        raise CommandPayloadError(
            "reservation_id", str(_("Give a reservation id from 0 to %(max)s.") % {"max": RESERVATION_MAX_ID})
        )


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
