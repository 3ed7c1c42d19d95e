"""The simulated charger's OCPP 2.0.1 wire: the model of ``demo.simulator`` in 2.0.1's messages.

What 2.0.1 says differently from 1.6, and how the simulated station says it:

- Every connector is an EVSE of one connector: connector ``n`` is ``evseId`` n, ``connectorId`` 1 (as the server
  numbers them). The station itself has no status of its own.
- StatusNotification tells only whether a connector is Available, Occupied, Reserved, Unavailable or Faulted;
  1.6's Preparing, Charging, SuspendedEV and Finishing are all Occupied, so they are reported once. Charging
  and SuspendedEV are told in the transaction, as TransactionEvent Updated with ``ChargingStateChanged``.
- The station numbers its transactions (a UUID) and each transaction's events (``seqNo`` from 0): Started with
  the Transaction.Begin register reading and the idToken, Updated with each periodic reading, Ended with the
  Transaction.End reading and the ``stoppedReason``. Events built while offline say ``offline``.
- Commands: RequestStart/StopTransaction, Reset (Immediate as 1.6's hard reset; OnIdle once no transaction
  runs), UnlockConnector, ChangeAvailability, GetVariables/SetVariables (the 1.6 configuration keys under
  their 2.0.1 component and variable names), TriggerMessage, GetTransactionStatus, DataTransfer.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from ocpp.routing import after, on
from ocpp.v201 import ChargePoint as OcppChargePoint
from ocpp.v201 import call, call_result
from ocpp.v201.enums import (
    Action,
    ChangeAvailabilityStatusEnumType,
    ChargingProfileStatusEnumType,
    ClearChargingProfileStatusEnumType,
    DataTransferStatusEnumType,
    GenericStatusEnumType,
    GetVariableStatusEnumType,
    OperationalStatusEnumType,
    RequestStartStopStatusEnumType,
    ResetEnumType,
    ResetStatusEnumType,
    SetVariableStatusEnumType,
    TriggerMessageStatusEnumType,
    UnlockStatusEnumType,
)

from demo.charging_profiles import PURPOSES, from_wire
from demo.simulator import (
    CARD_TOKEN_TYPE,
    FIRMWARE,
    RATE_UNIT_NAMES,
    VENDOR,
    ConnectorState,
    SimAnswering,
    SimCharger,
    StartRequest,
    ocpp_timestamp,
    sampled_values,
)

CONNECTOR_STATUS = {  # the model's (1.6) status -> 2.0.1's
    "Available": "Available",
    "Preparing": "Occupied",
    "Charging": "Occupied",
    "SuspendedEV": "Occupied",
    "SuspendedEVSE": "Occupied",
    "Finishing": "Occupied",
    "Reserved": "Reserved",
    "Unavailable": "Unavailable",
    "Faulted": "Faulted",
}
CHARGING_STATE = {"Charging": "Charging", "SuspendedEV": "SuspendedEV", "SuspendedEVSE": "SuspendedEVSE"}
STOPPED_REASON = {"HardReset": "ImmediateReset", "SoftReset": "Reboot", "UnlockCommand": "Other"}  # others: same
ENDED_TRIGGER = {
    "Local": "StopAuthorized",
    "EVDisconnected": "EVCommunicationLost",
    "Remote": "RemoteStop",
    "HardReset": "ResetCommand",
    "SoftReset": "ResetCommand",
    "DeAuthorized": "Deauthorized",
    "UnlockCommand": "UnlockCommand",
}
VARIABLES = {  # (component, variable) -> the model's configuration key (1.6's name)
    ("OCPPCommCtrlr", "HeartbeatInterval"): "HeartbeatInterval",
    ("SampledDataCtrlr", "TxUpdatedInterval"): "MeterValueSampleInterval",
    ("SampledDataCtrlr", "TxUpdatedMeasurands"): "MeterValuesSampledData",
    ("AuthCtrlr", "AuthorizeRemoteStart"): "AuthorizeRemoteTxRequests",
    ("AuthCtrlr", "LocalAuthorizeOffline"): "LocalAuthorizeOffline",
    ("TxCtrlr", "StopTxOnInvalidId"): "StopTransactionOnInvalidId",
    ("TxCtrlr", "EVConnectionTimeOut"): "ConnectionTimeOut",
    ("SmartChargingCtrlr", "RateUnit"): "ChargingScheduleAllowedChargingRateUnit",
}
SET_STATUS = {"NotSupported": SetVariableStatusEnumType.unknown_variable}  # 1.6's ChangeConfiguration -> 2.0.1


def meter_value_201(
    register_wh: float,
    *,
    power_w: float | None = None,
    soc: float | None = None,
    context: str = "Sample.Periodic",
    at=None,
) -> dict[str, Any]:
    """One 2.0.1 ``MeterValueType`` (snake_case): the same readings as 1.6's, as numbers with a unit of measure."""
    sampled = [
        {
            "value": value,
            "context": context,
            "measurand": measurand,
            "location": location,
            "unit_of_measure": {"unit": unit},
        }
        for measurand, value, unit, location in sampled_values(register_wh, power_w=power_w, soc=soc)
    ]
    return {"timestamp": ocpp_timestamp(at), "sampled_value": sampled}


def _value_201(value: str) -> str:
    """A configuration value as 2.0.1 spells it: the rate units are A and W (1.6: Current and Power)."""
    names = {name: unit for unit, name in RATE_UNIT_NAMES.items()}
    return ",".join(names.get(part, part) for part in value.split(","))


def _evse(conn: ConnectorState) -> dict[str, int]:
    return {"id": conn.number, "connector_id": 1}


def _id_token(conn: ConnectorState) -> dict[str, str] | None:
    return {"id_token": conn.id_tag, "type": conn.token_type} if conn.id_tag else None


class Wire201:
    """OCPP 2.0.1: the station numbers the transaction and its events; readings travel inside TransactionEvent."""

    subprotocol = "ocpp2.0.1"

    def __init__(self, sim: SimCharger):
        self.sim = sim

    def protocol(self, connection) -> OcppChargePoint:
        return _Protocol201(self.sim, connection)

    def boot(self, reason: str) -> call.BootNotification:
        spec = self.sim.spec
        station = {"model": spec.model[:20], "vendor_name": VENDOR, "firmware_version": FIRMWARE}
        if spec.serial:
            station["serial_number"] = spec.serial[:25]
        return call.BootNotification(charging_station=station, reason=reason)

    def heartbeat(self) -> call.Heartbeat:
        return call.Heartbeat()

    def status(
        self, number: int, status: str, error_code: str, *, previous: str | None
    ) -> call.StatusNotification | None:
        reported = CONNECTOR_STATUS[status]
        if number == 0 or (previous is not None and CONNECTOR_STATUS[previous] == reported):
            return None
        return call.StatusNotification(
            timestamp=ocpp_timestamp(), connector_status=reported, evse_id=number, connector_id=1
        )

    def authorize(self, id_tag: str) -> call.Authorize:
        return call.Authorize(id_token={"id_token": id_tag, "type": CARD_TOKEN_TYPE})

    def authorization(self, result: call_result.Authorize) -> str:
        return result.id_token_info["status"]

    def start(self, conn: ConnectorState, meter_start: int, *, remote_start_id: int | None) -> call.TransactionEvent:
        conn.transaction_id = str(uuid.uuid4())
        return self._event(
            conn,
            "Started",
            "RemoteStart" if remote_start_id is not None else "Authorized",
            {"charging_state": "EVConnected", "remote_start_id": remote_start_id},
            meter_value_201(meter_start, context="Transaction.Begin", at=conn.started_at),
            at=conn.started_at,
            evse=_evse(conn),
            id_token=_id_token(conn),
        )

    def started(self, conn: ConnectorState, result: call_result.TransactionEvent) -> str:
        return (result.id_token_info or {}).get("status", "Accepted")  # no idTokenInfo: nothing against it

    def charging_state(self, conn: ConnectorState) -> call.TransactionEvent:
        return self._event(conn, "Updated", "ChargingStateChanged", {"charging_state": CHARGING_STATE[conn.status]})

    def sample(self, conn: ConnectorState) -> call.TransactionEvent:
        return self._event(
            conn,
            "Updated",
            "MeterValuePeriodic",
            {"charging_state": CHARGING_STATE.get(conn.status, "EVConnected")},
            meter_value_201(conn.register_wh, power_w=conn.power_w, soc=conn.soc),
        )

    def stop(self, conn: ConnectorState, meter_start: int, meter_stop: int, reason: str) -> call.TransactionEvent:
        return self._event(
            conn,
            "Ended",
            ENDED_TRIGGER.get(reason, "AbnormalCondition"),
            {
                "charging_state": "Idle" if reason == "EVDisconnected" else "EVConnected",
                "stopped_reason": STOPPED_REASON.get(reason, reason),
            },
            meter_value_201(meter_stop, context="Transaction.End"),
            id_token=_id_token(conn) if reason == "Local" else None,  # the driver's card stopped it
        )

    def triggered_values(self, conn: ConnectorState) -> call.MeterValues:
        value = meter_value_201(conn.register_wh, power_w=conn.power_w, soc=conn.soc, context="Trigger")
        return call.MeterValues(evse_id=conn.number, meter_value=[value])

    def _event(
        self,
        conn: ConnectorState,
        event_type: str,
        trigger_reason: str,
        info: dict[str, Any],
        reading: dict[str, Any] | None = None,
        *,
        at=None,
        evse: dict[str, int] | None = None,
        id_token: dict[str, str] | None = None,
    ) -> call.TransactionEvent:
        """The transaction's next event (its seqNo taken); ``offline`` when built while disconnected."""
        seq_no, conn.seq_no = conn.seq_no, conn.seq_no + 1
        return call.TransactionEvent(
            event_type=event_type,
            timestamp=ocpp_timestamp(at),
            trigger_reason=trigger_reason,
            seq_no=seq_no,
            transaction_info={"transaction_id": conn.transaction_id, **info},
            meter_value=[reading] if reading else None,
            offline=True if not self.sim.online.is_set() else None,
            evse=evse,
            id_token=id_token,
        )


class _Protocol201(SimAnswering, OcppChargePoint):
    """The ocpp package's 2.0.1 charge point, answering the central system's commands for a ``SimCharger``."""

    # -- remote start / stop
    @on(Action.request_start_transaction)
    def on_request_start(self, id_token, remote_start_id, evse_id=None, **_):
        request = StartRequest(id_token["id_token"], remote_start_id=remote_start_id, token_type=id_token["type"])
        accepted = self.sim.remote_start(evse_id, request)
        status = RequestStartStopStatusEnumType.accepted if accepted else RequestStartStopStatusEnumType.rejected
        return call_result.RequestStartTransaction(status=status)

    @on(Action.request_stop_transaction)
    def on_request_stop(self, transaction_id, **_):
        known = self.sim.transaction_connector(transaction_id) is not None
        status = RequestStartStopStatusEnumType.accepted if known else RequestStartStopStatusEnumType.rejected
        return call_result.RequestStopTransaction(status=status)

    @after(Action.request_stop_transaction)
    def after_request_stop(self, transaction_id, **_):
        self.sim.remote_stop(transaction_id)

    @on(Action.get_transaction_status)
    def on_get_transaction_status(self, transaction_id=None, **_):
        ongoing = None if transaction_id is None else self.sim.transaction_connector(transaction_id) is not None
        queued = [
            event
            for event in self.sim.queued()
            if isinstance(event, call.TransactionEvent)
            and transaction_id in (None, event.transaction_info["transaction_id"])
        ]
        return call_result.GetTransactionStatus(messages_in_queue=bool(queued), ongoing_indicator=ongoing)

    # -- reset, unlock, availability
    @on(Action.reset)
    def on_reset(self, type, evse_id=None, **_):  # noqa: A002 - the OCPP field name
        if evse_id is not None:  # an EVSE alone cannot be reset here
            return call_result.Reset(status=ResetStatusEnumType.rejected)
        if type == ResetEnumType.on_idle and self.sim.has_sessions():
            return call_result.Reset(status=ResetStatusEnumType.scheduled)
        return call_result.Reset(status=ResetStatusEnumType.accepted)

    @after(Action.reset)
    async def after_reset(self, type, evse_id=None, **_):  # noqa: A002
        if evse_id is None:
            if type == ResetEnumType.immediate:
                await self.sim.reset(hard=True)
            else:
                await self.sim.reset_when_idle()

    @on(Action.unlock_connector)
    def on_unlock(self, evse_id, connector_id, **_):
        conn = self.sim.connectors.get(evse_id)
        if conn is None or connector_id != 1:
            return call_result.UnlockConnector(status=UnlockStatusEnumType.unknown_connector)
        if conn.in_session:  # 2.0.1: a transaction's cable stays locked; RequestStopTransaction ends it
            return call_result.UnlockConnector(status=UnlockStatusEnumType.ongoing_authorized_transaction)
        return call_result.UnlockConnector(status=UnlockStatusEnumType.unlocked)

    @on(Action.change_availability)
    def on_change_availability(self, operational_status, evse=None, **_):
        operative = operational_status == OperationalStatusEnumType.operative
        status = self.sim.change_availability(evse["id"] if evse else 0, operative=operative)
        return call_result.ChangeAvailability(status=ChangeAvailabilityStatusEnumType(status))

    @after(Action.change_availability)
    async def after_change_availability(self, operational_status, evse=None, **_):
        await self.sim.availability_reported(evse["id"] if evse else 0)

    # -- device model
    @on(Action.get_variables)
    def on_get_variables(self, get_variable_data, **_):
        config = self.sim.configuration()
        results = []
        for item in get_variable_data:
            key = VARIABLES.get((item["component"]["name"], item["variable"]["name"]))
            attribute = item.get("attribute_type", "Actual")
            result = {"component": item["component"], "variable": item["variable"], "attribute_type": attribute}
            if key is None:
                known_component = any(component == item["component"]["name"] for component, _ in VARIABLES)
                status = "UnknownVariable" if known_component else "UnknownComponent"
            elif attribute != "Actual":
                status = GetVariableStatusEnumType.not_supported_attribute_type
            else:
                status, result["attribute_value"] = GetVariableStatusEnumType.accepted, _value_201(config[key][0])
            results.append({**result, "attribute_status": status})
        return call_result.GetVariables(get_variable_result=results)

    @on(Action.set_variables)
    def on_set_variables(self, set_variable_data, **_):
        results = []
        for item in set_variable_data:
            key = VARIABLES.get((item["component"]["name"], item["variable"]["name"]))
            attribute = item.get("attribute_type", "Actual")
            if key is None:
                status = SetVariableStatusEnumType.unknown_variable
            elif attribute != "Actual":
                status = SetVariableStatusEnumType.not_supported_attribute_type
            else:
                answer = self.sim.change_configuration(key, str(item["attribute_value"]))
                status = SET_STATUS.get(answer, SetVariableStatusEnumType(answer))
            results.append(
                {
                    "component": item["component"],
                    "variable": item["variable"],
                    "attribute_type": attribute,
                    "attribute_status": status,
                }
            )
        return call_result.SetVariables(set_variable_result=results)

    # -- trigger, data transfer
    @on(Action.trigger_message)
    def on_trigger(self, requested_message, evse=None, **_):
        status = self.sim.trigger_status(requested_message, evse["id"] if evse else None)
        return call_result.TriggerMessage(status=TriggerMessageStatusEnumType(status))

    @after(Action.trigger_message)
    async def after_trigger(self, requested_message, evse=None, **_):
        await self.sim.triggered(requested_message, evse["id"] if evse else None)

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id, message_id=None, data=None, **_):
        status = DataTransferStatusEnumType(self.sim.data_transfer_status(vendor_id))
        return call_result.DataTransfer(status=status, data=data if status == "Accepted" else None)

    # -- smart charging
    @on(Action.set_charging_profile)
    async def on_set_charging_profile(self, evse_id, charging_profile, **_):
        profile = from_wire(
            charging_profile,
            charging_profile["charging_schedule"][0],  # more than one only for ISO 15118 offers
            profile_id=charging_profile["id"],
            connector=evse_id,
            received_at=datetime.now(UTC),
        )
        accepted = await self.sim.set_charging_profile(profile)
        status = ChargingProfileStatusEnumType.accepted if accepted else ChargingProfileStatusEnumType.rejected
        return call_result.SetChargingProfile(status=status)

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, charging_profile_id=None, charging_profile_criteria=None, **_):
        criteria = charging_profile_criteria or {}
        purpose = criteria.get("charging_profile_purpose")
        ids = criteria.get("charging_profile_id") or [None]
        cleared = False
        for profile_id in [charging_profile_id] if charging_profile_id is not None else ids:
            cleared |= self.sim.clear_charging_profiles(
                profile_id=profile_id,
                connector=criteria.get("evse_id"),
                purpose=PURPOSES.get(purpose, purpose),
                stack_level=criteria.get("stack_level"),
            )
        status = ClearChargingProfileStatusEnumType.accepted if cleared else ClearChargingProfileStatusEnumType.unknown
        return call_result.ClearChargingProfile(status=status)

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(self, duration, evse_id, charging_rate_unit=None, **_):
        composite = self.sim.composite_schedule(evse_id, duration, charging_rate_unit)
        if composite is None:
            return call_result.GetCompositeSchedule(status=GenericStatusEnumType.rejected)
        start, unit, periods = composite
        schedule = {
            "evse_id": evse_id,
            "duration": duration,
            "schedule_start": ocpp_timestamp(start),
            "charging_rate_unit": unit,
            "charging_schedule_period": [{"start_period": s, "limit": limit} for s, limit in periods],
        }
        return call_result.GetCompositeSchedule(status=GenericStatusEnumType.accepted, schedule=schedule)
