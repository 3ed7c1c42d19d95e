"""OCPP 2.0.1 notifications a station sends outside transactions: translated into the services' arguments, the
1.6 services reused where 1.6 has the same message.

- NotifyEvent: each event kept, a problem made a fault (``device_model.device_events_record``).
- NotifyReport: the device model's variables stored, part by part (``device_model.station_variables_store``).
- SecurityEventNotification: as 1.6's security extension (``v16.security_event_receive``).
- FirmwareStatusNotification: as 1.6's SignedFirmwareStatusNotification, whose statuses 2.0.1's are, requestId the
  update's id (``v16.signed_firmware_status_receive``). LogStatusNotification: as 1.6's (``uploads.log_status_record``).
- DataTransfer: as 1.6's (``data_transfer``); 2.0.1's data may be any JSON: other than a string, it is kept and
  handed on as JSON text (its keys as the ``ocpp`` package gives them, in snake_case).
- ReservationStatusUpdate: the reservation ends (``reservations.reservation_ended_by_charger``).
- Answered and logged, nothing kept (nothing here acts on them yet): NotifyChargingLimit, ClearedChargingLimit,
  ReportChargingProfiles, NotifyEVChargingSchedule (Accepted: no limit of ours to hold it against),
  NotifyDisplayMessages, NotifyCustomerInformation (its size only: the data is a person's), NotifyMonitoringReport,
  PublishFirmwareStatusNotification. NotifyEVChargingNeeds is answered Rejected: no charging schedule follows
  from here.
"""

import json
import logging

from django.utils import timezone
from ocpp.charge_point import snake_to_camel_case
from ocpp.exceptions import PropertyConstraintViolationError
from ocpp.routing import on
from ocpp.v201 import call_result, datatypes
from ocpp.v201.enums import Action, GenericStatusEnumType, NotifyEVChargingNeedsStatusEnumType

from sessions_app import device_model, reservations, uploads
from sessions_app.data_transfer import data_transfer_receive
from sessions_app.models import ChargePoint, Connector
from sessions_app.ocpp.v16 import db, parse_time, security_event_receive, signed_firmware_status_receive

logger = logging.getLogger(__name__)

#: NotifyEVChargingNeeds' answer's statusInfo (reasonCode: at most 20 characters).
NO_CHARGING_SCHEDULE = datatypes.StatusInfoType(
    reason_code="NotSupported", additional_info="This CSMS sends no charging schedules for an EV's needs"
)


def _place(component: dict) -> tuple[int, int]:
    """A component's (evseId, connectorId), 0 for what it leaves out; ids no EVSE or connector here can have are a
    PropertyConstraintViolation."""
    evse = component.get("evse") or {}
    place = evse.get("id", 0), evse.get("connector_id") or 0
    if not all(0 <= number <= Connector.MAX_NUMBER for number in place):
        raise PropertyConstraintViolationError(details={"cause": f"evse {evse} is outside 0..{Connector.MAX_NUMBER}"})
    return place


def _component_variable(data: dict) -> dict:
    """The component and variable an eventData or a reportData names, as the services' arguments."""
    component, variable = data["component"], data["variable"]
    evse_id, connector_id = _place(component)
    return {
        "component": component["name"],
        "component_instance": component.get("instance") or "",
        "evse_id": evse_id,
        "connector_id": connector_id,
        "variable": variable["name"],
        "variable_instance": variable.get("instance") or "",
    }


def device_event(data: dict) -> device_model.DeviceEvent:
    """One eventData of a NotifyEvent."""
    return device_model.DeviceEvent(
        **_component_variable(data),
        event_id=data["event_id"],
        timestamp=parse_time(data["timestamp"]),
        trigger=data["trigger"],
        actual_value=data["actual_value"],
        cause=data.get("cause"),
        tech_code=data.get("tech_code") or "",
        tech_info=data.get("tech_info") or "",
        cleared=bool(data.get("cleared")),
        transaction_id=data.get("transaction_id") or "",
    )


def reported_variables(data: dict) -> list[device_model.ReportedVariable]:
    """One reportData of a NotifyReport: a variable per attribute it reports, its characteristics in OCPP's own
    spelling (camelCase)."""
    names = _component_variable(data)
    characteristics = snake_to_camel_case(data.get("variable_characteristics") or {})
    return [
        device_model.ReportedVariable(
            **names,
            attribute_type=attribute.get("type") or "Actual",
            value=attribute.get("value") or "",
            mutability=attribute.get("mutability") or "",
            characteristics=characteristics,
        )
        for attribute in data["variable_attribute"]
    ]


class NotificationHandlers:
    """Mixin for ``v201.CentralSystem201``: see the module's docstring."""

    charge_point: ChargePoint

    @on(Action.notify_event)
    async def on_notify_event(self, generated_at: str, seq_no: int, event_data: list, **_optional):
        await db(device_model.device_events_record)(
            charge_point=self.charge_point, events=[device_event(data) for data in event_data], now=timezone.now()
        )
        return call_result.NotifyEvent()

    @on(Action.notify_report)
    async def on_notify_report(self, request_id: int, generated_at: str, seq_no: int, **optional):
        variables = [row for data in optional.get("report_data") or [] for row in reported_variables(data)]
        written = await db(device_model.station_variables_store)(
            charge_point=self.charge_point,
            variables=variables,
            generated_at=parse_time(generated_at),
            now=timezone.now(),
        )
        logger.info(
            "Charger %s: report %s part %s, %d variables written%s",
            self.charge_point.ocpp_id,
            request_id,
            seq_no,
            written,
            ", more to come" if optional.get("tbc") else ", the last part",
        )
        return call_result.NotifyReport()

    @on(Action.security_event_notification)
    async def on_security_event_notification(self, timestamp: str, **fields):
        await security_event_receive(self.charge_point, timestamp, fields)
        return call_result.SecurityEventNotification()

    @on(Action.firmware_status_notification)
    async def on_firmware_status_notification(self, status: str, **optional):
        await signed_firmware_status_receive(self.charge_point, status, optional.get("request_id"))
        return call_result.FirmwareStatusNotification()

    @on(Action.log_status_notification)
    async def on_log_status_notification(self, status: str, **optional):
        await db(uploads.log_status_record)(
            charge_point=self.charge_point, status=status, request_id=optional.get("request_id"), at=timezone.now()
        )
        return call_result.LogStatusNotification()

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id: str, **optional):
        data = optional.get("data")
        answer = await db(data_transfer_receive)(
            charge_point=self.charge_point,
            vendor_id=vendor_id,
            message_id=optional.get("message_id") or "",
            data=data if data is None or isinstance(data, str) else json.dumps(data),
            now=timezone.now(),
        )
        return call_result.DataTransfer(status=answer.status, data=answer.data)

    @on(Action.reservation_status_update)
    async def on_reservation_status_update(self, reservation_id: int, reservation_update_status: str, **_custom):
        await db(reservations.reservation_ended_by_charger)(
            charge_point=self.charge_point,
            reservation_id=reservation_id,
            status=reservation_update_status,
            now=timezone.now(),
        )
        return call_result.ReservationStatusUpdate()

    # --- answered and logged ---------------------------------------------------------------------------------

    def _log(self, action: str, summary: str, *args) -> None:
        logger.info("Charger %s: %s " + summary, self.charge_point.ocpp_id, action, *args)

    @on(Action.notify_charging_limit)
    async def on_notify_charging_limit(self, charging_limit: dict, **optional):
        self._log(
            "NotifyChargingLimit",
            "from %s on EVSE %s (grid critical: %s)",
            charging_limit.get("charging_limit_source"),
            optional.get("evse_id", "all"),
            charging_limit.get("is_grid_critical"),
        )
        return call_result.NotifyChargingLimit()

    @on(Action.cleared_charging_limit)
    async def on_cleared_charging_limit(self, charging_limit_source: str, **optional):
        self._log("ClearedChargingLimit", "from %s on EVSE %s", charging_limit_source, optional.get("evse_id", "all"))
        return call_result.ClearedChargingLimit()

    @on(Action.report_charging_profiles)
    async def on_report_charging_profiles(
        self, request_id: int, charging_limit_source: str, charging_profile: list, evse_id: int, **optional
    ):
        self._log(
            "ReportChargingProfiles",
            "request %s: %d profiles of %s on EVSE %s%s",
            request_id,
            len(charging_profile),
            charging_limit_source,
            evse_id,
            ", more to come" if optional.get("tbc") else "",
        )
        return call_result.ReportChargingProfiles()

    @on(Action.notify_ev_charging_needs)
    async def on_notify_ev_charging_needs(self, charging_needs: dict, evse_id: int, **_optional):
        self._log(
            "NotifyEVChargingNeeds",
            "EVSE %s, %s: no schedule sent",
            evse_id,
            charging_needs.get("requested_energy_transfer"),
        )
        return call_result.NotifyEVChargingNeeds(
            status=NotifyEVChargingNeedsStatusEnumType.rejected, status_info=NO_CHARGING_SCHEDULE
        )

    @on(Action.notify_ev_charging_schedule)
    async def on_notify_ev_charging_schedule(self, time_base: str, charging_schedule: dict, evse_id: int, **_optional):
        self._log("NotifyEVChargingSchedule", "EVSE %s from %s", evse_id, time_base)
        return call_result.NotifyEVChargingSchedule(status=GenericStatusEnumType.accepted)

    @on(Action.notify_display_messages)
    async def on_notify_display_messages(self, request_id: int, **optional):
        self._log(
            "NotifyDisplayMessages", "request %s: %d messages", request_id, len(optional.get("message_info") or [])
        )
        return call_result.NotifyDisplayMessages()

    @on(Action.notify_customer_information)
    async def on_notify_customer_information(self, data: str, seq_no: int, generated_at: str, request_id: int, **_o):
        self._log("NotifyCustomerInformation", "request %s part %s: %d characters", request_id, seq_no, len(data))
        return call_result.NotifyCustomerInformation()

    @on(Action.notify_monitoring_report)
    async def on_notify_monitoring_report(self, request_id: int, seq_no: int, generated_at: str, **optional):
        self._log(
            "NotifyMonitoringReport",
            "request %s part %s: %d monitors",
            request_id,
            seq_no,
            len(optional.get("monitor") or []),
        )
        return call_result.NotifyMonitoringReport()

    @on(Action.publish_firmware_status_notification)
    async def on_publish_firmware_status_notification(self, status: str, **optional):
        self._log("PublishFirmwareStatusNotification", "%s (request %s)", status, optional.get("request_id"))
        return call_result.PublishFirmwareStatusNotification()
