"""The charger simulator: its charging curve, and whole chargers against a tiny OCPP 1.6 central system.

(The 2.0.1 wire is tested in test_simulator_v201.py, on this module's harness.)
"""

import asyncio
import contextlib
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
import websockets
from django.core.management import CommandError, call_command
from ocpp.routing import on
from ocpp.v16 import ChargePoint as OcppChargePoint
from ocpp.v16 import call, call_result

from accounts.models import CustomerAccount, IdTag
from demo.simulator import (
    OCPP16,
    ChargerSpec,
    ConnectorSpec,
    OpenTransaction,
    SimOptions,
    advance_charge,
    basic_auth_header,
    charge_power_w,
    make_specs,
    meter_value,
    run_chargers,
    specs_from_db,
    tags_from_db,
)
from sessions_app.models import MeterValue
from tests.factories import make_account, make_session, make_tag

# --------------------------------------------------------------------------- charging curve


@pytest.mark.parametrize("max_power_w", [11_000.0, 22_000.0, 150_000.0])
def test_power_is_constant_below_80_percent_and_tapers_above(max_power_w):
    assert charge_power_w(0.1, max_power_w) == max_power_w
    assert charge_power_w(0.8, max_power_w) == max_power_w
    above = [charge_power_w(soc / 100, max_power_w) for soc in range(80, 100)]
    assert all(later < earlier for earlier, later in zip(above[1:], above[2:], strict=False))
    assert charge_power_w(0.95, max_power_w) < 0.5 * max_power_w
    assert charge_power_w(1.0, max_power_w) == 0.0


def test_power_never_exceeds_the_maximum_or_goes_negative():
    for soc in [i / 200 for i in range(0, 201)]:
        power = charge_power_w(soc, 50_000.0)
        assert 0.0 <= power <= 50_000.0


def test_energy_register_only_grows_and_soc_reaches_full_in_finite_time():
    soc, register, capacity = 0.1, 1_000_000.0, 60_000.0
    registers = [register]
    for _ in range(400):  # 400 minutes at 22 kW is far more than a 60 kWh battery needs
        soc, metered, power = advance_charge(soc, 60, max_power_w=22_000.0, capacity_wh=capacity)
        assert metered >= 0 and 0 <= power <= 22_000.0
        register += metered
        registers.append(register)
    assert registers == sorted(registers)
    assert soc == 1.0
    # 90 % of the battery, plus the charging losses, went through the meter
    assert 0.9 * capacity < registers[-1] - registers[0] < 0.9 * capacity / 0.85


def test_one_hour_at_constant_power_meters_the_power_times_one_hour():
    soc, metered, power = advance_charge(0.2, 3600, max_power_w=11_000.0, capacity_wh=100_000.0)
    assert metered == pytest.approx(11_000.0)
    assert power == 11_000.0
    assert soc == pytest.approx(0.2 + 11_000 * 0.92 / 100_000)


def test_meter_value_sends_strings_in_ocpp_units():
    value = meter_value(1234567, power_w=10999.6, soc=0.805, at=datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC))
    assert value["timestamp"] == "2026-01-02T03:04:05.006Z"
    by_measurand = {v["measurand"]: v for v in value["sampled_value"]}
    assert by_measurand["Energy.Active.Import.Register"]["value"] == "1234567"
    assert by_measurand["Energy.Active.Import.Register"]["unit"] == "Wh"
    assert by_measurand["Power.Active.Import"]["value"] == "11000"
    assert by_measurand["SoC"]["unit"] == "Percent"
    assert all(isinstance(v["value"], str) for v in value["sampled_value"])


def test_generated_chargers_are_deterministic_for_a_seed():
    first = make_specs(["A", "B", "C"], rng=random.Random(7))
    second = make_specs(["A", "B", "C"], rng=random.Random(7))
    assert first == second
    assert all(c.max_power_w in (11_000.0, 22_000.0, 50_000.0, 150_000.0) for s in first for c in s.connectors)


def test_basic_auth_header_uses_the_charge_point_id_as_username():
    assert basic_auth_header("CP-1", "secret") == "Basic Q1AtMTpzZWNyZXQ="


# --------------------------------------------------------------------------- a tiny central system


def _now() -> str:
    return datetime.now(UTC).isoformat()


class CentralSystem(OcppChargePoint):
    """Answers everything with Accepted and records what it received."""

    def __init__(self, cp_id, connection, log):
        super().__init__(cp_id, connection)
        self.log = log
        self.next_transaction = 100

    def _record(self, action, payload):
        self.log[action].append(payload)

    @on("BootNotification")
    def boot(self, **payload):
        self._record("BootNotification", payload)
        return call_result.BootNotification(current_time=_now(), interval=10, status="Accepted")

    @on("Heartbeat")
    def heartbeat(self):
        self._record("Heartbeat", {})
        return call_result.Heartbeat(current_time=_now())

    @on("StatusNotification")
    def status(self, **payload):
        self._record("StatusNotification", payload)
        return call_result.StatusNotification()

    @on("Authorize")
    def authorize(self, id_tag):
        self._record("Authorize", {"id_tag": id_tag})
        return call_result.Authorize(id_tag_info={"status": "Accepted"})

    @on("StartTransaction")
    def start_transaction(self, **payload):
        self.next_transaction += 1
        self._record("StartTransaction", {**payload, "transaction_id": self.next_transaction})
        return call_result.StartTransaction(transaction_id=self.next_transaction, id_tag_info={"status": "Accepted"})

    @on("MeterValues")
    def meter_values(self, **payload):
        self._record("MeterValues", payload)
        return call_result.MeterValues()

    @on("StopTransaction")
    def stop_transaction(self, **payload):
        self._record("StopTransaction", payload)
        return call_result.StopTransaction(id_tag_info={"status": "Accepted"})


class Harness:
    def __init__(self, central_system=CentralSystem):
        self.central_system = central_system
        self.log = defaultdict(list)
        self.connections: dict[str, CentralSystem] = {}
        self.connects = 0
        self.port = None

    async def handler(self, ws):
        cp_id = ws.request.path.rstrip("/").rsplit("/", 1)[-1]
        self.connects += 1
        self.log["headers"].append(dict(ws.request.headers))
        cs = self.central_system(cp_id, ws, self.log)
        self.connections[cp_id] = cs
        with contextlib.suppress(websockets.exceptions.ConnectionClosed):
            await cs.start()

    async def wait_for(self, predicate, timeout=8.0):
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out; received { ({k: len(v) for k, v in self.log.items()}) }")
            await asyncio.sleep(0.02)


def _options(port, **overrides):
    base = {
        "url": f"ws://127.0.0.1:{port}/ocpp/",
        "tags": ["04A1B2C3D4E5F6"],
        "speed": 600.0,
        "idle_s": (30.0, 60.0),
        "stay_s": (900.0, 1200.0),
        "sample_interval_s": 60,
        "fault_probability": 0.0,
        "offline_probability": 0.0,
        "reconnect_max_s": 1.0,
    }
    return SimOptions(**{**base, **overrides})


async def _run(
    scenario,
    options_overrides,
    *,
    connectors=1,
    password=None,
    seed=3,
    open_transaction=None,
    max_power_w=150_000.0,
    register_wh=2_000_000.0,
    ocpp=OCPP16,
    central_system=CentralSystem,
):
    """Run ``scenario(harness)`` while one simulated charger speaking ``ocpp`` talks to ``central_system``."""
    harness = Harness(central_system)
    async with websockets.serve(harness.handler, "127.0.0.1", 0, subprotocols=[f"ocpp{ocpp}"]) as server:
        harness.port = server.sockets[0].getsockname()[1]
        plugs = [
            ConnectorSpec(
                number=n,
                max_power_w=max_power_w,
                register_wh=register_wh,
                open_transaction=open_transaction if n == 1 else None,
            )
            for n in range(1, connectors + 1)
        ]
        spec = ChargerSpec(ocpp_id="SIM-T1", password=password, connectors=plugs, ocpp=ocpp)
        sim = asyncio.create_task(run_chargers([spec], _options(harness.port, **options_overrides), seed=seed))
        try:
            await scenario(harness)
        finally:
            sim.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sim
    return harness


def _registers(meter_values):
    out = []
    for payload in meter_values:
        for value in payload["meter_value"]:
            for sample in value["sampled_value"]:
                if sample["measurand"] == "Energy.Active.Import.Register":
                    out.append(int(sample["value"]))
    return out


def test_a_simulated_charger_boots_charges_and_stops():
    async def scenario(h):
        await h.wait_for(lambda: h.log["StopTransaction"] and len(h.log["Heartbeat"]) >= 2)

    h = asyncio.run(_run(scenario, {}, password="0123456789abcdef"))
    boot = h.log["BootNotification"][0]
    assert boot["charge_point_vendor"] == "ChargePortalSim" and boot["firmware_version"]
    assert h.log["headers"][0]["authorization"] == basic_auth_header("SIM-T1", "0123456789abcdef")
    statuses = [(s["connector_id"], s["status"]) for s in h.log["StatusNotification"]]
    assert statuses[:2] == [(0, "Available"), (1, "Available")]
    assert (1, "Preparing") in statuses and (1, "Charging") in statuses and (1, "Finishing") in statuses
    assert h.log["Authorize"][0]["id_tag"] == "04A1B2C3D4E5F6"
    start, stop = h.log["StartTransaction"][0], h.log["StopTransaction"][0]
    assert start["id_tag"] == "04A1B2C3D4E5F6" and start["timestamp"].endswith("Z")
    assert stop["transaction_id"] == start["transaction_id"]
    assert stop["meter_stop"] > start["meter_start"]
    assert stop["reason"] in ("EVDisconnected", "Local")
    registers = _registers(v for v in h.log["MeterValues"] if v.get("transaction_id") == start["transaction_id"])
    assert len(registers) >= 5
    assert registers == sorted(registers) and registers[0] >= start["meter_start"]
    assert registers[-1] <= stop["meter_stop"]
    measurands = {s["measurand"] for s in h.log["MeterValues"][0]["meter_value"][0]["sampled_value"]}
    assert measurands == {"Energy.Active.Import.Register", "Power.Active.Import", "SoC"}


def _at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


@pytest.mark.parametrize("speed", [1.0, 10.0, 60.0])
def test_at_any_speed_a_session_never_averages_more_than_the_connector_power(speed):
    """The meter advances by power x the real time charged: the 10x demo's 7.4 kW connector averaging 67.88 kW
    cannot happen at any speed, and the register only grows."""
    max_power_w = 7_400.0

    async def scenario(h):
        await h.wait_for(lambda: len(h.log["StopTransaction"]) >= 2, timeout=15.0)

    stay = 1.2 * speed  # simulated seconds: 1.2 s of wall time whatever the speed
    options = {
        "speed": speed,
        "idle_s": (0.1 * speed, 0.2 * speed),
        "stay_s": (stay, stay),
        "sample_interval_s": max(1, int(0.2 * speed)),
    }
    h = asyncio.run(_run(scenario, options, connectors=2, max_power_w=max_power_w))
    starts = {s["transaction_id"]: s for s in h.log["StartTransaction"]}
    stops = h.log["StopTransaction"]
    assert len(stops) >= 2
    for stop in stops:
        start = starts[stop["transaction_id"]]
        energy_wh = stop["meter_stop"] - start["meter_start"]
        hours = (_at(stop["timestamp"]) - _at(start["timestamp"])).total_seconds() / 3600
        assert energy_wh > 0 and hours > 0
        assert energy_wh / hours <= max_power_w, (speed, energy_wh, hours)
        registers = _registers(v for v in h.log["MeterValues"] if v.get("transaction_id") == stop["transaction_id"])
        assert registers, "no meter values during the session"
        assert registers == sorted(registers) and start["meter_start"] <= registers[0]
        assert registers[-1] <= stop["meter_stop"]
        powers = [
            float(sample["value"])
            for payload in h.log["MeterValues"]
            if payload.get("transaction_id") == stop["transaction_id"]
            for value in payload["meter_value"]
            for sample in value["sampled_value"]
            if sample["measurand"] == "Power.Active.Import"
        ]
        assert powers and max(powers) <= max_power_w


def test_a_session_meters_only_its_own_energy_not_the_fraction_of_a_wh_before_it():
    """The register reports whole Wh: 0.9 Wh metered before a short session must not make its energy 1 Wh in a
    tenth of a second, 36 kW on a 7.4 kW connector (the real server's reconciliation flagged such a session)."""

    async def scenario(h):
        await h.wait_for(lambda: len(h.log["StatusNotification"]) >= 2)
        cs = h.connections["SIM-T1"]
        await cs.call(call.RemoteStartTransaction(id_tag="REMOTE01", connector_id=1))
        await h.wait_for(lambda: h.log["MeterValues"])
        await cs.call(call.RemoteStopTransaction(transaction_id=h.log["StartTransaction"][0]["transaction_id"]))
        await h.wait_for(lambda: h.log["StopTransaction"])

    h = asyncio.run(_run(scenario, {"idle_s": (1e9, 1e9), "tags": []}, max_power_w=7_400.0, register_wh=2_000_000.9))
    start, stop = h.log["StartTransaction"][0], h.log["StopTransaction"][0]
    assert start["meter_start"] == 2_000_000
    hours = (_at(stop["timestamp"]) - _at(start["timestamp"])).total_seconds() / 3600
    assert 0 <= stop["meter_stop"] - start["meter_start"] <= 7_400.0 * hours


def test_remote_start_is_accepted_and_remote_stop_ends_the_session():
    results = {}

    async def scenario(h):
        await h.wait_for(lambda: len(h.log["StatusNotification"]) >= 3)
        cs = h.connections["SIM-T1"]
        results["start"] = await cs.call(call.RemoteStartTransaction(id_tag="REMOTE01", connector_id=2))
        await h.wait_for(lambda: h.log["StartTransaction"] and h.log["MeterValues"])
        results["busy"] = await cs.call(call.RemoteStartTransaction(id_tag="REMOTE02", connector_id=2))
        tx = h.log["StartTransaction"][0]["transaction_id"]
        results["stop"] = await cs.call(call.RemoteStopTransaction(transaction_id=tx))
        results["unknown"] = await cs.call(call.RemoteStopTransaction(transaction_id=999))
        results["config"] = await cs.call(call.GetConfiguration(key=["HeartbeatInterval", "Nope"]))
        await h.wait_for(lambda: h.log["StopTransaction"])

    # idle for ever and no tags: only the central system starts sessions
    h = asyncio.run(_run(scenario, {"idle_s": (1e9, 1e9), "tags": []}, connectors=2))
    assert results["start"].status == "Accepted"
    assert results["busy"].status == "Rejected"
    assert results["stop"].status == "Accepted"
    assert results["unknown"].status == "Rejected"
    assert results["config"].configuration_key == [{"key": "HeartbeatInterval", "readonly": False, "value": "10"}]
    assert results["config"].unknown_key == ["Nope"]
    assert not h.log["Authorize"]  # AuthorizeRemoteTxRequests is false
    start, stop = h.log["StartTransaction"][0], h.log["StopTransaction"][0]
    assert (start["connector_id"], start["id_tag"]) == (2, "REMOTE01")
    assert stop["reason"] == "Remote" and stop["transaction_id"] == start["transaction_id"]


def test_offline_periods_deliver_queued_messages_in_order_on_reconnect():
    async def scenario(h):
        await h.wait_for(lambda: h.connects >= 2 and h.log["StopTransaction"], timeout=10)

    h = asyncio.run(_run(scenario, {"offline_probability": 0.3, "offline_s": (120.0, 240.0), "stay_s": (1200, 1500)}))
    assert h.connects >= 2 and len(h.log["BootNotification"]) >= 2
    start, stop = h.log["StartTransaction"][0], h.log["StopTransaction"][0]
    values = [v for v in h.log["MeterValues"] if v.get("transaction_id") == start["transaction_id"]]
    registers = _registers(values)
    assert registers == sorted(registers)
    stamps = [v["meter_value"][0]["timestamp"] for v in values]
    assert stamps == sorted(stamps) and stamps[-1] <= stop["timestamp"]
    assert stop["meter_stop"] >= registers[-1]


def test_a_session_the_server_still_has_open_is_resumed_and_stopped_with_its_own_start():
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
    open_tx = OpenTransaction(
        transaction_id=4711, id_tag="04AAAAAAAAAAAA", meter_start_wh=1_990_000, started_at=started
    )

    async def scenario(h):
        await h.wait_for(lambda: any(stop["transaction_id"] == 4711 for stop in h.log["StopTransaction"]))

    h = asyncio.run(_run(scenario, {"tags": []}, open_transaction=open_tx))
    stop = next(stop for stop in h.log["StopTransaction"] if stop["transaction_id"] == 4711)
    assert stop["id_tag"] == "04AAAAAAAAAAAA" and stop["meter_stop"] > 2_000_000
    begin = stop["transaction_data"][0]
    assert begin["sampled_value"][0]["context"] == "Transaction.Begin"
    assert begin["sampled_value"][0]["value"] == "1990000"
    assert begin["timestamp"].startswith(started.strftime("%Y-%m-%dT%H:%M:%S"))
    assert not h.log["StartTransaction"]
    assert all(r >= 2_000_000 for r in _registers(h.log["MeterValues"]))


@pytest.mark.django_db
def test_chargers_from_the_database_continue_their_meters_and_open_sessions(world):
    connector = world.cp_a.connectors.get(number=1)
    make_session(connector, world.alice_card, energy_wh=12_000)  # meter 1,000,000 -> 1,012,000
    running = make_session(world.cp_a.connectors.get(number=2), world.bob_card, energy_wh=None)
    MeterValue.objects.create(
        charge_point=world.cp_a,
        connector=running.connector,
        session=running,
        timestamp=running.started_at + timedelta(minutes=5),
        value=1_003_500,
    )

    spec = next(spec for spec in specs_from_db() if spec.ocpp_id == "ALPHA-1")

    one, two = spec.connectors
    assert one.register_wh == 1_012_000 and one.open_transaction is None
    assert two.register_wh == 1_003_500 and two.open_transaction.transaction_id == running.pk
    assert two.open_transaction.id_tag == world.bob_card.uid
    assert world.alice_card.uid in spec.tags


@pytest.mark.django_db
def test_chargers_from_the_database_present_only_cards_the_server_accepts(world):
    """The card rule is the server's (``id_tag_verdict``): a card under a blocked fleet group tag is refused too."""
    now = datetime.now(UTC)
    fleet = make_account(world.org_a, "Fleet AB", kind=CustomerAccount.Kind.FLEET)
    group = make_tag(fleet, uid="04F1EE70", status=IdTag.Status.BLOCKED, blocked_at=now)
    make_tag(fleet, uid="04F1EE71", parent=group)
    make_tag(world.alice.customer_account, uid="04E0E0E0", expires_at=now - timedelta(days=1))
    make_tag(world.bob.customer_account, uid="04105710", status=IdTag.Status.LOST, blocked_at=now)
    suspended = make_account(world.org_a, "Suspended", status=CustomerAccount.Status.SUSPENDED)
    make_tag(suspended, uid="04555555")
    make_tag(make_account(world.org_b), uid="04BBBBBB")

    assert tags_from_db(organization_id=world.org_a.pk) == [world.alice_card.uid, world.bob_card.uid]
    assert tags_from_db() == [world.alice_card.uid, world.bob_card.uid, "04BBBBBB"]
    assert tags_from_db(limit=1) == [world.alice_card.uid]


def test_simulate_chargers_command_loads_and_refuses_a_speed_that_is_not_positive():
    with pytest.raises(CommandError, match="--speed must be positive"):
        call_command("simulate_chargers", "--speed", "0")
