"""The charger simulator speaking OCPP 2.0.1: the same chargers as in 1.6, in 2.0.1's messages.

Its frames are checked against the ``ocpp`` package's 2.0.1 schemas, its transactions' events against the rules
of TransactionEvent (seqNo from 0 without a gap, registers that only grow), and one session run under both
versions with the same seed must meter the same energy: only the wire differs.
"""

import asyncio
import itertools
import random
from datetime import UTC, datetime, timedelta

import pytest
from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.messages import Call, validate_payload
from ocpp.routing import on
from ocpp.v16 import call_result as call_result16
from ocpp.v201 import ChargePoint as OcppChargePoint
from ocpp.v201 import call, call_result
from ocpp.v201.enums import Action

from demo import simulator
from demo.simulator import (
    OCPP16,
    OCPP201,
    ChargerSpec,
    ConnectorSpec,
    OpenTransaction,
    SimCharger,
    StartRequest,
    make_specs,
)
from demo.simulator_v201 import meter_value_201
from tests.demo.test_simulator import _now, _run

REGISTER = "Energy.Active.Import.Register"


# --------------------------------------------------------------------------- a tiny 2.0.1 central system


class CentralSystem201(OcppChargePoint):
    """Answers everything with Accepted and records what it received (validated by the ocpp package)."""

    def __init__(self, cp_id, connection, log):
        super().__init__(cp_id, connection)
        self.log = log

    @on(Action.boot_notification)
    def boot(self, **payload):
        self.log["BootNotification"].append(payload)
        return call_result.BootNotification(current_time=_now(), interval=10, status="Accepted")

    @on(Action.heartbeat)
    def heartbeat(self):
        self.log["Heartbeat"].append({})
        return call_result.Heartbeat(current_time=_now())

    @on(Action.status_notification)
    def status(self, **payload):
        self.log["StatusNotification"].append(payload)
        return call_result.StatusNotification()

    @on(Action.authorize)
    def authorize(self, **payload):
        self.log["Authorize"].append(payload)
        return call_result.Authorize(id_token_info={"status": "Accepted"})

    @on(Action.transaction_event)
    def transaction_event(self, **payload):
        self.log["TransactionEvent"].append(payload)
        self.log[payload["event_type"]].append(payload)
        accepted = {"status": "Accepted"} if payload.get("id_token") else None
        return call_result.TransactionEvent(id_token_info=accepted)

    @on(Action.meter_values)
    def meter_values(self, **payload):
        self.log["MeterValues"].append(payload)
        return call_result.MeterValues()


def _run201(scenario, options_overrides, **kwargs):
    return asyncio.run(_run(scenario, options_overrides, ocpp=OCPP201, central_system=CentralSystem201, **kwargs))


def _register(event) -> int:
    values = [
        s["value"] for mv in event.get("meter_value", []) for s in mv["sampled_value"] if s["measurand"] == REGISTER
    ]
    return int(values[-1])


def _events_of(log, transaction_id):
    """The transaction's events as the server keeps them: once per seqNo. A charger going offline before an
    event's answer came sends it again on its return, as OCPP asks."""
    events = {}
    for event in log["TransactionEvent"]:
        if event["transaction_info"]["transaction_id"] == transaction_id:
            events.setdefault(event["seq_no"], event)
    return list(events.values())


def _check_transaction(events):
    """The rules every transaction's events keep: seqNo 0, 1, 2... Started first, Ended last, registers grow."""
    assert [e["seq_no"] for e in events] == list(range(len(events)))
    assert events[0]["event_type"] == "Started" and events[-1]["event_type"] == "Ended"
    assert all(e["event_type"] == "Updated" for e in events[1:-1])
    registers = [_register(e) for e in events if e.get("meter_value")]
    assert registers == sorted(registers)
    return events[0], events[-1]


# --------------------------------------------------------------------------- against the tiny central system


def test_a_2_0_1_charger_boots_reports_its_evses_and_charges_in_transaction_events():
    async def scenario(h):
        await h.wait_for(lambda: h.log["Ended"] and len(h.log["Heartbeat"]) >= 2)

    h = _run201(scenario, {}, password="0123456789abcdef")
    boot = h.log["BootNotification"][0]
    assert boot["reason"] == "PowerUp" and boot["charging_station"]["vendor_name"] == "ChargePortalSim"
    statuses = [(s["evse_id"], s["connector_id"], s["connector_status"]) for s in h.log["StatusNotification"]]
    assert statuses[0] == (1, 1, "Available")
    assert statuses.count((1, 1, "Occupied")) == 1  # Preparing, Charging, SuspendedEV and Finishing are one status
    assert h.log["Authorize"][0]["id_token"] == {"id_token": "04A1B2C3D4E5F6", "type": "ISO14443"}
    started, ended = _check_transaction(_events_of(h.log, h.log["Started"][0]["transaction_info"]["transaction_id"]))
    assert started["trigger_reason"] == "Authorized" and started["evse"] == {"id": 1, "connector_id": 1}
    assert started["id_token"] == {"id_token": "04A1B2C3D4E5F6", "type": "ISO14443"}
    begin = started["meter_value"][0]["sampled_value"][0]
    assert (begin["context"], begin["unit_of_measure"]) == ("Transaction.Begin", {"unit": "Wh"})
    assert _register(started) == 2_000_000
    periodic = [e for e in h.log["Updated"] if e["trigger_reason"] == "MeterValuePeriodic"]
    assert len(periodic) >= 5
    sample = {s["measurand"]: s for s in periodic[0]["meter_value"][0]["sampled_value"]}
    assert set(sample) == {REGISTER, "Power.Active.Import", "SoC"}
    assert sample[REGISTER]["context"] == "Sample.Periodic" and isinstance(sample["SoC"]["value"], int | float)
    charging = [e for e in h.log["Updated"] if e["trigger_reason"] == "ChargingStateChanged"]
    assert charging[0]["transaction_info"]["charging_state"] == "Charging"
    assert ended["meter_value"][0]["sampled_value"][0]["context"] == "Transaction.End"
    assert _register(ended) > _register(started)
    assert ended["transaction_info"]["stopped_reason"] in ("EVDisconnected", "Local")
    assert ended["trigger_reason"] in ("EVCommunicationLost", "StopAuthorized")


def test_request_start_and_stop_transaction_and_get_variables():
    results = {}

    async def scenario(h):
        await h.wait_for(lambda: len(h.log["StatusNotification"]) >= 2)
        cs = h.connections["SIM-T1"]
        token = {"id_token": "REMOTE01", "type": "Central"}
        results["start"] = await cs.call(call.RequestStartTransaction(id_token=token, remote_start_id=42, evse_id=2))
        await h.wait_for(lambda: h.log["Started"] and h.log["Updated"])
        results["busy"] = await cs.call(call.RequestStartTransaction(id_token=token, remote_start_id=43, evse_id=2))
        results["unlock"] = await cs.call(call.UnlockConnector(evse_id=2, connector_id=1))
        tx = h.log["Started"][0]["transaction_info"]["transaction_id"]
        results["status"] = await cs.call(call.GetTransactionStatus(transaction_id=tx))
        results["stop"] = await cs.call(call.RequestStopTransaction(transaction_id=tx))
        results["unknown"] = await cs.call(call.RequestStopTransaction(transaction_id="nope"))
        results["variables"] = await cs.call(
            call.GetVariables(
                get_variable_data=[
                    {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
                    {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "Nope"}},
                ]
            )
        )
        results["set"] = await cs.call(
            call.SetVariables(
                set_variable_data=[
                    {
                        "component": {"name": "SampledDataCtrlr"},
                        "variable": {"name": "TxUpdatedInterval"},
                        "attribute_value": "30",
                    }
                ]
            )
        )
        await h.wait_for(lambda: h.log["Ended"])
        results["ended"] = await cs.call(call.GetTransactionStatus(transaction_id=tx))

    # idle for ever and no tags: only the central system starts sessions
    h = _run201(scenario, {"idle_s": (1e9, 1e9), "tags": []}, connectors=2)
    assert results["start"].status == "Accepted"
    assert results["busy"].status == "Rejected"
    assert results["unlock"].status == "OngoingAuthorizedTransaction"
    assert results["status"].ongoing_indicator is True
    assert results["stop"].status == "Accepted" and results["unknown"].status == "Rejected"
    assert results["ended"].ongoing_indicator is False
    heartbeat, nope = results["variables"].get_variable_result
    assert (heartbeat["attribute_status"], heartbeat["attribute_value"]) == ("Accepted", "10")
    assert nope["attribute_status"] == "UnknownVariable"
    assert results["set"].set_variable_result[0]["attribute_status"] == "Accepted"
    assert not h.log["Authorize"]  # AuthorizeRemoteStart is false
    started, ended = _check_transaction(h.log["TransactionEvent"])
    assert started["trigger_reason"] == "RemoteStart"
    assert started["transaction_info"]["remote_start_id"] == 42
    assert started["id_token"] == {"id_token": "REMOTE01", "type": "Central"} and started["evse"]["id"] == 2
    assert (ended["trigger_reason"], ended["transaction_info"]["stopped_reason"]) == ("RemoteStop", "Remote")


def test_an_immediate_reset_ends_the_transaction_and_the_charger_boots_again_saying_why():
    results = {}

    async def scenario(h):
        await h.wait_for(lambda: h.log["Started"] and h.log["Updated"])
        cs = h.connections["SIM-T1"]
        results["on_idle"] = await cs.call(call.Reset(type="OnIdle", evse_id=1))
        results["reset"] = await cs.call(call.Reset(type="Immediate"))
        await h.wait_for(lambda: h.log["Ended"] and len(h.log["BootNotification"]) >= 2)

    h = _run201(scenario, {"stay_s": (1e6, 1e6)})
    assert results["on_idle"].status == "Rejected"  # an EVSE alone is not reset
    assert results["reset"].status == "Accepted"
    _, ended = _check_transaction(h.log["TransactionEvent"])
    assert (ended["trigger_reason"], ended["transaction_info"]["stopped_reason"]) == ("ResetCommand", "ImmediateReset")
    assert ended.get("offline") is True  # the socket dropped first, the end was delivered on reconnect
    assert h.log["BootNotification"][1]["reason"] == "RemoteReset"


def test_offline_periods_deliver_the_queued_events_in_order_marked_offline():
    async def scenario(h):
        await h.wait_for(lambda: h.connects >= 2 and h.log["Ended"], timeout=10)

    h = _run201(scenario, {"offline_probability": 0.3, "offline_s": (120.0, 240.0), "stay_s": (1200, 1500)})
    assert h.connects >= 2
    events = _events_of(h.log, h.log["Started"][0]["transaction_info"]["transaction_id"])
    _check_transaction(events)
    assert any(e.get("offline") for e in h.log["TransactionEvent"])  # built while away, sent on return
    stamps = [e["timestamp"] for e in events]
    assert stamps == sorted(stamps)


def test_a_transaction_the_server_still_has_open_goes_on_with_its_id_and_next_seq_no():
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
    open_tx = OpenTransaction("b7a5c0de-0000-4000-8000-000000004711", "04AAAAAAAAAAAA", 1_990_000, started, seq_no=3)

    async def scenario(h):
        await h.wait_for(lambda: h.log["Ended"])

    h = _run201(scenario, {"tags": []}, open_transaction=open_tx)
    events = _events_of(h.log, "b7a5c0de-0000-4000-8000-000000004711")
    assert [e["seq_no"] for e in events] == list(range(3, 3 + len(events)))
    assert not h.log["Started"] and events[-1]["event_type"] == "Ended"
    assert all(_register(e) >= 2_000_000 for e in events if e.get("meter_value"))


# --------------------------------------------------------------------------- the frames, without a socket


class _Clock:
    """Stands in for ``time.monotonic`` and the simulator's waits: a wait moves it on by the wait, at once."""

    def __init__(self):
        self.now = 1_000.0

    def monotonic(self) -> float:
        return self.now


def _session_frames(ocpp: str, seed: int) -> list:
    """One session on a charger speaking ``ocpp``, on a clock that jumps: the frames it would send, in order."""
    clock = _Clock()
    sent = []
    tx_ids = itertools.count(1)

    async def send(payload, *, queued=False, wait=True):
        sent.append(payload)
        name = type(payload).__name__
        if ocpp == OCPP16:
            if name == "Authorize":
                return call_result16.Authorize(id_tag_info={"status": "Accepted"})
            if name == "StartTransaction":
                return call_result16.StartTransaction(transaction_id=next(tx_ids), id_tag_info={"status": "Accepted"})
        elif name == "Authorize":
            return call_result.Authorize(id_token_info={"status": "Accepted"})
        elif name == "TransactionEvent":
            return call_result.TransactionEvent()
        return None

    async def wait_sim(sim_seconds, event=None):
        clock.now += charger.options.scaled(sim_seconds)
        return False

    async def run():
        charger.online.set()
        await charger._session(charger.connectors[1], StartRequest("04A1B2C3D4E5F6"), remote=False)

    (spec,) = make_specs(["SIM-E1"], rng=random.Random(seed), ocpp=ocpp)
    charger = SimCharger(spec, simulator.SimOptions(speed=60.0, stay_s=(1800.0, 3600.0)), rng=random.Random(seed))
    charger.send, charger._wait_sim = send, wait_sim
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(simulator.time, "monotonic", clock.monotonic)
        asyncio.run(run())
    return sent


async def _validate(payload) -> None:
    """As the ocpp package checks a frame it sends: the payload against the action's 2.0.1 request schema."""
    body = remove_nones(snake_to_camel_case(serialize_as_dict(payload)))
    await validate_payload(Call(unique_id="1", action=type(payload).__name__, payload=body), "2.0.1")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_frame_of_a_session_validates_against_the_2_0_1_schemas(seed):
    frames = _session_frames(OCPP201, seed)
    (spec,) = make_specs(["SIM-E1"], rng=random.Random(seed), ocpp=OCPP201)
    charger = SimCharger(spec, simulator.SimOptions(), rng=random.Random(seed))
    conn = charger.connectors[1]
    conn.transaction_id = "t-1"
    others = [charger.wire.boot("PowerUp"), charger.wire.heartbeat(), charger.wire.triggered_values(conn)]
    assert {type(f).__name__ for f in frames} == {"StatusNotification", "Authorize", "TransactionEvent"}

    async def validate_all():
        for frame in [*frames, *others]:
            await _validate(frame)

    asyncio.run(validate_all())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_session_meters_the_same_energy_in_2_0_1_as_in_1_6_for_the_same_seed(seed):
    frames16, frames201 = _session_frames(OCPP16, seed), _session_frames(OCPP201, seed)
    start = next(f for f in frames16 if type(f).__name__ == "StartTransaction")
    stop = next(f for f in frames16 if type(f).__name__ == "StopTransaction")
    events = [f for f in frames201 if isinstance(f, call.TransactionEvent)]

    assert [e.seq_no for e in events] == list(range(len(events)))
    started, ended = events[0], events[-1]
    begin, end = _register(serialize_as_dict(started)), _register(serialize_as_dict(ended))
    assert end >= begin
    assert (begin, end) == (start.meter_start, stop.meter_stop) and end > begin
    periodic16 = [f.meter_value[0] for f in frames16 if type(f).__name__ == "MeterValues"]
    periodic201 = [e.meter_value[0] for e in events if e.trigger_reason == "MeterValuePeriodic"]
    assert [int(v["sampled_value"][0]["value"]) for v in periodic16] == [
        v["sampled_value"][0]["value"] for v in periodic201
    ]
    assert ended.transaction_info["stopped_reason"] == stop.reason


def test_readings_are_numbers_with_a_unit_of_measure():
    value = meter_value_201(1234567.8, power_w=10999.6, soc=0.805, at=datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC))
    assert value["timestamp"] == "2026-01-02T03:04:05.006Z"
    by_measurand = {v["measurand"]: v for v in value["sampled_value"]}
    assert by_measurand[REGISTER]["value"] == 1234567
    assert by_measurand["Power.Active.Import"]["value"] == 11000
    assert by_measurand["SoC"]["unit_of_measure"] == {"unit": "Percent"}


def test_a_fleet_can_mix_versions_and_an_unknown_version_is_refused():
    specs = [
        ChargerSpec("A", [ConnectorSpec(1, 11_000.0)]),
        ChargerSpec("B", [ConnectorSpec(1, 11_000.0)], ocpp=OCPP201),
    ]
    chargers = [SimCharger(spec, simulator.SimOptions()) for spec in specs]
    assert [c.wire.subprotocol for c in chargers] == ["ocpp1.6", "ocpp2.0.1"]
    with pytest.raises(ValueError, match="unknown OCPP version"):
        SimCharger(ChargerSpec("C", [ConnectorSpec(1, 11_000.0)], ocpp="2.1"), simulator.SimOptions())
