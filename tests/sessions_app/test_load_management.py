"""Load management's enforcement: what a rebalance gathers, the profiles it sends and what it keeps.

The chargers are the ``transport`` fixture (a fake ``command_send``); the real conversation is in
tests/e2e/test_load_management.py. The allocator itself is tested in test_load_allocation.py.
"""

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest

from billing.models import CustomerGroup, CustomerGroupMembership
from sessions_app import load_management, load_triggers
from sessions_app.load_management import load_charger_boot, load_rebalance, load_rebalance_run
from sessions_app.models import (
    ChargePoint,
    ConnectorAllocation,
    LoadGroup,
    LoadLimitWindow,
    MeterValue,
    SiteMeterReading,
)
from sessions_app.ocpp import commands
from sessions_app.ocpp.commands import CommandResult
from tests.factories import make_account, make_charge_point, make_session, make_tag

# A Wednesday, 12:00 UTC (14:00 in Stockholm).
NOW = datetime(2026, 6, 3, 12, 0, tzinfo=UTC)
ACCEPTED = CommandResult("answered", {"status": "Accepted"})


@pytest.fixture(autouse=True)
def fresh_cache(db):
    from django.core.cache import cache

    cache.clear()


def online(*charge_points: ChargePoint) -> None:
    for charge_point in charge_points:
        ChargePoint.objects.filter(pk=charge_point.pk).update(channel_name=f"specific.{charge_point.ocpp_id}")
        charge_point.channel_name = f"specific.{charge_point.ocpp_id}"


def group_of(world, *, limit="22.0", **fields) -> LoadGroup:
    return LoadGroup.objects.create(site=world.site_a, name="Garage", limit=Decimal(limit), **fields)


def charging(world, connector, minutes_ago: int = 30):
    return make_session(connector, world.alice_card, started_at=NOW - timedelta(minutes=minutes_ago), energy_wh=None)


def tx_profiles(transport) -> list[tuple[str, int, float]]:
    """(charger, connector, limit) of every TxProfile sent, in order."""
    return [
        (
            ocpp_id,
            payload["connector_id"],
            payload["cs_charging_profiles"]["charging_schedule"]["charging_schedule_period"][0]["limit"],
        )
        for ocpp_id, action, payload in transport.sent
        if action == "SetChargingProfile" and payload["cs_charging_profiles"]["charging_profile_purpose"] == "TxProfile"
    ]


def defaults(transport) -> list[tuple[str, dict]]:
    return [
        (ocpp_id, payload)
        for ocpp_id, action, payload in transport.sent
        if action == "SetChargingProfile"
        and payload["cs_charging_profiles"]["charging_profile_purpose"] == "TxDefaultProfile"
    ]


def test_two_cars_share_the_limit_each_told_its_share_and_every_charger_gets_a_safe_default(world, transport):
    group = group_of(world)  # 22 kW, the whole site (cp_a: two 22 kW connectors)
    online(world.cp_a)
    connectors = list(world.cp_a.connectors.order_by("number"))
    first, second = charging(world, connectors[0], 40), charging(world, connectors[1], 20)

    done = load_rebalance(group_id=group.pk, now=NOW)

    assert done.sent == 2
    # 11 kW each on three phases at 230 V: 15.9 A per phase (rounded down).
    assert tx_profiles(transport) == [("ALPHA-1", 1, 15.9), ("ALPHA-1", 2, 15.9)]
    [(ocpp_id, default)] = defaults(transport)
    profile = default["cs_charging_profiles"]
    assert (ocpp_id, default["connector_id"], profile["stack_level"], profile["charging_profile_kind"]) == (
        "ALPHA-1",
        0,
        load_management.STACK_LEVEL,
        "Relative",
    )
    assert profile["charging_schedule"]["charging_schedule_period"] == [
        {"start_period": 0, "limit": 15.9, "number_phases": 3}
    ]  # the limit over the group's two connectors
    tx = [payload for _id, action, payload in transport.sent if action == "SetChargingProfile"][1]
    assert tx["cs_charging_profiles"]["transaction_id"] == first.pk
    rows = {row.connector.number: row for row in ConnectorAllocation.objects.filter(group=group)}
    assert [(rows[n].session_id, rows[n].limit_a, rows[n].limit_w, rows[n].status) for n in (1, 2)] == [
        (first.pk, Decimal("15.9"), 10971, "accepted"),
        (second.pk, Decimal("15.9"), 10971, "accepted"),
    ]


def test_an_unchanged_share_is_not_sent_again_and_nor_is_the_default(world, transport):
    group = group_of(world)
    online(world.cp_a)
    for connector in world.cp_a.connectors.all():
        charging(world, connector)
    load_rebalance(group_id=group.pk, now=NOW)
    transport.sent.clear()

    done = load_rebalance(group_id=group.pk, now=NOW + timedelta(minutes=1))

    assert (done.sent, transport.sent) == (0, [])


def test_a_third_car_lowers_the_first_two_before_it_is_told_its_share(world, transport):
    group = group_of(world, limit="33.0")
    second_cp = make_charge_point(world.site_a, "ALPHA-2", connectors=1)
    online(world.cp_a, second_cp)
    for connector in world.cp_a.connectors.all():
        charging(world, connector, 60)
    load_rebalance(group_id=group.pk, now=NOW)
    assert tx_profiles(transport) == [("ALPHA-1", 1, 23.9), ("ALPHA-1", 2, 23.9)]  # 16.5 kW each
    transport.sent.clear()

    charging(world, second_cp.connectors.get(), 1)
    load_rebalance(group_id=group.pk, now=NOW)

    # 11 kW each: the two lowered first, then the newcomer.
    assert tx_profiles(transport) == [("ALPHA-1", 1, 15.9), ("ALPHA-1", 2, 15.9), ("ALPHA-2", 1, 15.9)]


def test_an_offline_charger_is_counted_at_its_maximum(world, transport):
    group = group_of(world, limit="66.0")
    offline = make_charge_point(world.site_a, "ALPHA-2", connectors=1)  # never connected: 22 kW reserved
    online(world.cp_a)
    for connector in world.cp_a.connectors.all():
        charging(world, connector)

    load_rebalance(group_id=group.pk, now=NOW)

    # (66 - 22) / 2 = 22 kW each would be 31.8 A; the same as without the offline one would be 33 kW (capped).
    assert tx_profiles(transport) == [("ALPHA-1", 1, 31.8), ("ALPHA-1", 2, 31.8)]
    assert all(ocpp_id == "ALPHA-1" for ocpp_id, _action, _payload in transport.sent)
    row = ConnectorAllocation.objects.get(connector__charge_point=offline)
    assert (row.status, row.limit_w) == ("offline", 22000)


def test_a_rejected_profile_is_reported_counted_at_its_maximum_and_the_others_shared_again_at_once(
    world, transport, monkeypatch
):
    group = group_of(world, limit="44.0")
    second_cp = make_charge_point(world.site_a, "ALPHA-2", connectors=1)
    online(world.cp_a, second_cp)
    for connector in [*world.cp_a.connectors.all(), second_cp.connectors.get()]:
        charging(world, connector)

    def charger(charge_point, action, payload, timeout=30):
        transport.sent.append((charge_point.ocpp_id, action, payload))
        refuses = charge_point.ocpp_id == "ALPHA-2" and "transaction_id" in payload.get("cs_charging_profiles", {})
        return CommandResult("answered", {"status": "Rejected" if refuses else "Accepted"})

    monkeypatch.setattr(commands, "command_send", charger)

    done = load_rebalance(group_id=group.pk, now=NOW)

    # 44 kW for three: 14.6 kW each (21.2 A); ALPHA-2 refuses, so it counts at 22 kW and the two share 22 kW.
    assert tx_profiles(transport) == [
        ("ALPHA-1", 1, 21.2),
        ("ALPHA-1", 2, 21.2),
        ("ALPHA-2", 1, 21.2),
        ("ALPHA-1", 1, 15.9),
        ("ALPHA-1", 2, 15.9),
    ]
    assert done.refused == 1
    row = ConnectorAllocation.objects.get(connector__charge_point=second_cp)
    assert (row.status, row.limit_w) == ("rejected", 22000)
    transport.sent.clear()
    load_rebalance(group_id=group.pk, now=NOW + timedelta(minutes=1))
    assert transport.sent == []  # the refusal holds for this session: nothing sent again


def test_a_lower_limit_window_applies_in_the_sites_local_time(world, transport):
    group = group_of(world, limit="44.0")
    LoadLimitWindow.objects.create(
        group=group, weekdays="3", start=time(13, 30), end=time(15, 0), limit=Decimal("11.0")
    )
    online(world.cp_a)
    charging(world, world.cp_a.connectors.get(number=1))

    load_rebalance(group_id=group.pk, now=NOW)  # 14:00 in Stockholm, a Wednesday: the window's 11 kW
    load_rebalance(group_id=group.pk, now=NOW + timedelta(hours=1, minutes=1))  # 15:01: 44 kW again

    assert [limit for _id, _connector, limit in tx_profiles(transport)] == [15.9, 31.8]


def test_limits_in_amperes_per_phase(world, transport):
    group = group_of(world, limit="16.0", limit_unit=LoadGroup.LimitUnit.AMPERES)
    online(world.cp_a)
    charging(world, world.cp_a.connectors.get(number=1))

    load_rebalance(group_id=group.pk, now=NOW)

    assert tx_profiles(transport) == [("ALPHA-1", 1, 16.0)]


def test_a_recent_site_meter_reading_counts_as_the_other_loads_else_the_margin(world, transport):
    group = group_of(world, limit="22.0", site_meter=True, other_loads_kw=Decimal("11.0"))
    online(world.cp_a)
    charging(world, world.cp_a.connectors.get(number=1))
    SiteMeterReading.objects.create(group=group, power_kw=Decimal("4.0"), measured_at=NOW - timedelta(minutes=1))

    load_rebalance(group_id=group.pk, now=NOW)  # 22 - 4 = 18 kW: 26 A
    load_rebalance(group_id=group.pk, now=NOW + timedelta(minutes=10))  # stale: 22 - 11 = 11 kW

    assert [limit for _id, _connector, limit in tx_profiles(transport)] == [26.0, 15.9]


def test_a_charger_taking_watts_only_is_told_watts(world, transport):
    group = group_of(world, limit="11.0")
    ChargePoint.objects.filter(pk=world.cp_a.pk).update(charging_rate_units="W")
    online(world.cp_a)
    charging(world, world.cp_a.connectors.get(number=1))

    load_rebalance(group_id=group.pk, now=NOW)

    [(_id, default)] = defaults(transport)
    assert default["cs_charging_profiles"]["charging_schedule"]["charging_rate_unit"] == "W"
    assert tx_profiles(transport) == [("ALPHA-1", 1, 10971.0)]


def test_cars_that_cannot_all_have_the_minimum_take_turns_and_the_waiting_one_pauses(world, transport):
    group = group_of(world, limit="5.0")  # 7.2 A for one three-phase car: not two
    online(world.cp_a)
    first = charging(world, world.cp_a.connectors.get(number=1), 60)
    charging(world, world.cp_a.connectors.get(number=2), 30)

    load_rebalance(group_id=group.pk, now=NOW)

    limits = sorted(limit for _id, _connector, limit in tx_profiles(transport))
    assert limits == [0.0, 7.2]
    statuses = set(ConnectorAllocation.objects.filter(group=group).values_list("status", flat=True))
    assert statuses == {"accepted", "waiting"}
    assert ConnectorAllocation.objects.filter(session=first).exists()


def test_a_car_drawing_less_gives_its_rest_to_the_other(world, transport):
    group = group_of(world, limit="22.0")
    online(world.cp_a)
    slow = charging(world, world.cp_a.connectors.get(number=1))
    charging(world, world.cp_a.connectors.get(number=2))
    load_rebalance(group_id=group.pk, now=NOW)
    MeterValue.objects.create(
        charge_point=world.cp_a,
        connector=slow.connector,
        session=slow,
        timestamp=NOW,
        measurand="Power.Active.Import",
        value=Decimal("4140"),
        unit="W",
    )
    transport.sent.clear()

    load_rebalance(group_id=group.pk, now=NOW + timedelta(seconds=30))

    # The slow car is lowered first (to its draw and headroom), then the other raised.
    [(_a, first, lowered), (_b, second, raised)] = tx_profiles(transport)
    assert (first, second) == (1, 2)
    assert lowered < 15.9 < raised


def test_priority_comes_from_the_customer_groups(world, transport):
    group = group_of(world, limit="5.0")  # room for one car's minimum
    online(world.cp_a)
    vip_account = make_account(world.org_a, "Board")
    members = CustomerGroup.objects.create(organization=world.org_a, name="Board", load_priority=5)
    CustomerGroupMembership.objects.create(customer_group=members, customer_account=vip_account)
    charging(world, world.cp_a.connectors.get(number=1), 60)
    vip = make_session(
        world.cp_a.connectors.get(number=2),
        make_tag(vip_account),
        started_at=NOW - timedelta(minutes=1),
        energy_wh=None,
    )

    load_rebalance(group_id=group.pk, now=NOW)

    assert ConnectorAllocation.objects.get(session=vip).status == "accepted"
    assert ConnectorAllocation.objects.get(connector__number=1, connector__charge_point=world.cp_a).status == "waiting"


def test_a_disabled_group_clears_its_profiles_and_lets_its_connectors_go(world, transport):
    group = group_of(world)
    online(world.cp_a)
    charging(world, world.cp_a.connectors.get(number=1))
    load_rebalance(group_id=group.pk, now=NOW)
    LoadGroup.objects.filter(pk=group.pk).update(enabled=False)
    transport.sent.clear()

    done = load_rebalance(group_id=group.pk, now=NOW)

    assert done.cleared == [world.cp_a.pk]
    assert [(action, payload) for _id, action, payload in transport.sent] == [
        ("ClearChargingProfile", {"charging_profile_purpose": "TxDefaultProfile", "stack_level": 1}),
        ("ClearChargingProfile", {"charging_profile_purpose": "TxProfile", "stack_level": 1}),
    ]
    assert not ConnectorAllocation.objects.exists()


def test_a_deleted_group_lets_go_of_the_chargers_it_managed_when_asked_before_the_delete(
    world, transport, django_capture_on_commit_callbacks, monkeypatch
):
    group = group_of(world)
    group.charge_points.add(world.cp_a)
    online(world.cp_a)
    queued = []
    monkeypatch.setattr(load_triggers, "load_rebalance_enqueue", lambda *args: queued.append(args))

    with django_capture_on_commit_callbacks(execute=True):
        load_triggers.load_rebalance_soon(group.pk)
        group.delete()
    [(group_id, release_ids)] = queued
    load_rebalance(group_id=group_id, release_ids=release_ids, now=NOW)

    assert [action for _id, action, _payload in transport.sent] == ["ClearChargingProfile", "ClearChargingProfile"]


def test_a_charger_named_by_a_group_belongs_to_it_not_to_the_sites_group(world, transport):
    whole_site = group_of(world)
    named = LoadGroup.objects.create(site=world.site_a, name="Visitors", limit=Decimal("11.0"))
    second_cp = make_charge_point(world.site_a, "ALPHA-2", connectors=1)
    named.charge_points.add(second_cp)

    assert load_management.load_group_charge_points(whole_site) == [world.cp_a]
    assert load_management.load_group_charge_points(named) == [second_cp]
    assert load_management.charge_point_group(second_cp) == named


def test_a_boot_reads_the_rate_units_and_sends_the_default_again(world, monkeypatch):
    group = group_of(world)
    online(world.cp_a)
    sent = []

    def charger(charge_point, action, payload, timeout=30):
        sent.append(action)
        if action == "GetConfiguration":
            return CommandResult(
                "answered",
                {"configuration_key": [{"key": "ChargingScheduleAllowedChargingRateUnit", "value": "Current,Power"}]},
            )
        return ACCEPTED

    monkeypatch.setattr(commands, "command_send", charger)
    load_rebalance(group_id=group.pk, now=NOW)
    sent.clear()

    assert load_charger_boot(charge_point_id=world.cp_a.pk) == "A,W"
    assert sent == ["GetConfiguration", "SetChargingProfile"]  # the default, though unchanged
    assert ChargePoint.objects.get(pk=world.cp_a.pk).charging_rate_units == "A,W"


def test_a_run_while_another_is_in_flight_makes_that_one_run_again(world, monkeypatch):
    from django.core.cache import cache

    runs = []

    def rebalance(*, group_id, release_ids, now=None):
        runs.append(group_id)
        if len(runs) == 1:  # a trigger arrives while the first run is in flight
            assert load_rebalance_run(group_id=group_id, release_ids=[7]) is False

    monkeypatch.setattr(load_management, "load_rebalance", rebalance)

    assert load_rebalance_run(group_id=3) is True
    assert runs == [3, 3]
    assert cache.get("load-management:run:3") is None


def test_a_trigger_between_a_runs_last_look_and_its_letting_go_is_run(world, monkeypatch):
    from django.core.cache import cache

    runs = []
    monkeypatch.setattr(load_management, "load_rebalance", lambda *, group_id, release_ids: runs.append(release_ids))
    delete = cache.delete

    def delete_late(key, *args, **kwargs):
        if key == "load-management:run:3" and len(runs) == 1:  # the run has looked for marks: none left
            assert load_rebalance_run(group_id=3, release_ids=[7]) is False  # the lock is still held
        return delete(key, *args, **kwargs)

    monkeypatch.setattr(cache, "delete", delete_late)

    assert load_rebalance_run(group_id=3) is True
    assert runs == [[], [7]]


def test_a_run_holds_its_lock_a_while_longer_after_each_answer(world, monkeypatch):
    """A run killed midway frees its group within LOCK_SECONDS of its last answer, not of its start."""
    from django.core.cache import cache

    group = group_of(world)
    online(world.cp_a)
    touched = []
    monkeypatch.setattr(cache, "touch", lambda key, timeout: touched.append((key, timeout)))
    monkeypatch.setattr(commands, "command_send", lambda *args: ACCEPTED)

    load_rebalance_run(group_id=group.pk)

    assert touched and set(touched) == {(f"load-management:run:{group.pk}", load_management.LOCK_SECONDS)}


def test_a_start_and_a_stop_queue_their_group_after_the_commit(world, django_capture_on_commit_callbacks, monkeypatch):
    group = group_of(world)
    queued = []
    monkeypatch.setattr(load_triggers, "load_rebalance_enqueue", lambda *args: queued.append(args))

    with django_capture_on_commit_callbacks(execute=True):
        load_triggers.load_changed([world.cp_a, world.cp_b])

    assert queued == [(group.pk, [])]


@pytest.fixture
def managed_draw(world, transport, monkeypatch):
    """A managed session whose share was decided with a 10 kW draw, a report of its readings (phase, W) and the
    rebalances queued."""
    from sessions_app.services import MeterValuesReport

    group = group_of(world)
    online(world.cp_a)
    session = charging(world, world.cp_a.connectors.get(number=1))
    load_rebalance(group_id=group.pk, now=NOW)
    queued: list = []
    monkeypatch.setattr(load_triggers, "load_rebalance_enqueue", lambda *args: queued.append(args))
    load_management.cache.set(load_management._draw_key(session.pk), 10000)

    def report(*values: tuple[str, str]) -> MeterValuesReport:
        sampled = [
            {"measurand": "Power.Active.Import", "unit": "W", "value": watts, **({"phase": phase} if phase else {})}
            for phase, watts in values
        ]
        return MeterValuesReport(world.cp_a, 1, session.pk, [{"timestamp": NOW, "sampled_value": sampled}])

    return group, report, queued


def test_a_draw_change_queues_the_group_and_a_steady_draw_does_not(managed_draw, django_capture_on_commit_callbacks):
    group, report, queued = managed_draw

    with django_capture_on_commit_callbacks(execute=True):
        load_triggers.load_draws_reported([report(("", "10300"))])  # less than an ampere per phase (690 W)
    assert queued == []
    with django_capture_on_commit_callbacks(execute=True):
        load_triggers.load_draws_reported([report(("", "4000"))])
    assert queued == [(group.pk, [])]


def test_a_draw_reported_per_phase_only_is_summed(managed_draw, django_capture_on_commit_callbacks):
    group, report, queued = managed_draw

    with django_capture_on_commit_callbacks(execute=True):
        load_triggers.load_draws_reported([report(("L1", "3400"), ("L2", "3400"), ("L3", "3400"))])  # 10.2 kW
    assert queued == []
    with django_capture_on_commit_callbacks(execute=True):
        load_triggers.load_draws_reported([report(("L1", "1400"), ("L2", "1400"), ("L3", "1400"))])  # 4.2 kW
    assert queued == [(group.pk, [])]


def test_the_site_meter_push_stores_the_reading_and_queues_the_group(world, carol_api, monkeypatch):
    group = group_of(world)
    queued = []
    monkeypatch.setattr(load_triggers, "load_rebalance_soon", queued.append)
    url = f"/api/v1/operator/load-groups/{group.pk}/meter/"

    answer = carol_api.post(url, {"power_kw": "7.5", "measured_at": "2026-06-03T11:59:00Z"}, format="json")

    assert answer.status_code == 201, answer.content
    reading = SiteMeterReading.objects.get(group=group)
    assert (reading.power_kw, reading.measured_at) == (Decimal("7.500"), datetime(2026, 6, 3, 11, 59, tzinfo=UTC))
    assert queued == [group.pk]


def test_another_operators_group_is_not_found_for_the_meter_push(world):
    from rest_framework.test import APIClient

    from accounts.api_tokens import api_token_create

    group = LoadGroup.objects.create(site=world.site_b, name="Mall", limit=Decimal("50"))
    _token, key = api_token_create(user=world.carol, name="Meter")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")

    answer = client.post(
        f"/api/v1/operator/load-groups/{group.pk}/meter/",
        {"power_kw": "1", "measured_at": "2026-06-03T11:59:00Z"},
        format="json",
    )

    assert answer.status_code == 404
    assert not SiteMeterReading.objects.exists()


def test_the_sweep_queues_every_enabled_group_and_disabled_ones_still_holding_allocations(
    world, transport, monkeypatch
):
    enabled = group_of(world)
    online(world.cp_a)
    charging(world, world.cp_a.connectors.get(number=1))
    load_rebalance(group_id=enabled.pk, now=NOW)
    let_go = LoadGroup.objects.create(site=world.site_b, name="Mall", limit=Decimal("50"), enabled=False)
    ConnectorAllocation.objects.filter(group=enabled).update(group=let_go)
    LoadGroup.objects.create(site=world.site_b, name="Idle", limit=Decimal("50"), enabled=False)
    queued = []
    monkeypatch.setattr(load_triggers, "load_rebalance_enqueue", lambda *args: queued.append(args))

    assert load_management.load_sweep() == 2
    assert queued == [(enabled.pk, []), (let_go.pk, [])]


def test_a_one_phase_car_on_a_three_phase_connector_keeps_its_amperes(world, transport):
    """It draws its ampere limit on one phase: a third of the watts a three-phase share means. Taken for a slow
    car, it would be held near its draw, ever lower, down to the minimum."""
    group = group_of(world, limit="22.0")
    online(world.cp_a)
    one_phase = charging(world, world.cp_a.connectors.get(number=1))
    charging(world, world.cp_a.connectors.get(number=2))
    load_rebalance(group_id=group.pk, now=NOW)
    given = ConnectorAllocation.objects.get(connector=one_phase.connector).limit_a
    MeterValue.objects.create(
        charge_point=world.cp_a,
        connector=one_phase.connector,
        session=one_phase,
        timestamp=NOW,
        measurand="Power.Active.Import",
        value=given * 230,
        unit="W",
    )

    for seconds in (30, 60, 90):
        load_rebalance(group_id=group.pk, now=NOW + timedelta(seconds=seconds))

    assert ConnectorAllocation.objects.get(connector=one_phase.connector).limit_a >= given
