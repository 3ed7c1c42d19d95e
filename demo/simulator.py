"""Simulated OCPP chargers (1.6J and 2.0.1), for demos, tests and load.

Each :class:`SimCharger` is a client of the ``ocpp`` package over ``websockets``: it boots, heartbeats, reports
status, runs charging sessions on each connector, now and then reports a fault or drops offline (queueing its
transaction messages and delivering them in order, with their original timestamps, on reconnect), and answers
the central system's commands (remote start/stop, reset, unlock, availability, configuration, trigger, data
transfer).

One charger model, two wire formats: the session, meter and energy model below is the same for both versions;
a :class:`Wire` turns its steps into one version's messages and reads the answers. :class:`Wire16` speaks 1.6
(Authorize, StartTransaction, MeterValues, StopTransaction); ``demo.simulator_v201.Wire201`` speaks 2.0.1
(Authorize, TransactionEvent Started/Updated/Ended with seqNo, StatusNotification per EVSE). Each charger
offers the one subprotocol of its :attr:`ChargerSpec.ocpp`, so a fleet can mix versions.

``speed`` multiplies simulated time: at ``speed=60`` a driver's hour-long stay takes a minute of wall time.
Timestamps sent are wall-clock (the server must never see the future), and the meter advances by power x the
real time charged, as a charger would report it: a faster simulation gives shorter sessions with less energy,
never a session whose average power is above its connector's maximum. The physics lives in small pure
functions at the top (:func:`charge_power_w`, :func:`advance_charge`) so it can be tested on its own.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote

import websockets
from ocpp.charge_point import ChargePoint as OcppBaseChargePoint
from ocpp.exceptions import OCPPError
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint as OcppChargePoint
from ocpp.v16 import call, call_result
from ocpp.v16.enums import (
    AvailabilityStatus,
    AvailabilityType,
    ChargingProfileStatus,
    ClearChargingProfileStatus,
    ConfigurationStatus,
    DataTransferStatus,
    GetCompositeScheduleStatus,
    MessageTrigger,
    RegistrationStatus,
    RemoteStartStopStatus,
    ResetStatus,
    ResetType,
    TriggerMessageStatus,
    UnlockStatus,
)
from websockets.typing import Subprotocol

from demo.charging_profiles import VOLTAGE, ChargingProfile, ProfileStore, from_wire

logger = logging.getLogger(__name__)
# The ocpp package logs every frame at INFO; the simulator's own lines are enough.
logging.getLogger("ocpp.sim").setLevel(logging.WARNING)

VENDOR = "ChargePortalSim"
FIRMWARE = "1.4.2-sim"
CARD_TOKEN_TYPE = "ISO14443"  # noqa: S105 - the 2.0.1 id token type of an RFID card, no secret
FAULT_CODES = ("GroundFailure", "ConnectorLockFailure", "OverCurrentFailure", "HighTemperature", "EVCommunicationError")
AC_POWERS_W = (11_000.0, 22_000.0)
DC_POWERS_W = (50_000.0, 150_000.0)
OCPP16, OCPP201 = "1.6", "2.0.1"
OCPP_VERSIONS = (OCPP16, OCPP201)
MIN_AMPERES = 6  # IEC 61851: below this per phase a car does not charge
RATE_UNIT_NAMES = {"A": "Current", "W": "Power"}  # 1.6's ChargingScheduleAllowedChargingRateUnit spelling


# --------------------------------------------------------------------------- physics (pure)


async def _cancelled(tasks: list[asyncio.Task]) -> None:
    """Cancel the tasks and wait until they are done, cancelling again while any runs on: on Python 3.11
    ``asyncio.wait_for`` can swallow a cancellation that arrives as its awaitable finishes, and a charger's
    loop would then go on for ever (the run never returned, seen under load)."""
    pending = [task for task in tasks if not task.done()]
    while pending:
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=1)
        pending = [task for task in pending if not task.done()]
    for task in tasks:  # their errors were logged where they matter; taken here, asyncio does not warn of them
        if not task.cancelled():
            task.exception()


def charge_power_w(soc: float, max_power_w: float, *, taper_start: float = 0.8, min_fraction: float = 0.05) -> float:
    """Power the vehicle draws at state of charge ``soc`` (0..1).

    Constant ``max_power_w`` up to ``taper_start``, then falling linearly to ``min_fraction`` of it at 100 %, and
    nothing once full (the usual CC/CV shape seen from the meter).
    """
    if soc >= 1.0 or max_power_w <= 0:
        return 0.0
    if soc <= taper_start:
        return max_power_w
    remaining = (1.0 - soc) / (1.0 - taper_start)
    return max_power_w * max(min_fraction, remaining)


def advance_charge(
    soc: float,
    dt_s: float,
    *,
    max_power_w: float,
    capacity_wh: float,
    efficiency: float = 0.92,
    step_s: float = 10.0,
    limit_w: float | None = None,
) -> tuple[float, float, float]:
    """Charge for ``dt_s`` seconds from ``soc``: return ``(new_soc, metered_wh, power_w_at_end)``.

    Integrates in steps of at most ``step_s`` so the taper is followed; the meter counts the energy before the
    vehicle's losses (``efficiency``). ``metered_wh`` is never negative and the power never exceeds the maximum,
    nor ``limit_w`` (what the charging profiles allow) when given.
    """

    def power_at(soc: float) -> float:
        power = charge_power_w(soc, max_power_w)
        return power if limit_w is None else max(0.0, min(power, limit_w))

    metered = 0.0
    remaining = max(0.0, dt_s)
    while remaining > 1e-9 and soc < 1.0:
        dt = min(step_s, remaining)
        energy_wh = power_at(soc) * dt / 3600.0
        soc = min(1.0, soc + energy_wh * efficiency / capacity_wh)
        metered += energy_wh
        remaining -= dt
    return soc, metered, power_at(soc)


def basic_auth_header(charge_point_id: str, password: str) -> str:
    token = base64.b64encode(f"{charge_point_id}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def ocpp_timestamp(at: datetime | None = None) -> str:
    at = at or datetime.now(UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def sampled_values(
    register_wh: float, *, power_w: float | None = None, soc: float | None = None
) -> list[tuple[str, int, str, str]]:
    """One sample's ``(measurand, value, unit, location)``: the register in whole Wh, the power and SoC if known.

    What a meter reads, whichever version then spells it (:func:`meter_value` for 1.6, ``meter_value_201``).
    """
    readings = [("Energy.Active.Import.Register", int(register_wh), "Wh", "Outlet")]
    if power_w is not None:
        readings.append(("Power.Active.Import", round(power_w), "W", "Outlet"))
    if soc is not None:
        readings.append(("SoC", round(soc * 100), "Percent", "EV"))
    return readings


def meter_value(
    register_wh: int,
    *,
    power_w: float | None = None,
    soc: float | None = None,
    context: str = "Sample.Periodic",
    at: datetime | None = None,
) -> dict[str, Any]:
    """One 1.6 ``MeterValue`` (snake_case; the ocpp package camel-cases it). Values are strings, as 1.6 wants."""
    sampled = [
        {"value": str(value), "context": context, "measurand": measurand, "location": location, "unit": unit}
        for measurand, value, unit, location in sampled_values(register_wh, power_w=power_w, soc=soc)
    ]
    return {"timestamp": ocpp_timestamp(at), "sampled_value": sampled}


# --------------------------------------------------------------------------- configuration


@dataclass
class OpenTransaction:
    """A session the server still has open on this connector (from the database): the charger resumes it."""

    transaction_id: int | str  # 1.6: the server's id; 2.0.1: the charger's own
    id_tag: str
    meter_start_wh: int
    started_at: datetime
    seq_no: int = 0  # 2.0.1: the seqNo of the transaction's next event


@dataclass
class ConnectorSpec:
    number: int
    max_power_w: float
    register_wh: float | None = None  # the meter as the server last saw it; random when unknown
    open_transaction: OpenTransaction | None = None
    phases: int = 3


@dataclass
class ChargerSpec:
    ocpp_id: str
    connectors: list[ConnectorSpec]
    password: str | None = None
    model: str = "SimAC22"
    serial: str = ""
    tags: list[str] = field(default_factory=list)  # this charger's cards; SimOptions.tags when empty
    ocpp: str = OCPP16  # the version it speaks (the one subprotocol it offers): OCPP16 or OCPP201
    rate_units: tuple[str, ...] = ("A", "W")  # the units its charging profiles may be in


@dataclass
class SimOptions:
    """Behaviour shared by all simulated chargers. Durations are simulated seconds (divided by ``speed``)."""

    url: str = "ws://127.0.0.1:8000/ocpp/"
    tags: list[str] = field(default_factory=list)
    speed: float = 1.0
    idle_s: tuple[float, float] = (120.0, 1800.0)
    stay_s: tuple[float, float] = (900.0, 4 * 3600.0)  # how long a driver means to stay plugged in
    sample_interval_s: int = 60
    fault_probability: float = 0.02  # per idle period
    fault_s: tuple[float, float] = (300.0, 1800.0)
    offline_probability: float = 0.002  # per meter sample
    offline_s: tuple[float, float] = (120.0, 900.0)
    min_wait_s: float = 0.05  # floor on any scaled wait, so a huge speed cannot spin
    reconnect_max_s: float = 30.0  # wall seconds; backoff is not scaled
    response_timeout_s: float = 30.0
    # The battery and the meter follow simulated time (a bench measuring a compressed day's energy); the server
    # then sees sessions averaging ``speed`` times their power. Off: they follow the real time charged.
    energy_in_sim_time: bool = False

    def scaled(self, sim_seconds: float) -> float:
        return max(self.min_wait_s, sim_seconds / self.speed)


def make_specs(
    ids: list[str], *, rng: random.Random, password: str | None = None, ocpp: str = OCPP16
) -> list[ChargerSpec]:
    """Generated chargers speaking ``ocpp``: mostly 2-connector AC (11 or 22 kW), some 2-connector DC (50 or 150 kW)."""
    specs = []
    for ocpp_id in ids:
        dc = rng.random() < 0.25
        power = rng.choice(DC_POWERS_W if dc else AC_POWERS_W)
        specs.append(
            ChargerSpec(
                ocpp_id=ocpp_id,
                password=password,
                model=f"Sim{'DC' if dc else 'AC'}{int(power / 1000)}",
                serial=f"SIM{rng.randrange(10**8):08d}",
                connectors=[ConnectorSpec(number=n, max_power_w=power) for n in (1, 2)],
                ocpp=ocpp,
            )
        )
    return specs


def make_tags(count: int, *, rng: random.Random) -> list[str]:
    """Random 7-byte UIDs (upper-case hex), for runs without real cards; a server will likely reject them."""
    return ["04" + "".join(f"{rng.randrange(256):02X}" for _ in range(6)) for _ in range(count)]


# --------------------------------------------------------------------------- runtime state


class Offline(Exception):
    """The message could not be sent because the charger is not connected (and it is not queued)."""


@dataclass
class _Outgoing:
    payload: Any
    queued: bool  # kept across disconnections (transaction messages)
    future: asyncio.Future
    attempts: int = 0


@dataclass
class StartRequest:
    """A remote start the central system asked for: the driver's token, and 2.0.1's remoteStartId and token type."""

    id_tag: str
    remote_start_id: int | None = None
    token_type: str = CARD_TOKEN_TYPE
    vehicle: Vehicle | None = None  # the car plugged in (a bench's); None: a random one
    stay_s: float | None = None  # how long its driver stays (simulated seconds); None: SimOptions.stay_s


@dataclass
class Vehicle:
    capacity_wh: float
    soc: float
    target_soc: float
    max_power_w: float
    phases: int = 3  # it charges on (for a limit in amperes)


@dataclass
class ConnectorState:
    spec: ConnectorSpec
    register_wh: float  # the meter register, only ever grows
    status: str = "Available"
    error_code: str = "NoError"
    operative: bool = True
    pending_operative: bool | None = None  # ChangeAvailability scheduled until the session ends
    transaction_id: int | str | None = None  # 1.6: the server's (an int); 2.0.1: the charger's own (a string)
    seq_no: int = 0  # 2.0.1: the seqNo the transaction's next event carries
    id_tag: str | None = None
    token_type: str = CARD_TOKEN_TYPE  # 2.0.1: the id token's type
    started_at: datetime | None = None
    power_w: float = 0.0
    vehicle: Vehicle | None = None
    remote_start: asyncio.Queue[StartRequest] = field(default_factory=lambda: asyncio.Queue(maxsize=1))
    stop_requested: asyncio.Event = field(default_factory=asyncio.Event)
    wake: asyncio.Event = field(default_factory=asyncio.Event)  # a stop, or a profile changed: re-read the limit
    stop_reason: str = "Local"
    in_session: bool = False
    session_done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def number(self) -> int:
        return self.spec.number

    @property
    def busy(self) -> bool:
        return self.in_session or self.status not in ("Available",)

    @property
    def soc(self) -> float | None:
        return self.vehicle.soc if self.vehicle else None


class Wire(Protocol):
    """One OCPP version's messages for the charger model's steps (payloads of the ocpp package's ``call``)."""

    subprotocol: str

    def protocol(self, connection) -> OcppBaseChargePoint:
        """The ocpp package's charge point on ``connection``, answering the central system's commands."""

    def boot(self, reason: str) -> Any: ...
    def heartbeat(self) -> Any: ...
    def status(self, number: int, status: str, error_code: str, *, previous: str | None) -> Any | None:
        """A connector's (1.6) status as this version reports it; None when there is nothing to report: a status
        this version does not tell apart from ``previous`` (None: report it whatever it was)."""

    def authorize(self, id_tag: str) -> Any: ...
    def authorization(self, result: Any) -> str:
        """The id tag's status in the Authorize answer."""

    def start(self, conn: ConnectorState, meter_start: int, *, remote_start_id: int | None) -> Any: ...
    def started(self, conn: ConnectorState, result: Any) -> str:
        """The start's answer: sets what it tells of the transaction, returns the id tag's status."""

    def charging_state(self, conn: ConnectorState) -> Any | None:
        """The connector's status (Charging, SuspendedEV) within its transaction, if the version tells it so."""

    def sample(self, conn: ConnectorState) -> Any:
        """A periodic reading of the connector in its transaction."""

    def stop(self, conn: ConnectorState, meter_start: int, meter_stop: int, reason: str) -> Any:
        """The transaction's end; ``reason`` is 1.6's, the model's vocabulary."""

    def triggered_values(self, conn: ConnectorState) -> Any:
        """The reading the central system asked for with TriggerMessage."""


class SimAnswering:
    """Before the ``ocpp`` package's charge point of either version: the one ``SimCharger`` it answers for."""

    def __init__(self, sim: SimCharger, connection):
        super().__init__(  # type: ignore[call-arg]  # the package's ChargePoint comes next in the bases
            sim.spec.ocpp_id,
            connection,
            response_timeout=sim.options.response_timeout_s,
            logger=logging.getLogger("ocpp.sim"),
        )
        self.sim = sim


class _Protocol(SimAnswering, OcppChargePoint):
    """The ocpp package's 1.6 charge point, answering the central system's commands for a :class:`SimCharger`."""

    # -- remote start / stop
    @on("RemoteStartTransaction")
    def on_remote_start(self, id_tag, connector_id=None, **_):
        accepted = self.sim.remote_start(connector_id, StartRequest(id_tag))
        status = RemoteStartStopStatus.accepted if accepted else RemoteStartStopStatus.rejected
        return call_result.RemoteStartTransaction(status=status)

    @on("RemoteStopTransaction")
    def on_remote_stop(self, transaction_id, **_):
        known = self.sim.transaction_connector(transaction_id) is not None
        status = RemoteStartStopStatus.accepted if known else RemoteStartStopStatus.rejected
        return call_result.RemoteStopTransaction(status=status)

    @after("RemoteStopTransaction")
    def after_remote_stop(self, transaction_id, **_):
        self.sim.remote_stop(transaction_id)

    # -- reset, unlock, availability
    @on("Reset")
    def on_reset(self, type, **_):  # noqa: A002 - the OCPP field name
        return call_result.Reset(status=ResetStatus.accepted)

    @after("Reset")
    async def after_reset(self, type, **_):  # noqa: A002
        await self.sim.reset(hard=type == ResetType.hard)

    @on("UnlockConnector")
    def on_unlock(self, connector_id, **_):
        conn = self.sim.connectors.get(connector_id)
        if conn is None:
            return call_result.UnlockConnector(status=UnlockStatus.not_supported)
        if conn.in_session:
            self.sim.request_stop(conn, "UnlockCommand")
        return call_result.UnlockConnector(status=UnlockStatus.unlocked)

    @on("ChangeAvailability")
    def on_change_availability(self, connector_id, type, **_):  # noqa: A002
        status = self.sim.change_availability(connector_id, operative=type == AvailabilityType.operative)
        return call_result.ChangeAvailability(status=AvailabilityStatus(status))

    @after("ChangeAvailability")
    async def after_change_availability(self, connector_id, type, **_):  # noqa: A002
        await self.sim.availability_reported(connector_id)

    # -- configuration
    @on("GetConfiguration")
    def on_get_configuration(self, key=None, **_):
        config = self.sim.configuration()
        wanted = key or list(config)
        known = [{"key": k, "readonly": config[k][1], "value": config[k][0]} for k in wanted if k in config]
        unknown = [k for k in wanted if k not in config]
        return call_result.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on("ChangeConfiguration")
    def on_change_configuration(self, key, value, **_):
        return call_result.ChangeConfiguration(status=self.sim.change_configuration(key, value))

    # -- trigger, data transfer
    @on("TriggerMessage")
    def on_trigger(self, requested_message, connector_id=None, **_):
        return call_result.TriggerMessage(
            status=TriggerMessageStatus(self.sim.trigger_status(requested_message, connector_id))
        )

    @after("TriggerMessage")
    async def after_trigger(self, requested_message, connector_id=None, **_):
        await self.sim.triggered(requested_message, connector_id)

    @on("DataTransfer")
    def on_data_transfer(self, vendor_id, message_id=None, data=None, **_):
        status = DataTransferStatus(self.sim.data_transfer_status(vendor_id))
        return call_result.DataTransfer(status=status, data=data if status == "Accepted" else None)

    # -- smart charging
    @on("SetChargingProfile")
    async def on_set_charging_profile(self, connector_id, cs_charging_profiles, **_):
        profile = from_wire(
            cs_charging_profiles,
            cs_charging_profiles["charging_schedule"],
            profile_id=cs_charging_profiles["charging_profile_id"],
            connector=connector_id,
            received_at=datetime.now(UTC),
        )
        accepted = await self.sim.set_charging_profile(profile)
        return call_result.SetChargingProfile(
            status=ChargingProfileStatus.accepted if accepted else ChargingProfileStatus.rejected
        )

    @on("ClearChargingProfile")
    def on_clear_charging_profile(self, id=None, connector_id=None, charging_profile_purpose=None, stack_level=None):  # noqa: A002
        cleared = self.sim.clear_charging_profiles(
            profile_id=id, connector=connector_id, purpose=charging_profile_purpose, stack_level=stack_level
        )
        return call_result.ClearChargingProfile(
            status=ClearChargingProfileStatus.accepted if cleared else ClearChargingProfileStatus.unknown
        )

    @on("GetCompositeSchedule")
    def on_get_composite_schedule(self, connector_id, duration, charging_rate_unit=None, **_):
        composite = self.sim.composite_schedule(connector_id, duration, charging_rate_unit)
        if composite is None:
            return call_result.GetCompositeSchedule(status=GetCompositeScheduleStatus.rejected)
        start, unit, periods = composite
        return call_result.GetCompositeSchedule(
            status=GetCompositeScheduleStatus.accepted,
            connector_id=connector_id,
            schedule_start=ocpp_timestamp(start),
            charging_schedule={
                "duration": duration,
                "charging_rate_unit": unit,
                "charging_schedule_period": [{"start_period": s, "limit": limit} for s, limit in periods],
            },
        )


class Wire16:
    """OCPP 1.6J: the server numbers the transaction; StopTransaction carries the session's begin and end readings."""

    subprotocol = "ocpp1.6"

    def __init__(self, sim: SimCharger):
        self.sim = sim

    def protocol(self, connection) -> OcppBaseChargePoint:
        return _Protocol(self.sim, connection)

    def boot(self, reason: str) -> call.BootNotification:
        spec = self.sim.spec
        return call.BootNotification(  # 1.6 limits: model 20 characters, serial 25; no boot reason
            charge_point_vendor=VENDOR,
            charge_point_model=spec.model[:20],
            charge_point_serial_number=spec.serial[:25] or None,
            firmware_version=FIRMWARE,
        )

    def heartbeat(self) -> call.Heartbeat:
        return call.Heartbeat()

    def status(self, number: int, status: str, error_code: str, *, previous: str | None) -> call.StatusNotification:
        return call.StatusNotification(
            connector_id=number, error_code=error_code, status=status, timestamp=ocpp_timestamp()
        )

    def authorize(self, id_tag: str) -> call.Authorize:
        return call.Authorize(id_tag=id_tag)

    def authorization(self, result: call_result.Authorize) -> str:
        return result.id_tag_info.get("status")

    def start(self, conn: ConnectorState, meter_start: int, *, remote_start_id: int | None) -> call.StartTransaction:
        return call.StartTransaction(
            connector_id=conn.number,
            id_tag=conn.id_tag,
            meter_start=meter_start,
            timestamp=ocpp_timestamp(conn.started_at),
        )

    def started(self, conn: ConnectorState, result: call_result.StartTransaction) -> str:
        conn.transaction_id = result.transaction_id
        return result.id_tag_info.get("status")

    def charging_state(self, conn: ConnectorState) -> None:
        return None  # 1.6 tells it by StatusNotification alone

    def sample(self, conn: ConnectorState) -> call.MeterValues:
        return self._meter_values(conn, "Sample.Periodic")

    def triggered_values(self, conn: ConnectorState) -> call.MeterValues:
        return self._meter_values(conn, "Trigger")

    def _meter_values(self, conn: ConnectorState, context: str) -> call.MeterValues:
        value = meter_value(int(conn.register_wh), power_w=conn.power_w, soc=conn.soc, context=context)
        return call.MeterValues(connector_id=conn.number, transaction_id=conn.transaction_id, meter_value=[value])

    def stop(self, conn: ConnectorState, meter_start: int, meter_stop: int, reason: str) -> call.StopTransaction:
        data = [
            meter_value(meter_start, context="Transaction.Begin", at=conn.started_at),
            meter_value(meter_stop, context="Transaction.End"),
        ]
        return call.StopTransaction(
            meter_stop=meter_stop,
            timestamp=ocpp_timestamp(),
            transaction_id=conn.transaction_id,
            reason=reason,
            id_tag=conn.id_tag,
            transaction_data=data,
        )


def wire_for(sim: SimCharger) -> Wire:
    """The wire of the version ``sim`` speaks."""
    if sim.spec.ocpp == OCPP201:
        from demo.simulator_v201 import Wire201  # built on this module's model and helpers

        return Wire201(sim)
    if sim.spec.ocpp != OCPP16:
        raise ValueError(f"unknown OCPP version {sim.spec.ocpp!r}: one of {', '.join(OCPP_VERSIONS)}")
    return Wire16(sim)


class SimCharger:
    """One simulated charge point: connection management, an ordered outbox, and one task per connector."""

    def __init__(self, spec: ChargerSpec, options: SimOptions, *, rng: random.Random | None = None):
        self.spec = spec
        self.options = options
        self.rng = rng or random.Random()
        self.connectors = {
            c.number: ConnectorState(
                spec=c,
                register_wh=c.register_wh if c.register_wh is not None else float(self.rng.randrange(5_000_000)),
            )
            for c in spec.connectors
        }
        self.config: dict[str, list] = {  # key -> [value, readonly]
            "HeartbeatInterval": ["300", False],
            "MeterValueSampleInterval": [str(options.sample_interval_s), False],
            "MeterValuesSampledData": ["Energy.Active.Import.Register,Power.Active.Import,SoC", False],
            "NumberOfConnectors": [str(len(spec.connectors)), True],
            "AuthorizeRemoteTxRequests": ["false", False],
            "StopTransactionOnInvalidId": ["true", False],
            "ConnectionTimeOut": ["60", False],
            "LocalAuthorizeOffline": ["false", False],
            "SupportedFeatureProfiles": ["Core,RemoteTrigger,SmartCharging", True],
            "ChargingScheduleAllowedChargingRateUnit": [
                ",".join(RATE_UNIT_NAMES[unit] for unit in spec.rate_units),
                True,
            ],
            "ChargeProfileMaxStackLevel": ["8", True],
            "ChargingScheduleMaxPeriods": ["24", True],
            "MaxChargingProfilesInstalled": ["16", True],
        }
        self.profiles = ProfileStore()
        # Told of what a bench watches: (event, connector number, time.monotonic()); the events are "started" (its
        # start answered), "stopped" (before the session is forgotten) and a profile's purpose (one taken).
        self.observer: Callable[[str, int, float], None] | None = None
        self.online = asyncio.Event()
        self.booted_count = 0
        self._outbox: deque[_Outgoing] = deque()
        self._outbox_changed = asyncio.Event()
        self._interrupt = asyncio.Event()
        self._interrupt_wait_s = 0.0
        self._boot_now = asyncio.Event()
        self._boot_reason = "PowerUp"  # 2.0.1 tells why it boots
        self._closing = False
        self._reset_when_idle = False  # 2.0.1's Reset OnIdle: no new session until the reset
        self._lock = asyncio.Lock()  # one outstanding CALL per charger (the ocpp package also locks)
        self._protocol: OcppBaseChargePoint | None = None
        self.wire = wire_for(self)

    # ------------------------------------------------------------------ public

    async def run(self) -> None:
        """Run until cancelled: connection loop plus one task per connector."""
        tasks = [asyncio.create_task(self._connector_loop(c)) for c in self.connectors.values()]
        try:
            await self._connection_loop()
        finally:
            await _cancelled(tasks)

    async def send(self, payload: Any, *, queued: bool = False, wait: bool = True) -> Any:
        """Send a CALL in order with everything before it. ``queued`` messages survive disconnections.

        Raises :class:`Offline` for an unqueued message while disconnected, ``OCPPError`` for a CALLERROR.
        """
        if not queued and not self.online.is_set():
            raise Offline(type(payload).__name__)
        entry = _Outgoing(payload, queued, asyncio.get_running_loop().create_future())
        self._outbox.append(entry)
        self._outbox_changed.set()
        if wait:
            return await entry.future
        entry.future.add_done_callback(lambda f: f.cancelled() or f.exception())
        return None

    def request_stop(self, conn: ConnectorState, reason: str) -> None:
        if conn.in_session:
            conn.stop_reason = reason
            conn.stop_requested.set()
            conn.wake.set()

    # ------------------------------------------------------------------ charging profiles

    async def set_charging_profile(self, profile: ChargingProfile) -> bool:
        """SetChargingProfile: whether it was taken (see ``ProfileStore.install``); the cars follow it at once.

        A 1.6 transaction's id comes in the StartTransaction answer: a profile for it may be read off the socket
        just after that answer, before the session has taken it in, so a start awaiting its id is waited for.
        """
        conn = self.connectors.get(profile.connector)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.options.response_timeout_s):
                while conn is not None and conn.in_session and conn.transaction_id is None:
                    await asyncio.sleep(0.005)
        running = {n: c.transaction_id if c.in_session else None for n, c in self.connectors.items()}
        accepted = self.profiles.install(profile, connectors=running, units=self.spec.rate_units)
        if accepted:
            self._profiles_changed()
            for number in self.connectors if profile.connector == 0 else [profile.connector]:
                self._observe(profile.purpose, number)
        return accepted

    def clear_charging_profiles(self, **criteria: Any) -> bool:
        """ClearChargingProfile: whether any profile matched."""
        cleared = self.profiles.clear(**criteria)
        if cleared:
            self._profiles_changed()
        return cleared

    def composite_schedule(
        self, connector_id: int, duration_s: int, unit: str | None
    ) -> tuple[datetime, str, list[tuple[int, float]]] | None:
        """GetCompositeSchedule from the profiles held: (start, unit, [(seconds, limit)]); None: no such connector."""
        conn = self.connectors.get(connector_id)
        if connector_id and conn is None:
            return None
        unit = unit if unit in ("A", "W") else self.spec.rate_units[0]
        phases = self._phases(conn) if conn else 3
        max_w = conn.spec.max_power_w if conn else sum(c.spec.max_power_w for c in self.connectors.values())
        now = datetime.now(UTC)
        periods = self.profiles.composite(
            connector_id, now, duration_s, phases=phases, session_start=conn.started_at if conn else None, max_w=max_w
        )
        per_unit = 1.0 if unit == "W" else phases * VOLTAGE
        return now, unit, [(start, round(limit / per_unit, 1)) for start, limit in periods]

    def draw_limit_w(self, conn: ConnectorState) -> float | None:
        """What the car on ``conn`` may draw now under the profiles held: its connector's limit, its share of the
        station's (shares in proportion to what each car would draw), 0 below the IEC minimum; None: no limit."""
        now = datetime.now(UTC)
        limit = self._connector_limit_w(conn, now)
        station = self.profiles.station_limit_w(now)
        if station is not None:
            wanted = {c.number: self._wanted_w(c, now) for c in self.connectors.values()}
            total = sum(wanted.values())
            share = station if total <= station else station * wanted[conn.number] / total
            limit = share if limit is None else min(limit, share)
        if limit is not None and limit < MIN_AMPERES * VOLTAGE * self._phases(conn):
            return 0.0
        return limit

    def _connector_limit_w(self, conn: ConnectorState, now: datetime) -> float | None:
        return self.profiles.connector_limit_w(
            conn.number, now, phases=self._phases(conn), session_start=conn.started_at
        )

    def _wanted_w(self, conn: ConnectorState, now: datetime) -> float:
        """What the car on ``conn`` would draw under its connector's own limit (0 if none charging)."""
        vehicle = conn.vehicle
        if vehicle is None or not conn.in_session or vehicle.soc >= vehicle.target_soc:
            return 0.0
        power = charge_power_w(vehicle.soc, vehicle.max_power_w)
        limit = self._connector_limit_w(conn, now)
        return power if limit is None else min(power, limit)

    @staticmethod
    def _phases(conn: ConnectorState) -> int:
        return min(conn.spec.phases, conn.vehicle.phases) if conn.vehicle else conn.spec.phases

    def _profiles_changed(self) -> None:
        for conn in self.connectors.values():
            conn.wake.set()

    def _observe(self, event: str, number: int) -> None:
        if self.observer is not None:
            self.observer(event, number, time.monotonic())

    def connector_for_remote_start(self, connector_id: int | None) -> ConnectorState | None:
        candidates = [self.connectors.get(connector_id)] if connector_id else list(self.connectors.values())
        for conn in candidates:
            if conn and conn.operative and not conn.busy and conn.remote_start.empty():
                return conn
        return None

    def remote_start(self, connector_id: int | None, request: StartRequest) -> bool:
        """Start a session for the central system on that connector (any free one if None): whether it will."""
        conn = self.connector_for_remote_start(connector_id)
        if conn is None or self._reset_when_idle:
            return False
        conn.remote_start.put_nowait(request)
        return True

    def transaction_connector(self, transaction_id: int | str) -> ConnectorState | None:
        return next((c for c in self.connectors.values() if c.transaction_id == transaction_id), None)

    def remote_stop(self, transaction_id: int | str) -> None:
        conn = self.transaction_connector(transaction_id)
        if conn is not None:
            self.request_stop(conn, "Remote")

    async def set_status(
        self, conn: ConnectorState | None, status: str, error_code: str = "NoError", *, again: bool = False
    ) -> None:
        """Set and report a connector's status (``conn`` None: the station's); ``again`` reports it even unchanged."""
        previous = None if again or conn is None else conn.status
        if conn is not None:
            conn.status, conn.error_code = status, error_code
        payload = self.wire.status(conn.number if conn else 0, status, error_code, previous=previous)
        if payload is None:
            return
        with contextlib.suppress(Offline, OCPPError, TimeoutError):
            await self.send(payload, wait=False)

    def change_availability(self, connector_id: int, *, operative: bool) -> str:
        """Accepted, Scheduled (for when a running session ends) or Rejected (no such connector); 0: all of them."""
        targets = list(self.connectors.values()) if connector_id == 0 else [self.connectors.get(connector_id)]
        scheduled = False
        for conn in targets:
            if conn is None:
                return "Rejected"
            if conn.in_session:
                conn.pending_operative = operative
                scheduled = True
            else:
                conn.operative = operative
        return "Scheduled" if scheduled else "Accepted"

    async def availability_reported(self, connector_id: int) -> None:
        """After a ChangeAvailability: the connectors it changed report their new status."""
        for conn in self.connectors.values():
            if connector_id in (0, conn.number) and not conn.in_session and conn.status in ("Available", "Unavailable"):
                await self.set_status(conn, "Available" if conn.operative else "Unavailable")

    def queued(self) -> list[Any]:
        """The messages waiting to be delivered that a disconnection keeps (the transactions' messages)."""
        return [entry.payload for entry in self._outbox if entry.queued]

    @staticmethod
    def data_transfer_status(vendor_id: str) -> str:
        """DataTransfer: our own vendor's messages are echoed, anyone else's refused (the same words in 2.0.1)."""
        return "Accepted" if vendor_id == VENDOR else "UnknownVendorId"

    def configuration(self) -> dict[str, tuple[str, bool]]:
        return {k: (v[0], v[1]) for k, v in self.config.items()}

    def change_configuration(self, key: str, value: str) -> str:
        if key not in self.config:
            return ConfigurationStatus.not_supported
        if self.config[key][1]:
            return ConfigurationStatus.rejected
        if key in ("HeartbeatInterval", "MeterValueSampleInterval", "ConnectionTimeOut"):
            if not value.isdigit() or int(value) < 1:
                return ConfigurationStatus.rejected
        self.config[key][0] = value
        return ConfigurationStatus.accepted

    def trigger_status(self, message: str, connector_id: int | None) -> str:
        """TriggerMessage's answer (the message names and answers are the same in 1.6 and 2.0.1)."""
        supported = {
            MessageTrigger.boot_notification,
            MessageTrigger.heartbeat,
            MessageTrigger.status_notification,
            MessageTrigger.meter_values,
        }
        if message not in supported:
            return "NotImplemented"
        if connector_id not in (None, 0) and connector_id not in self.connectors:
            return "Rejected"
        return "Accepted"

    async def triggered(self, message: str, connector_id: int | None) -> None:
        """Send what TriggerMessage asked for (after its answer; nothing if offline)."""
        with contextlib.suppress(Offline, OCPPError, TimeoutError):
            await self._triggered(message, connector_id)

    async def _triggered(self, message: str, connector_id: int | None) -> None:
        if message == MessageTrigger.boot_notification:
            self._boot_now.set()
            if self.online.is_set():
                await self.send(self.wire.boot("Triggered"))
        elif message == MessageTrigger.heartbeat:
            await self.send(self.wire.heartbeat())
        elif message == MessageTrigger.status_notification:
            station: list[ConnectorState | None] = [] if connector_id else [None]  # None: the station itself
            for conn in [*station, *self._targets(connector_id)]:
                await self.set_status(
                    conn, conn.status if conn else "Available", conn.error_code if conn else "NoError", again=True
                )
        elif message == MessageTrigger.meter_values:
            for conn in self._targets(connector_id):
                await self.send(self.wire.triggered_values(conn), wait=False)

    async def shutdown(self, timeout: float = 5.0) -> None:
        """End running sessions (reason Local) and deliver what is queued, if connected, within ``timeout``."""
        if not self.online.is_set():
            return
        self._closing = True  # no new sessions; one starting now stops at once
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while any(c.in_session for c in self.connectors.values()):
                    for conn in self.connectors.values():
                        self.request_stop(conn, "Local")
                    await asyncio.sleep(0.02)
                await self._drained()

    async def reset(self, *, hard: bool) -> None:
        """Stop sessions (after the socket drops for a hard reset, so the stops are queued), then reboot."""
        reason = "HardReset" if hard else "SoftReset"
        self._boot_reason = "RemoteReset"
        active = [c for c in self.connectors.values() if c.in_session]
        if hard:
            self._request_interrupt(self.options.scaled(30))
        for conn in active:
            self.request_stop(conn, reason)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(c.session_done.wait() for c in active)), 10)
        if not hard:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained(), 10)
            self._request_interrupt(self.options.scaled(15))
        logger.info("%s: %s reset", self.spec.ocpp_id, "hard" if hard else "soft")

    def has_sessions(self) -> bool:
        return any(c.in_session for c in self.connectors.values())

    async def reset_when_idle(self) -> None:
        """2.0.1's Reset OnIdle: start no session, let the running ones end, then reset (as a soft reset)."""
        self._reset_when_idle = True
        try:
            while self.has_sessions():
                await asyncio.wait(
                    [asyncio.create_task(c.session_done.wait()) for c in self.connectors.values() if c.in_session]
                )
            await self.reset(hard=False)
        finally:
            self._reset_when_idle = False

    # ------------------------------------------------------------------ connection

    def _url(self) -> str:
        return self.options.url.rstrip("/") + "/" + quote(self.spec.ocpp_id, safe="")

    def _headers(self) -> dict[str, str]:
        if self.spec.password:
            return {"Authorization": basic_auth_header(self.spec.ocpp_id, self.spec.password)}
        return {}

    def _request_interrupt(self, wait_s: float) -> None:
        self._interrupt_wait_s = wait_s
        self._interrupt.set()

    async def _drained(self) -> None:
        while self._outbox:
            await asyncio.sleep(0.01)

    async def _connection_loop(self) -> None:
        failures = 0
        while True:
            pause = 0.0
            try:
                async with websockets.connect(
                    self._url(),
                    subprotocols=[Subprotocol(self.wire.subprotocol)],
                    additional_headers=self._headers(),
                    open_timeout=15,
                    max_size=2**20,
                ) as ws:
                    failures = 0
                    pause = await self._connected(ws)
            except asyncio.CancelledError:
                raise
            except (OSError, websockets.exceptions.WebSocketException, TimeoutError, OCPPError) as exc:
                failures += 1
                logger.debug("%s: connection failed or lost: %r", self.spec.ocpp_id, exc)
            finally:
                self._disconnected()
            if not pause:
                cap = self.options.reconnect_max_s
                pause = min(cap, 0.5 * 2 ** min(failures, 10)) * (0.5 + self.rng.random() / 2)
            await asyncio.sleep(pause)

    async def _connected(self, ws) -> float:
        """Boot, report status, flush the outbox and heartbeat until the socket closes or we are told to drop it.

        Returns how long to stay away (0 for the usual backoff).
        """
        protocol = self.wire.protocol(ws)
        self._protocol = protocol
        self._interrupt.clear()
        listener = asyncio.create_task(protocol.start())
        helpers: list[asyncio.Task] = []
        try:
            if not await self._boot(protocol, listener):
                return 0.0
            self.online.set()
            await self.set_status(None, "Available")
            for conn in self.connectors.values():
                await self.set_status(conn, conn.status, conn.error_code, again=True)
            helpers = [asyncio.create_task(self._deliver(protocol)), asyncio.create_task(self._heartbeat())]
            interrupt = asyncio.create_task(self._interrupt.wait())
            helpers.append(interrupt)
            done, _ = await asyncio.wait([listener, *helpers], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not interrupt and not task.cancelled() and task.exception():
                    logger.debug("%s: %r", self.spec.ocpp_id, task.exception())
            return self._interrupt_wait_s if interrupt in done else 0.0
        finally:
            self.online.clear()
            await _cancelled([listener, *helpers])

    def _disconnected(self) -> None:
        self.online.clear()
        self._protocol = None
        kept: deque[_Outgoing] = deque()
        for entry in self._outbox:
            if entry.queued:
                kept.append(entry)
            elif not entry.future.done():
                entry.future.set_exception(Offline(type(entry.payload).__name__))
        self._outbox = kept

    async def _call(self, protocol: OcppBaseChargePoint, payload: Any) -> Any:
        async with self._lock:
            return await protocol.call(payload, suppress=False)

    async def _boot(self, protocol: OcppBaseChargePoint, listener: asyncio.Task) -> bool:
        """BootNotification until Accepted (Pending/Rejected: retry after the interval given)."""
        while not listener.done():
            self._boot_now.clear()
            result = await self._call(protocol, self.wire.boot(self._boot_reason))
            interval = int(result.interval or 0)
            if result.status == RegistrationStatus.accepted:  # the same word in 2.0.1
                if interval > 0:
                    self.config["HeartbeatInterval"][0] = str(interval)
                self.booted_count += 1
                self._boot_reason = "PowerUp"
                logger.debug("%s: boot accepted, heartbeat %ss", self.spec.ocpp_id, interval)
                return True
            logger.info("%s: boot %s, retrying in %ss", self.spec.ocpp_id, result.status, interval or 60)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._boot_now.wait(), self.options.scaled(interval or 60))
        return False

    async def _deliver(self, protocol: OcppBaseChargePoint) -> None:
        """Send the outbox head by head; a queued message stays until answered (or refused with a CALLERROR)."""
        while True:
            while not self._outbox:
                self._outbox_changed.clear()
                await self._outbox_changed.wait()
            entry = self._outbox[0]
            entry.attempts += 1
            try:
                result = await self._call(protocol, entry.payload)
            except OCPPError as exc:
                self._pop(entry).set_exception(exc)
            except TimeoutError as exc:
                if not entry.queued or entry.attempts >= 3:
                    self._pop(entry).set_exception(exc)
            else:
                self._pop(entry).set_result(result)

    def _pop(self, entry: _Outgoing) -> asyncio.Future:
        if self._outbox and self._outbox[0] is entry:
            self._outbox.popleft()
        return entry.future if not entry.future.done() else asyncio.get_running_loop().create_future()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.options.scaled(int(self.config["HeartbeatInterval"][0])))
            with contextlib.suppress(Offline, OCPPError, TimeoutError):
                await self.send(self.wire.heartbeat())

    def _targets(self, connector_id: int | None) -> list[ConnectorState]:
        if connector_id:
            return [self.connectors[connector_id]] if connector_id in self.connectors else []
        return list(self.connectors.values())

    # ------------------------------------------------------------------ connectors

    async def _wait_sim(self, sim_seconds: float, event: asyncio.Event | None = None) -> bool:
        """Sleep simulated seconds; return True early if ``event`` is set."""
        if event is None:
            await asyncio.sleep(self.options.scaled(sim_seconds))
            return False
        try:
            await asyncio.wait_for(event.wait(), self.options.scaled(sim_seconds))
        except TimeoutError:
            return False
        return True

    async def _connector_loop(self, conn: ConnectorState) -> None:
        opts = self.options
        if conn.spec.open_transaction is not None:
            await self.online.wait()
            await self._resume(conn, conn.spec.open_transaction)
        while True:
            await self.online.wait()
            request: StartRequest | None
            try:
                request = await asyncio.wait_for(conn.remote_start.get(), opts.scaled(self.rng.uniform(*opts.idle_s)))
            except TimeoutError:
                request = None
            if not conn.operative or conn.status != "Available" or not self.online.is_set() or self._closing:
                continue
            if request is None and self.rng.random() < opts.fault_probability:
                await self._fault(conn)
                continue
            if request is None:
                tags = self.spec.tags or opts.tags
                if not tags or self._reset_when_idle:
                    continue
                request = StartRequest(self.rng.choice(tags))
                remote = False
            else:
                remote = True
            try:
                await self._session(conn, request, remote=remote)
            except (Offline, OCPPError, TimeoutError) as exc:
                logger.debug("%s/%s: session attempt ended: %r", self.spec.ocpp_id, conn.number, exc)
                self._session_over(conn)
                if conn.status != "Available":
                    await self.set_status(conn, "Available" if conn.operative else "Unavailable")

    def _session_over(self, conn: ConnectorState) -> None:
        if conn.in_session:
            self._observe("stopped", conn.number)
        conn.transaction_id = conn.id_tag = conn.vehicle = conn.started_at = None
        conn.in_session = False
        conn.session_done.set()
        self.profiles.transaction_ended(conn.number)
        self._profiles_changed()  # the station's share of the others may grow

    async def _fault(self, conn: ConnectorState) -> None:
        code = self.rng.choice(FAULT_CODES)
        logger.info("%s/%s: fault %s", self.spec.ocpp_id, conn.number, code)
        await self.set_status(conn, "Faulted", code)
        await self._wait_sim(self.rng.uniform(*self.options.fault_s))
        await self.set_status(conn, "Available" if conn.operative else "Unavailable")

    async def _session(self, conn: ConnectorState, request: StartRequest, *, remote: bool) -> None:
        id_tag = request.id_tag
        await self.set_status(conn, "Preparing")
        if not remote:
            status = self.wire.authorization(await self.send(self.wire.authorize(id_tag)))
            if status != "Accepted":
                logger.debug("%s/%s: id_tag=%r %s", self.spec.ocpp_id, conn.number, id_tag, status)
                await self.set_status(conn, "Available")
                return
        conn.in_session = True
        conn.session_done.clear()
        conn.stop_requested.clear()
        conn.stop_reason = "Local"
        conn.vehicle = request.vehicle or self._new_vehicle(conn)
        # The register shows whole Wh: the session starts from the reading it reports, leaving behind the fraction
        # of a Wh metered before, so its energy (stop minus start) is never more than was metered in its own time.
        # (Carried over, that fraction could make a session stopped after a moment count 1 Wh in 50 ms: 72 kW.)
        conn.register_wh = float(int(conn.register_wh))
        meter_start = int(conn.register_wh)
        conn.id_tag, conn.token_type, conn.started_at, conn.seq_no = id_tag, request.token_type, datetime.now(UTC), 0
        start = self.wire.start(conn, meter_start, remote_start_id=request.remote_start_id)
        status = self.wire.started(conn, await self.send(start, queued=True))
        self._observe("started", conn.number)
        logger.info(
            "%s/%s: start tx %s id_tag=%r at %s Wh",
            self.spec.ocpp_id,
            conn.number,
            conn.transaction_id,
            id_tag,
            meter_start,
        )
        if status != "Accepted":
            conn.stop_reason = "DeAuthorized"
        elif not self._closing:
            await self._charge(conn, stay_s=request.stay_s)
        await self._stop(conn, meter_start)

    async def _resume(self, conn: ConnectorState, open_tx: OpenTransaction) -> None:
        """Carry on charging a session that was running before the simulator (re)started, then stop it."""
        conn.in_session = True
        conn.session_done.clear()
        conn.stop_requested.clear()
        conn.stop_reason = "Local"
        conn.vehicle = self._new_vehicle(conn)
        conn.transaction_id, conn.id_tag, conn.started_at = open_tx.transaction_id, open_tx.id_tag, open_tx.started_at
        conn.seq_no = open_tx.seq_no
        conn.register_wh = max(conn.register_wh, float(open_tx.meter_start_wh))
        logger.info("%s/%s: resume tx %s", self.spec.ocpp_id, conn.number, conn.transaction_id)
        await self._charge(conn)
        await self._stop(conn, open_tx.meter_start_wh)

    def _new_vehicle(self, conn: ConnectorState) -> Vehicle:
        capacity = self.rng.choice((40_000.0, 60_000.0, 77_000.0, 100_000.0))
        dc = conn.spec.max_power_w > 22_000
        car_max = self.rng.choice((50_000.0, 100_000.0, 150_000.0, 250_000.0) if dc else (7_400.0, 11_000.0, 22_000.0))
        return Vehicle(
            capacity_wh=capacity,
            soc=self.rng.uniform(0.1, 0.6),
            target_soc=self.rng.uniform(0.8, 1.0),
            max_power_w=min(car_max, conn.spec.max_power_w),
            phases=1 if car_max == 7_400.0 else 3,  # 7.4 kW: 32 A on one phase
        )

    async def _charge(self, conn: ConnectorState, *, stay_s: float | None = None) -> None:
        """Charge until the driver leaves, the vehicle is full, or a stop is requested; queue MeterValues."""
        vehicle = conn.vehicle
        assert vehicle is not None  # noqa: S101
        await self._charging_status(conn, "Charging")
        stay = self.rng.uniform(*self.options.stay_s) if stay_s is None else stay_s
        elapsed = 0.0
        full_since: float | None = None
        while not conn.stop_requested.is_set():
            interval = max(1, int(self.config["MeterValueSampleInterval"][0]))
            stopped, charged_s = await self._charge_for(conn, interval)
            if vehicle.soc >= vehicle.target_soc:
                conn.power_w = 0.0
            if stopped:
                break
            elapsed += charged_s * self.options.speed
            await self.send(self.wire.sample(conn), queued=True, wait=False)
            if vehicle.soc >= vehicle.target_soc and full_since is None:
                full_since = elapsed
                await self._charging_status(conn, "SuspendedEV")
            elif full_since is None:  # a limit under the minimum holds the car (SuspendedEVSE) until it rises
                state = "SuspendedEVSE" if self.draw_limit_w(conn) == 0 else "Charging"
                if state != conn.status:
                    await self._charging_status(conn, state)
            if elapsed >= stay or (full_since is not None and elapsed - full_since >= 600):
                conn.stop_reason = self.rng.choice(("EVDisconnected", "Local"))
                break
            if (
                self.online.is_set()
                and not self._interrupt.is_set()
                and self.rng.random() < self.options.offline_probability
            ):
                away = self.options.scaled(self.rng.uniform(*self.options.offline_s))
                logger.info("%s: going offline for %.1fs", self.spec.ocpp_id, away)
                self._request_interrupt(away)
        conn.power_w = 0.0

    async def _charge_for(self, conn: ConnectorState, interval_s: float) -> tuple[bool, float]:
        """Charge for one sample interval (simulated seconds) under the limit in force, read again whenever the
        profiles change: ``(stopped, wall seconds charged)``.

        The meter counts the real time that passed (the timestamps the server sees are wall-clock), so energy /
        duration stays within the connector's power at any speed; the speed only shortens stays (unless
        ``SimOptions.energy_in_sim_time``).
        """
        vehicle = conn.vehicle
        assert vehicle is not None  # noqa: S101
        scale = self.options.speed if self.options.energy_in_sim_time else 1.0
        began = time.monotonic()
        while True:
            conn.wake.clear()
            if conn.stop_requested.is_set():
                conn.wake.set()
            limit = self.draw_limit_w(conn)
            if vehicle.soc < vehicle.target_soc:
                conn.power_w = advance_charge(
                    vehicle.soc, 0, max_power_w=vehicle.max_power_w, capacity_wh=vehicle.capacity_wh, limit_w=limit
                )[2]
            span_began = time.monotonic()
            woken = await self._wait_sim(interval_s - (span_began - began) * self.options.speed, conn.wake)
            if vehicle.soc < vehicle.target_soc:
                vehicle.soc, metered, conn.power_w = advance_charge(
                    vehicle.soc,
                    (time.monotonic() - span_began) * scale,
                    max_power_w=vehicle.max_power_w,
                    capacity_wh=vehicle.capacity_wh,
                    limit_w=limit,
                )
                conn.register_wh += metered
            if not woken or conn.stop_requested.is_set():
                return conn.stop_requested.is_set(), time.monotonic() - began

    async def _charging_status(self, conn: ConnectorState, status: str) -> None:
        """A change of state within the transaction: the connector's status, and 2.0.1's TransactionEvent."""
        await self.set_status(conn, status)
        event = self.wire.charging_state(conn)
        if event is not None:
            await self.send(event, queued=True, wait=False)

    async def _stop(self, conn: ConnectorState, meter_start: int) -> None:
        meter_stop = int(conn.register_wh)
        reason = conn.stop_reason
        await self.set_status(conn, "Finishing")
        await self.send(self.wire.stop(conn, meter_start, meter_stop, reason), queued=True, wait=False)
        logger.info(
            "%s/%s: stop tx %s (%s) %s Wh",
            self.spec.ocpp_id,
            conn.number,
            conn.transaction_id,
            reason,
            meter_stop - meter_start,
        )
        self._session_over(conn)
        if conn.pending_operative is not None:
            conn.operative, conn.pending_operative = conn.pending_operative, None
        if reason not in ("HardReset", "SoftReset"):
            await self._wait_sim(self.rng.uniform(10, 60))
        await self.set_status(conn, "Available" if conn.operative else "Unavailable")


async def run_chargers(
    specs: list[ChargerSpec], options: SimOptions, *, duration: float | None = None, seed: int | None = None
) -> list[SimCharger]:
    """Run the chargers (staggered start) for ``duration`` wall seconds, or until cancelled.

    At the end of ``duration`` the running sessions are stopped and delivered, so the server is left tidy.
    """
    master = random.Random(seed)
    chargers = [SimCharger(s, options, rng=random.Random(master.random())) for s in specs]

    async def _staggered(i: int, charger: SimCharger) -> None:
        await asyncio.sleep(min(5.0, len(chargers) / 200) * i / max(1, len(chargers)))
        await charger.run()

    tasks = [asyncio.create_task(_staggered(i, c)) for i, c in enumerate(chargers)]
    try:
        if duration is None:
            await asyncio.gather(*tasks)
        else:
            await asyncio.wait(tasks, timeout=duration)
            await asyncio.gather(*(c.shutdown() for c in chargers))
    finally:
        await _cancelled(tasks)
    return chargers


# --------------------------------------------------------------------------- database (sync; call outside the loop)


def _connector_from_db(connector, last_meter_stop, open_session, *, ocpp: str) -> ConnectorSpec:
    """A connector whose meter continues from the highest reading the server has of it.

    A 2.0.1 station's open transaction goes on under its own id, with the seqNo after the last event stored.
    """
    readings = [
        float(v)
        for v in (
            last_meter_stop,
            open_session and open_session.meter_start_wh,
            open_session and open_session.last_register,
        )
        if v is not None
    ]
    open_tx = None
    if open_session is not None:
        charger_id = open_session.charger_transaction_id if ocpp == OCPP201 else ""
        open_tx = OpenTransaction(
            charger_id or open_session.pk,
            open_session.id_tag_uid,
            open_session.meter_start_wh,
            open_session.started_at,
            seq_no=open_session.last_seq_no + 1 if open_session.last_seq_no is not None else 0,
        )
    return ConnectorSpec(
        number=connector.number,
        max_power_w=float(connector.max_power_kw or 11) * 1000,
        register_wh=max(readings) if readings else None,
        open_transaction=open_tx,
        phases=connector.phases,
    )


def specs_from_db(*, password: str | None = None, with_tags: bool = True) -> list[ChargerSpec]:
    """The accepted charge points and their connectors, each with its operator's usable cards (``with_tags``),
    speaking the OCPP version each agreed at its latest connection.

    Passwords are only stored hashed: pass the shared one, or the chargers connect without.
    """
    from django.db.models import Max, OuterRef, Subquery

    from sessions_app.models import ChargePoint, ChargingSession, MeterValue
    from sessions_app.services import ENERGY_REGISTER

    specs = []
    tags_by_org: dict[int, list[str]] = {}
    open_query = ChargingSession.objects.filter(state=ChargingSession.State.ACTIVE, connector__isnull=False).annotate(
        last_register=Subquery(
            MeterValue.objects.filter(session=OuterRef("pk"), measurand=ENERGY_REGISTER)
            .order_by("-timestamp")
            .values("value")[:1]
        ),
        last_seq_no=Max("transaction_events__seq_no"),
    )
    open_sessions = {s.connector_id: s for s in open_query.order_by("started_at")}
    last_meter = dict(
        ChargingSession.objects.filter(connector__isnull=False)
        .values("connector_id")
        .annotate(last=Max("meter_stop_wh"))
        .values_list("connector_id", "last")
    )
    points = ChargePoint.objects.filter(registration_status=ChargePoint.RegistrationStatus.ACCEPTED)
    for cp in points.prefetch_related("connectors").order_by("ocpp_id"):
        ocpp = cp.ocpp_protocol.removeprefix("ocpp")  # the version it spoke last
        connectors = [
            _connector_from_db(c, last_meter.get(c.pk), open_sessions.get(c.pk), ocpp=ocpp) for c in cp.connectors.all()
        ] or [ConnectorSpec(number=1, max_power_w=11_000.0)]
        tags: list[str] = []
        if with_tags:
            if cp.organization_id not in tags_by_org:
                tags_by_org[cp.organization_id] = tags_from_db(organization_id=cp.organization_id)
            tags = tags_by_org[cp.organization_id]
        specs.append(
            ChargerSpec(
                ocpp_id=cp.ocpp_id,
                connectors=connectors,
                password=password,
                model=cp.model or "SimAC22",
                serial=cp.serial_number,
                tags=tags,
                ocpp=ocpp,
            )
        )
    return specs


def tags_from_db(*, organization_id: int | None = None, limit: int = 500) -> list[str]:
    """UIDs of the cards the server accepts now (``id_tag_verdict``, its own rule), of one operator if given."""
    from django.utils import timezone

    from accounts.models import AuthorizationStatus, IdTag
    from accounts.selectors import id_tag_verdict

    now = timezone.now()
    tags = IdTag.objects.select_related("customer_account__organization").order_by("uid")
    if organization_id is not None:
        tags = tags.filter(customer_account__organization_id=organization_id)
    usable: list[str] = []
    for tag in tags.iterator(chunk_size=limit):
        verdict = id_tag_verdict(raw_uid=tag.uid, organization=tag.customer_account.organization, at=now)
        if verdict.status == AuthorizationStatus.ACCEPTED:
            usable.append(tag.uid)
            if len(usable) == limit:
                break
    return usable
