"""Load management over OCPP 2.0.1, end to end: the ``ocpp`` package's v201 client that obeys charging profiles
shares a site's limit with a 1.6 one (``ObedientCharger``), against the served project. One allocator for both:
the 2.0.1 charger is told the same figures in 2.0.1's SetChargingProfile (per EVSE, the schedule in a list, its
transaction by the charger's own id), which its client checks against the 2.0.1 schemas before answering; a car's
draw reported in a TransactionEvent counts as one in MeterValues; a charger leaving management is cleared in 2.0.1.
"""

import asyncio

import pytest
from django.core.cache import cache
from ocpp.routing import on
from ocpp.v201 import ChargePoint as OcppChargePoint201
from ocpp.v201 import call, call_result
from ocpp.v201.enums import Action

from sessions_app.load_management import load_rebalance_run
from sessions_app.models import ChargerCommand, ChargingSession, ConnectorAllocation, LoadGroup
from tests.e2e.ocpp_client import connected, iso
from tests.e2e.test_load_management import WAIT, ObedientCharger, group
from tests.e2e.test_ocpp_commands import needs_redis
from tests.factories import make_charge_point
from tests.threads import in_thread

pytestmark = [pytest.mark.django_db(transaction=True), needs_redis]

V201 = ("ocpp2.0.1",)


class Obedient201(OcppChargePoint201):
    """A 2.0.1 charger advertising ``rate_unit`` (SmartChargingCtrlr.RateUnit) that holds each EVSE to its
    TxProfile (else the TxDefaultProfile on EVSE 0) and clears what it is told to."""

    __test__ = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rate_unit = "A"
        self.default: float | None = None
        self.unit_read = False
        self.default_in_unit = False  # a default came after the rate unit was read (the boot's, or one after it)
        self.limits: dict[int, float] = {}  # EVSE -> its TxProfile's limit
        self.profiles: list[tuple[int, dict]] = []  # (evseId, chargingProfile) as received
        self.received: list[tuple[str, int, float]] = []  # (charger, EVSE, limit) of each TxProfile: may be shared
        self.cleared: list[dict] = []
        self.changed = asyncio.Condition()
        self.seq_no = 0

    @on(Action.get_variables)
    async def on_get_variables(self, get_variable_data):
        self.unit_read = True

        def result(asked):
            known = (asked["component"]["name"], asked["variable"]["name"]) == ("SmartChargingCtrlr", "RateUnit")
            return {
                "attribute_status": "Accepted" if known else "UnknownVariable",
                "attribute_value": self.rate_unit if known else None,
                "component": asked["component"],
                "variable": asked["variable"],
            }

        return call_result.GetVariables(get_variable_result=[result(asked) for asked in get_variable_data])

    @on(Action.set_charging_profile)
    async def on_set_charging_profile(self, evse_id, charging_profile):
        (schedule,) = charging_profile["charging_schedule"]
        limit = float(schedule["charging_schedule_period"][0]["limit"])
        async with self.changed:
            self.profiles.append((evse_id, charging_profile))
            if charging_profile["charging_profile_purpose"] == "TxDefaultProfile":
                self.default, self.default_in_unit = limit, self.unit_read
            else:
                self.received.append((self.id, evse_id, limit))
                self.limits[evse_id] = limit
            self.changed.notify_all()
        return call_result.SetChargingProfile(status="Accepted")

    @on(Action.clear_charging_profile)
    async def on_clear_charging_profile(self, **criteria):
        async with self.changed:
            self.cleared.append(criteria)
            self.changed.notify_all()
        return call_result.ClearChargingProfile(status="Accepted")

    async def until(self, check) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(check), WAIT)

    async def boot(self):
        return await self.call(
            call.BootNotification(charging_station={"vendor_name": "Test", "model": "E2E-201"}, reason="PowerUp"),
            suppress=False,
        )

    async def transaction_event(self, kind: str, transaction_id: str, sampled: list[dict], **fields):
        """One event of the transaction on EVSE 1, its readings taken now."""
        self.seq_no += 1
        return await self.call(
            call.TransactionEvent(
                event_type=kind,
                timestamp=iso(),
                trigger_reason=fields.pop("trigger_reason", "MeterValuePeriodic"),
                seq_no=self.seq_no,
                transaction_info={"transaction_id": transaction_id, **fields.pop("info", {})},
                meter_value=[{"timestamp": iso(), "sampled_value": sampled}],
                **fields,
            ),
            suppress=False,
        )

    async def start_charging(self, transaction_id: str, id_tag: str):
        register = {"value": 1000, "context": "Transaction.Begin", "measurand": "Energy.Active.Import.Register"}
        return await self.transaction_event(
            "Started",
            transaction_id,
            [register],
            trigger_reason="Authorized",
            id_token={"id_token": id_tag, "type": "ISO14443"},
            evse={"id": 1, "connector_id": 1},
        )


async def kept(ocpp_id: str, limit_a: str) -> None:
    """Wait until the server keeps the share a charger accepted for its session (the row is written once the
    charger answered, so after the charger has its profile)."""

    def found() -> bool:
        return ConnectorAllocation.objects.filter(
            connector__charge_point__ocpp_id=ocpp_id, session__isnull=False, status="accepted", limit_a=limit_a
        ).exists()

    async with asyncio.timeout(WAIT):
        while not await in_thread(found):
            await asyncio.sleep(0.05)


async def settled(group_id: int) -> None:
    """Wait until no run of the group is in flight or due again (``load_management.load_rebalance_run``'s lock)."""

    def idle() -> bool:
        return not cache.get_many([f"load-management:run:{group_id}", f"load-management:again:{group_id}"])

    async with asyncio.timeout(WAIT):
        while not await in_thread(idle):
            await asyncio.sleep(0.05)


def test_a_201_charger_shares_the_limit_with_a_16_one_in_the_same_figures(asgi_server, world):
    group(world, "33.0")  # ALPHA-1 (1.6, two connectors) and ALPHA-2 (2.0.1, one EVSE): 22 kW, three phases each
    newer = make_charge_point(world.site_a, "ALPHA-2", connectors=1)

    async def scenario():
        async with (
            connected(asgi_server, "ALPHA-1", charger_class=ObedientCharger) as old,
            connected(asgi_server, "ALPHA-2", subprotocols=V201, charger_class=Obedient201) as new,  # type: ignore[arg-type]
        ):
            old.received = new.received = received = []
            await old.boot()
            await new.boot()
            await old.until(lambda: old.default is not None)
            await new.until(lambda: new.default_in_unit)
            await old.start_charging(1, world.alice_card.uid)
            await old.until(lambda: old.limits.get(1) == 31.8)  # alone: its 22 kW maximum
            steps = [len(received)]
            answer = await new.start_charging("tx-201", world.bob_card.uid)
            await new.until(lambda: new.limits.get(1) == 23.9)  # 16.5 kW each
            steps.append(len(received))
            await old.start_charging(2, world.alice_card.uid)
            await old.until(lambda: old.limits.get(2) == 15.9)  # 11 kW each
            steps.append(len(received))
            await new.transaction_event(
                "Ended",
                "tx-201",
                [{"value": 9000, "context": "Transaction.End", "measurand": "Energy.Active.Import.Register"}],
                trigger_reason="EVCommunicationLost",
                info={"stopped_reason": "EVDisconnected"},
            )
            await old.until(lambda: old.limits == {1: 23.9, 2: 23.9})
            steps.append(len(received))
            return answer, new.default, new.profiles, [received[a:b] for a, b in zip(steps, steps[1:], strict=False)]

    answer, default, profiles, exchanges = asyncio.run(scenario())

    assert answer.id_token_info["status"] == "Accepted"
    # The safe default, as the 1.6 charger's: 33 kW over the site's three connectors, 11 kW each: 15.9 A per phase.
    assert default == 15.9
    # The 2.0.1 car's arrival lowered the 1.6 car first; a 1.6 car's arrival lowered the 2.0.1 car before its own
    # share went; the 2.0.1 car's end gave the two 1.6 cars their 16.5 kW each.
    assert exchanges == [
        [("ALPHA-1", 1, 23.9), ("ALPHA-2", 1, 23.9)],
        [("ALPHA-1", 1, 15.9), ("ALPHA-2", 1, 15.9), ("ALPHA-1", 2, 15.9)],
        [("ALPHA-1", 1, 23.9), ("ALPHA-1", 2, 23.9)],
    ]
    # Valid 2.0.1 profiles (the client checked them against the schemas), in amperes, the TxProfile naming the
    # charger's own transaction. (A charger connecting is given a default before its boot too: amperes.)
    defaults = [
        (evse, profile) for evse, profile in profiles if profile["charging_profile_purpose"] == "TxDefaultProfile"
    ]
    assert {evse for evse, _profile in defaults} == {0}
    assert all("transaction_id" not in profile for _evse, profile in defaults)
    tx_evse, tx_profile = next((evse, p) for evse, p in profiles if p["charging_profile_purpose"] == "TxProfile")
    assert tx_evse == 1
    assert (tx_profile["transaction_id"], tx_profile["charging_profile_kind"]) == ("tx-201", "Relative")
    assert tx_profile["charging_schedule"] == [
        {
            "id": tx_profile["id"],
            "charging_rate_unit": "A",
            "charging_schedule_period": [{"start_period": 0, "limit": 23.9, "number_phases": 3}],
        }
    ]
    # On the 2.0.1 charger's command history as sent: the rate unit read, each profile accepted.
    history = list(ChargerCommand.objects.filter(charge_point=newer).order_by("sent_at"))
    read = [row for row in history if row.action == "GetVariables"]
    assert [(row.outcome, row.request["get_variable_data"][0]["variable"]["name"]) for row in read] == [
        ("answered", "RateUnit")
    ]
    sent = [row for row in history if row.action == "SetChargingProfile"]
    assert {(row.outcome, row.status) for row in sent} == {("answered", "Accepted")}
    assert [
        (row.request["evse_id"], row.request["charging_profile"]["charging_schedule"][0]["charging_schedule_period"])
        for row in sent
        if row.request["charging_profile"]["charging_profile_purpose"] == "TxProfile"
    ] == [
        (1, [{"start_period": 0, "limit": 23.9, "number_phases": 3}]),
        (1, [{"start_period": 0, "limit": 15.9, "number_phases": 3}]),
    ]
    assert len(history) == len(read) + len(sent)
    newer.refresh_from_db()
    assert newer.charging_rate_units == "A"
    assert ChargingSession.objects.get(charger_transaction_id="tx-201").state == "completed"


def test_a_201_charger_that_takes_watts_is_given_watts(asgi_server, world):
    group(world, "33.0")
    make_charge_point(world.site_a, "ALPHA-2", connectors=1)

    async def scenario():
        async with (
            connected(asgi_server, "ALPHA-1", charger_class=ObedientCharger) as old,
            connected(asgi_server, "ALPHA-2", subprotocols=V201, charger_class=Obedient201) as new,  # type: ignore[arg-type]
        ):
            new.rate_unit = "W"
            await old.boot()
            await new.boot()
            await new.until(lambda: new.default == 10971)  # after the boot read "W"
            await old.start_charging(1, world.alice_card.uid)
            await new.start_charging("tx-watts", world.bob_card.uid)
            await new.until(lambda: new.limits.get(1) is not None)
            await old.until(lambda: old.limits.get(1) == 23.9)
            return new.default, new.limits, new.profiles

    default, limits, profiles = asyncio.run(scenario())

    # The same shares in watts, from the amperes (so within them): 15.9 A and 23.9 A on three phases of 230 V.
    assert default == 10971
    assert limits == {1: 16491}
    (tx_profile,) = [profile for _evse, profile in profiles if profile["charging_profile_purpose"] == "TxProfile"]
    assert tx_profile["charging_schedule"][0]["charging_rate_unit"] == "W"


def test_a_201_car_drawing_little_leaves_the_rest_to_the_other(asgi_server, world):
    group(world, "33.0")
    make_charge_point(world.site_a, "ALPHA-2", connectors=1)

    async def scenario():
        async with (
            connected(asgi_server, "ALPHA-1", charger_class=ObedientCharger) as old,
            connected(asgi_server, "ALPHA-2", subprotocols=V201, charger_class=Obedient201) as new,  # type: ignore[arg-type]
        ):
            await old.boot()
            await new.boot()
            await new.until(lambda: new.default_in_unit)
            await old.start_charging(1, world.alice_card.uid)
            await new.start_charging("tx-slow", world.bob_card.uid)
            await old.until(lambda: old.limits.get(1) == 23.9)
            await new.until(lambda: new.limits.get(1) == 23.9)
            await kept("ALPHA-2", "23.9")  # a draw is weighed against the share kept
            # The car takes 6 A a phase of its 23.9 A: the routine Updated event's power reading says so.
            power = {"value": 4140, "measurand": "Power.Active.Import", "unit_of_measure": {"unit": "W"}}
            await new.transaction_event("Updated", "tx-slow", [power])
            await new.until(lambda: new.limits.get(1) == 7.0)
            await old.until(lambda: old.limits.get(1) == 31.8)
            return new.limits, old.limits

    slow, other = asyncio.run(scenario())

    # Capped just above its draw (4140 W + 1 A a phase: 7.0 A); the other car takes its 22 kW maximum.
    assert slow == {1: 7.0}
    assert other == {1: 31.8}


def test_a_201_transaction_whose_evse_comes_later_is_given_its_share_then(asgi_server, world):
    """2.0.1 may start a transaction at the card, before the cable: its EVSE comes in a later (routine) event.
    (The served project's own sweep may share the group at any time too: tests/sessions_app/test_transaction_events.py
    shows that the event itself does.)"""
    garage = group(world, "33.0")
    make_charge_point(world.site_a, "ALPHA-2", connectors=1)

    async def scenario():
        async with (
            connected(asgi_server, "ALPHA-1", charger_class=ObedientCharger) as old,
            connected(asgi_server, "ALPHA-2", subprotocols=V201, charger_class=Obedient201) as new,  # type: ignore[arg-type]
        ):
            await old.boot()
            await new.boot()
            await new.until(lambda: new.default_in_unit)
            register = {"value": 1000, "context": "Transaction.Begin", "measurand": "Energy.Active.Import.Register"}
            card = {"id_token": world.bob_card.uid, "type": "ISO14443"}
            await new.transaction_event("Started", "tx-later", [register], trigger_reason="Authorized", id_token=card)
            # Shared after that start: on no EVSE yet, it is not counted and the 1.6 car has its 22 kW maximum.
            await old.start_charging(1, world.alice_card.uid)
            await old.until(lambda: old.limits.get(1) == 31.8)
            await settled(garage.pk)  # nothing left to share the group again but what follows
            plugged = {"value": 1000, "measurand": "Energy.Active.Import.Register"}
            await new.transaction_event(
                "Updated", "tx-later", [plugged], trigger_reason="CablePluggedIn", evse={"id": 1, "connector_id": 1}
            )
            await old.until(lambda: old.limits.get(1) == 23.9)
            await new.until(lambda: new.limits.get(1) == 23.9)
            return old.limits, new.limits

    assert asyncio.run(scenario()) == ({1: 23.9}, {1: 23.9})


def test_a_201_charger_leaving_management_has_its_profiles_cleared(asgi_server, world):
    garage = group(world, "66.0")  # less offline ALPHA-1's 44 kW: 22 kW for ALPHA-2
    make_charge_point(world.site_a, "ALPHA-2", connectors=1)

    def disable() -> None:
        """The group disabled, then shared again (when a run is in flight, that one runs once more)."""
        LoadGroup.objects.filter(pk=garage.pk).update(enabled=False)
        load_rebalance_run(group_id=garage.pk)

    async def scenario():
        async with connected(asgi_server, "ALPHA-2", subprotocols=V201, charger_class=Obedient201) as new:  # type: ignore[arg-type]
            await new.boot()
            await new.until(lambda: new.default_in_unit)
            await new.start_charging("tx-let-go", world.bob_card.uid)
            await new.until(lambda: new.limits.get(1) == 31.8)
            await in_thread(disable)
            await new.until(lambda: len(new.cleared) == 2)
            return new.cleared

    cleared = asyncio.run(scenario())

    # Our two purposes at our stack level, as 2.0.1's criteria (no EVSE: the whole station).
    assert cleared == [
        {"charging_profile_criteria": {"charging_profile_purpose": purpose, "stack_level": 1}}
        for purpose in ("TxDefaultProfile", "TxProfile")
    ]
