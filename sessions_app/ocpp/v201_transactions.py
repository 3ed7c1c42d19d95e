"""OCPP 2.0.1 TransactionEvent and MeterValues: translated into what the services read, nothing decided here.

2.0.1's sampled value differs from 1.6's: its value is a number with ``unitOfMeasure`` {unit, multiplier}, and a
signed reading is the same sampled value carrying ``signedMeterValue``. Each is turned into 1.6's shape (value
as text in the unit, the multiplier applied; the signed data a sampled value of its own, ``format`` SignedData),
so one reading is stored, checked and verified as a 1.6 charger's is (``services``, ``signed_meter``).
"""

from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from django.utils import timezone
from ocpp.exceptions import TypeConstraintViolationError
from ocpp.routing import on
from ocpp.v201 import call_result, datatypes
from ocpp.v201.enums import Action

from accounts.selectors import TagVerdict
from sessions_app import services, transaction_events
from sessions_app.models import ChargePoint
from sessions_app.ocpp import batching
from sessions_app.ocpp.v16 import db, parse_time
from sessions_app.ocpp.v201_commands import remote_start_find
from sessions_app.signed_meter import SIGNED_DATA

_KEPT = ("measurand", "phase", "context", "location")


def _value_text(sampled: dict) -> str:
    """The value in its unit, ``multiplier`` applied (10^multiplier), as text the services read exactly."""
    multiplier = (sampled.get("unit_of_measure") or {}).get("multiplier", 0)
    try:
        return str(Decimal(str(sampled["value"])).scaleb(multiplier))
    except (InvalidOperation, TypeError):
        return str(sampled["value"])


def readings(meter_value: list[dict]) -> list[dict]:
    """2.0.1 meterValue as the services' readings (1.6's shape, times parsed): see the module docstring."""
    converted = []
    for reading in meter_value:
        sampled_values = []
        for sampled in reading.get("sampled_value", []):
            kept = {name: sampled[name] for name in _KEPT if sampled.get(name)}
            unit = (sampled.get("unit_of_measure") or {}).get("unit") or "Wh"
            sampled_values.append({**kept, "value": _value_text(sampled), "unit": unit})
            if signed := sampled.get("signed_meter_value"):
                sampled_values.append({**kept, "value": signed["signed_meter_data"], "format": SIGNED_DATA})
        converted.append({"timestamp": parse_time(reading["timestamp"]), "sampled_value": sampled_values})
    return converted


def remote_start_token(*, charge_point: ChargePoint, remote_start_id: int) -> str:
    """The card a remote start named (``v201_commands``), for its transaction's events that name none."""
    command = remote_start_find(charge_point=charge_point, remote_start_id=remote_start_id)
    return command.request["id_token"]["id_token"] if command else ""


class TransactionHandlers:
    """The TransactionEvent and MeterValues handlers of ``v201.CentralSystem201``, which provides these."""

    charge_point: ChargePoint
    connector_number: Callable[[int, int], int]
    id_token_info: Callable[[TagVerdict], datatypes.IdTokenInfoType]

    @on(Action.transaction_event)
    async def on_transaction_event(
        self, event_type: str, timestamp: str, trigger_reason: str, seq_no: int, transaction_info: dict, **optional
    ):
        """Kept once and applied to its session (``transaction_events``); a card it names gets its verdict."""
        evse, token = optional.get("evse"), (optional.get("id_token") or {}).get("id_token", "")
        number = self.connector_number(evse["id"], evse.get("connector_id", 1)) if evse else None
        if not token and transaction_info.get("remote_start_id") is not None:
            token = await db(remote_start_token)(
                charge_point=self.charge_point, remote_start_id=transaction_info["remote_start_id"]
            )
        report = transaction_events.TransactionEventReport(
            charge_point=self.charge_point,
            transaction_id=transaction_info["transaction_id"],
            seq_no=seq_no,
            event_type=event_type,
            trigger_reason=trigger_reason,
            timestamp=parse_time(timestamp),
            connector_number=number,
            raw_token=token,
            meter_value=readings(optional.get("meter_value") or []),
            charging_state=transaction_info.get("charging_state") or "",
            stopped_reason=transaction_info.get("stopped_reason") or "",
            offline=bool(optional.get("offline")),
            reservation_id=optional.get("reservation_id"),
        )
        session = None
        if transaction_events.routine_report(report):  # most events: many chargers' in one transaction
            session = await batching.submit(transaction_events.routine_events_record_many, report)
        if session is None:
            session = await db(transaction_events.transaction_event_record)(report=report, now=timezone.now())
        if not optional.get("id_token"):  # idTokenInfo answers an idToken sent, not one taken from a remote start
            return call_result.TransactionEvent()
        verdict = await db(services.id_tag_authorize)(
            charge_point=self.charge_point, raw_uid=report.raw_token, at=timezone.now(), running_session=session.pk
        )
        return call_result.TransactionEvent(id_token_info=self.id_token_info(verdict))

    @on(Action.meter_values)
    async def on_meter_values(self, evse_id: int, meter_value: list, **_optional):
        """Readings outside a transaction (2.0.1 sends a transaction's own inside its events): the EVSE's, or
        the station's for evseId 0."""
        converted = readings(meter_value)
        if problem := services.meter_value_unstorable(converted):
            raise TypeConstraintViolationError(details={"cause": problem})
        number = self.connector_number(evse_id, 1) if evse_id else 0
        await batching.submit(
            services.meter_values_record_many,
            services.MeterValuesReport(self.charge_point, number, None, converted),
        )
        return call_result.MeterValues()
