"""The simulated charger obeys charging profiles (1.6 and 2.0.1): its cars draw min(car, connector, profile)."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from ocpp.v16 import call
from ocpp.v201 import call as call201

from demo.charging_profiles import STATION_MAX, TX, TX_DEFAULT, ChargingProfile, Period, ProfileStore
from tests.demo.test_simulator import _run
from tests.demo.test_simulator_v201 import _run201

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
POWER = "Power.Active.Import"


def _profile(pid, purpose, limit, *, connector=1, stack=0, unit="A", **kwargs):
    periods = kwargs.pop("periods", (Period(0, limit),))
    return ChargingProfile(
        pid, connector, purpose, stack, kwargs.pop("kind", "Absolute"), unit, periods, T0, start=T0, **kwargs
    )


# --------------------------------------------------------------------------- the profiles (pure)


def test_a_tx_profile_wins_over_defaults_and_the_highest_stack_level_wins():
    store = ProfileStore()
    running = {1: 7, 2: None}
    assert store.install(_profile(1, TX_DEFAULT, 16, connector=0), connectors=running, units=("A", "W"))
    assert store.install(_profile(2, TX_DEFAULT, 20, stack=1), connectors=running, units=("A", "W"))
    at = T0 + timedelta(minutes=5)
    assert store.connector_limit_w(1, at, phases=3, session_start=None) == 20 * 3 * 230
    assert store.connector_limit_w(2, at, phases=1, session_start=None) == 16 * 230  # connector 0's default
    assert store.install(_profile(3, TX, 10), connectors=running, units=("A", "W"))
    assert store.connector_limit_w(1, at, phases=3, session_start=None) == 6900
    store.transaction_ended(1)
    assert store.connector_limit_w(1, at, phases=3, session_start=None) == 20 * 3 * 230


def test_what_the_charger_cannot_take_is_refused():
    store = ProfileStore()
    running = {1: 7, 2: None}
    units = ("W",)
    assert not store.install(_profile(1, TX, 10, unit="W", connector=2), connectors=running, units=units)  # no tx
    assert not store.install(_profile(1, TX, 10, unit="W", transaction_id=8), connectors=running, units=units)
    assert not store.install(_profile(1, TX_DEFAULT, 10), connectors=running, units=units)  # amperes
    assert not store.install(_profile(1, STATION_MAX, 10, unit="W"), connectors=running, units=units)  # connector 1
    assert not store.install(_profile(1, TX_DEFAULT, 10, unit="W", connector=3), connectors=running, units=units)
    assert store.profiles == {}


def test_the_period_in_force_and_a_schedule_that_ends_falls_back_to_the_lower_stack_level():
    store = ProfileStore()
    units = ("A", "W")
    periods = (Period(0, 11_000), Period(3600, 5_000), Period(7200, 0))
    store.install(
        _profile(1, TX_DEFAULT, 0, unit="W", periods=periods, duration_s=10_800, stack=2),
        connectors={1: None},
        units=units,
    )
    store.install(_profile(2, TX_DEFAULT, 16, stack=1), connectors={1: None}, units=units)
    limits = [
        store.connector_limit_w(1, T0 + timedelta(minutes=m), phases=3, session_start=None)
        for m in (0, 59, 60, 150, 180)
    ]
    assert limits == [11_000, 11_000, 5_000, 0, 16 * 3 * 230]
    assert store.composite(1, T0, 4 * 3600, phases=3, session_start=None, max_w=22_000) == [
        (0, 11_000),
        (3600, 5_000),
        (7200, 0),
        (10_800, 16 * 3 * 230),
    ]


def test_relative_profiles_count_from_the_session_start_and_recurring_ones_repeat_daily():
    store = ProfileStore()
    store.install(
        _profile(1, TX_DEFAULT, 0, kind="Relative", periods=(Period(0, 32), Period(1800, 10))),
        connectors={1: None, 2: None},
        units=("A",),
    )
    started = T0 + timedelta(hours=5)
    assert store.connector_limit_w(1, started + timedelta(minutes=29), phases=3, session_start=started) == 32 * 690
    assert store.connector_limit_w(1, started + timedelta(minutes=31), phases=3, session_start=started) == 10 * 690
    store.install(
        _profile(
            2,
            TX_DEFAULT,
            0,
            kind="Recurring",
            recurrency="Daily",
            periods=(Period(0, 6), Period(3600, 16)),
            connector=2,
        ),
        connectors={1: None, 2: None},
        units=("A",),
    )
    assert store.connector_limit_w(2, T0 + timedelta(days=3, minutes=30), phases=3, session_start=None) == 6 * 690


# --------------------------------------------------------------------------- over the wire


def _powers(log, key="MeterValues"):
    return [
        float(s["value"])
        for payload in log[key]
        for value in payload.get("meter_value") or []
        for s in value["sampled_value"]
        if s["measurand"] == POWER
    ]


def _tx_profile_16(transaction_id, limit, unit="A"):
    return {
        "charging_profile_id": 5,
        "transaction_id": transaction_id,
        "stack_level": 0,
        "charging_profile_purpose": "TxProfile",
        "charging_profile_kind": "Relative",
        "charging_schedule": {
            "charging_rate_unit": unit,
            "charging_schedule_period": [{"start_period": 0, "limit": limit}],
        },
    }


def test_a_1_6_charger_obeys_a_tx_profile_of_10_a_and_returns_to_the_cars_maximum_when_it_is_cleared():
    results = {}

    async def scenario(h):
        await h.wait_for(lambda: h.log["StartTransaction"] and h.log["MeterValues"])
        cs = h.connections["SIM-T1"]
        tx = h.log["StartTransaction"][0]["transaction_id"]
        results["other"] = await cs.call(
            call.SetChargingProfile(connector_id=1, cs_charging_profiles=_tx_profile_16(tx + 1, 10))
        )
        results["set"] = await cs.call(
            call.SetChargingProfile(connector_id=1, cs_charging_profiles=_tx_profile_16(tx, 10))
        )
        seen = len(h.log["MeterValues"])
        await h.wait_for(lambda: len(h.log["MeterValues"]) >= seen + 3)
        results["limited"] = _powers({"MeterValues": h.log["MeterValues"][seen + 1 :]})
        results["composite"] = await cs.call(
            call.GetCompositeSchedule(connector_id=1, duration=600, charging_rate_unit="W")
        )
        results["clear"] = await cs.call(call.ClearChargingProfile(id=5))
        results["again"] = await cs.call(call.ClearChargingProfile(id=5))
        seen = len(h.log["MeterValues"])
        await h.wait_for(lambda: len(h.log["MeterValues"]) >= seen + 3)
        results["free"] = _powers({"MeterValues": h.log["MeterValues"][seen + 1 :]})

    asyncio.run(_run(scenario, {"stay_s": (1e6, 1e6)}))
    assert results["other"].status == "Rejected"  # a transaction it does not run
    assert results["set"].status == "Accepted"
    assert results["limited"] and all(p == 6900 for p in results["limited"])  # 10 A x 3 phases x 230 V
    period = results["composite"].charging_schedule["charging_schedule_period"]
    assert results["composite"].status == "Accepted" and period == [{"start_period": 0, "limit": 6900.0}]
    assert (results["clear"].status, results["again"].status) == ("Accepted", "Unknown")
    assert results["free"] and all(p >= 50_000 for p in results["free"])  # the DC car's own maximum again


def test_a_station_maximum_caps_both_connectors_together_and_a_default_in_watts_each():
    results = {}

    def station_max(limit):
        return {
            "charging_profile_id": 9,
            "stack_level": 0,
            "charging_profile_purpose": "ChargePointMaxProfile",
            "charging_profile_kind": "Absolute",
            "charging_schedule": {
                "charging_rate_unit": "W",
                "charging_schedule_period": [{"start_period": 0, "limit": limit}],
            },
        }

    async def scenario(h):
        cs = None
        await h.wait_for(lambda: len(h.log["StatusNotification"]) >= 3)
        cs = h.connections["SIM-T1"]
        results["max"] = await cs.call(
            call.SetChargingProfile(connector_id=0, cs_charging_profiles=station_max(20_000))
        )
        for connector in (1, 2):
            await cs.call(call.RemoteStartTransaction(id_tag="REMOTE01", connector_id=connector))
        await h.wait_for(lambda: len(h.log["MeterValues"]) >= 10)
        results["capped"] = {
            c: _powers({"MeterValues": [v for v in h.log["MeterValues"] if v["connector_id"] == c][-2:]})
            for c in (1, 2)
        }

    asyncio.run(_run(scenario, {"stay_s": (1e6, 1e6), "idle_s": (1e9, 1e9), "tags": []}, connectors=2))
    assert results["max"].status == "Accepted"
    last = [results["capped"][c][-1] for c in (1, 2)]
    assert sum(last) == pytest.approx(20_000, abs=2) and all(p > 0 for p in last)


def test_a_2_0_1_charger_obeys_a_tx_profile_of_10_a_and_clearing_it_frees_the_car():
    results = {}

    async def scenario(h):
        await h.wait_for(lambda: h.log["Started"] and h.log["Updated"])
        cs = h.connections["SIM-T1"]
        tx = h.log["Started"][0]["transaction_info"]["transaction_id"]

        def profile(transaction_id):
            return {
                "id": 5,
                "stack_level": 0,
                "charging_profile_purpose": "TxProfile",
                "charging_profile_kind": "Relative",
                "transaction_id": transaction_id,
                "charging_schedule": [
                    {"id": 1, "charging_rate_unit": "A", "charging_schedule_period": [{"start_period": 0, "limit": 10}]}
                ],
            }

        results["other"] = await cs.call(call201.SetChargingProfile(evse_id=1, charging_profile=profile("nope")))
        results["set"] = await cs.call(call201.SetChargingProfile(evse_id=1, charging_profile=profile(tx)))
        seen = len(h.log["Updated"])
        await h.wait_for(lambda: len(h.log["Updated"]) >= seen + 3)
        results["limited"] = _powers({"Updated": h.log["Updated"][seen + 1 :]}, "Updated")
        results["composite"] = await cs.call(
            call201.GetCompositeSchedule(duration=600, evse_id=1, charging_rate_unit="A")
        )
        results["clear"] = await cs.call(
            call201.ClearChargingProfile(
                charging_profile_criteria={"evse_id": 1, "charging_profile_purpose": "TxProfile"}
            )
        )
        seen = len(h.log["Updated"])
        await h.wait_for(lambda: len(h.log["Updated"]) >= seen + 3)
        results["free"] = _powers({"Updated": h.log["Updated"][seen + 1 :]}, "Updated")

    _run201(scenario, {"stay_s": (1e6, 1e6)})
    assert (results["other"].status, results["set"].status) == ("Rejected", "Accepted")
    assert results["limited"] and all(p == 6900 for p in results["limited"])
    assert results["composite"].schedule["charging_schedule_period"] == [{"start_period": 0, "limit": 10.0}]
    assert results["clear"].status == "Accepted"
    assert results["free"] and all(p >= 50_000 for p in results["free"])
