"""A station's OCPP 2.0.1 device model: the variables it reports (NotifyReport) and the events on them
(NotifyEvent).

- **Variables** (``station_variables_store``): one ``StationVariable`` per component, variable and attribute type
  (Actual, Target, MinSet, MaxSet), its characteristics (unit, data type, limits) beside it. A report may come in
  several parts (one requestId, seqNo 0, 1, ..., ``tbc`` until the last): each part is stored as it comes, in one
  transaction, updating the rows it names in place. The same part again (its answer lost) writes the same values;
  a row written from a report generated later than the part is left as it is. A report never deletes a variable:
  which kind of report it answers (full, configuration, summary) is not known here.
- **Events** (``device_events_record``): each eventData is kept as a charger event (NOTIFY_EVENT, its eventId as the
  message id, a readable summary as the data; the same event sent again is kept once, ``charger_event_record``). A
  problem (the ``Problem`` variable true, or a monitor's Alerting trigger) on a connector, an EVSE or the station
  is also a status report with an error code (OtherError, the component and variable as its info, techCode as the
  vendor's code), its status left as it was; the problem cleared (``cleared``, or Problem false) is a report with
  NoError. So a 2.0.1 problem is a fault in the fault log and "Needs attention" as a 1.6 error code is; the station
  alerts (``reporting.alerts``) wait, as for 1.6, for a Faulted status (2.0.1's StatusNotification Faulted).
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import UniqueConstraint

from core.timeutil import utc_text
from sessions_app import services
from sessions_app.evse import evse_numbering
from sessions_app.models import (
    ChargePoint,
    ChargerEvent,
    Connector,
    ConnectorStatus,
    ErrorCode,
    StationVariable,
    StatusEvent,
)

# --- variables -----------------------------------------------------------------------------------------------

#: What names one row beside its charge point, read from StationVariable's unique constraint.
_ONCE = next(
    constraint
    for constraint in StationVariable._meta.constraints
    if isinstance(constraint, UniqueConstraint) and constraint.name == "station_variable_once"
)
VARIABLE_KEY = tuple(name for name in _ONCE.fields if name != "charge_point")


@dataclass(frozen=True)
class ReportedVariable:
    """One attribute of one variable, as a report gives it ("" and 0 for what it leaves out)."""

    component: str
    variable: str
    attribute_type: str = "Actual"
    value: str = ""
    mutability: str = ""
    component_instance: str = ""
    evse_id: int = 0
    connector_id: int = 0
    variable_instance: str = ""
    characteristics: dict = field(default_factory=dict)

    @property
    def key(self) -> tuple:
        return tuple(getattr(self, name) for name in VARIABLE_KEY)


@transaction.atomic
def station_variables_store(
    *, charge_point: ChargePoint, variables: list[ReportedVariable], generated_at: datetime, now: datetime
) -> int:
    """Insert or update the variables of one report part (see the module's docstring); how many rows were written.

    ``generated_at`` is the charger's time of the report (an implausible one is taken as ``now``,
    ``services.charger_time``); it is each row's ``updated_at``."""
    at = services.charger_time(charge_point=charge_point, reported=generated_at, received=now)
    by_key = {variable.key: variable for variable in variables}  # the last of one key in a part wins
    newer = set(
        StationVariable.objects.select_for_update()
        .filter(charge_point=charge_point, updated_at__gt=at)
        .values_list(*VARIABLE_KEY)
    )
    rows = [
        StationVariable(
            charge_point=charge_point,
            **{name: getattr(variable, name) for name in VARIABLE_KEY},
            value=variable.value,
            mutability=variable.mutability,
            characteristics=variable.characteristics,
            updated_at=at,
        )
        for key, variable in by_key.items()
        if key not in newer
    ]
    StationVariable.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["charge_point", *VARIABLE_KEY],
        update_fields=["value", "mutability", "characteristics", "updated_at"],
    )
    return len(rows)


# --- events ----------------------------------------------------------------------------------------------------

PROBLEM_VARIABLE = "problem"
ALERTING = "Alerting"


@dataclass(frozen=True)
class DeviceEvent:
    """One eventData of a NotifyEvent ("" and 0 for what it leaves out; ``connector_id`` 0: the EVSE's as a
    whole, ``evse_id`` 0: not an EVSE's)."""

    event_id: int
    timestamp: datetime
    trigger: str
    actual_value: str
    component: str
    variable: str
    component_instance: str = ""
    evse_id: int = 0
    connector_id: int = 0
    variable_instance: str = ""
    cause: int | None = None
    tech_code: str = ""
    tech_info: str = ""
    cleared: bool = False
    transaction_id: str = ""

    @property
    def problem(self) -> bool | None:
        """True: a problem begins (or goes on); False: it is over; None: the event tells of no problem."""
        if self.variable.casefold() == PROBLEM_VARIABLE:
            return not self.cleared and self.actual_value.strip().casefold() == "true"
        if self.trigger == ALERTING:
            return not self.cleared
        return None

    @property
    def where(self) -> str:
        """The component with its instance and place, e.g. ``Connector EVSE 1 connector 2``."""
        parts = [f"{self.component}[{self.component_instance}]" if self.component_instance else self.component]
        if self.evse_id:
            parts.append(f"EVSE {self.evse_id}")
        if self.connector_id:
            parts.append(f"connector {self.connector_id}")
        return " ".join(parts)

    @property
    def summary(self) -> str:
        """The event in one line, for the operator (kept as the charger event's data)."""
        variable = f"{self.variable}[{self.variable_instance}]" if self.variable_instance else self.variable
        details = [self.trigger]
        if self.cause is not None:
            details.append(f"cause {self.cause}")
        if self.cleared:
            details.append("cleared")
        text = f"{utc_text(self.timestamp)} {self.where}: {variable} = {self.actual_value} ({', '.join(details)})"
        if self.tech_code or self.tech_info:
            text += f"; {': '.join(filter(None, (self.tech_code, self.tech_info)))}"
        if self.transaction_id:
            text += f"; transaction {self.transaction_id}"
        return text


def _current_statuses(charge_point: ChargePoint, numbers: set[int]) -> dict[int, str]:
    """Each connector's status now (0: the station's latest reported one); Unknown for one never reported."""
    statuses = dict(
        Connector.objects.filter(charge_point=charge_point, number__in=numbers).values_list("number", "status")
    )
    if 0 in numbers:
        station = StatusEvent.objects.filter(charge_point=charge_point, connector__isnull=True).order_by("-timestamp")
        statuses[0] = station.values_list("status", flat=True).first() or ConnectorStatus.UNKNOWN
    return statuses


def _problem_reports(charge_point: ChargePoint, events: list[DeviceEvent]) -> list[services.StatusReport]:
    """The status reports the problems among the events make (see the module's docstring)."""
    numbering = evse_numbering(charge_point=charge_point)
    placed: list[tuple[DeviceEvent, int]] = []
    for event in events:
        if event.problem is None:
            continue
        if not event.evse_id:
            numbers = [0]
        elif event.connector_id:
            number = numbering.connector_number(event.evse_id, event.connector_id)
            numbers = [] if number is None else [number]
        else:
            numbers = numbering.evse_connector_numbers(event.evse_id)
        placed.extend((event, number) for number in numbers if number <= Connector.MAX_NUMBER)
    statuses = _current_statuses(charge_point, {number for _event, number in placed})
    return [
        services.StatusReport(
            charge_point,
            number,
            statuses.get(number, ConnectorStatus.UNKNOWN),
            ErrorCode.OTHER_ERROR if event.problem else ErrorCode.NO_ERROR,
            event.timestamp,
            info=f"{event.component}.{event.variable}"[:50],
            vendor_error_code=event.tech_code[:50],
        )
        for event, number in placed
    ]


@transaction.atomic
def device_events_record(*, charge_point: ChargePoint, events: list[DeviceEvent], now: datetime) -> int:
    """Keep a NotifyEvent's events, and make their problems faults (see the module's docstring); how many
    status reports the problems made."""
    for event in events:
        services.charger_event_record(
            charge_point=charge_point,
            kind=ChargerEvent.Kind.NOTIFY_EVENT,
            status=event.trigger,
            message_id=str(event.event_id),
            data=event.summary,
            at=now,
        )
    reports = _problem_reports(charge_point, events)
    if reports:
        services.connector_status_record_many(reports=reports, now=now)
    return len(reports)
