"""Load management for real: the ``ocpp`` package's 1.6 clients that obey charging profiles, against the served
project. The server shares the site's limit on its own (a start, a boot), the clients keep the limit they were last
given per connector (a TxProfile, else the TxDefaultProfile on connector 0) and the test waits for the shares it
expects.
"""

import asyncio
from decimal import Decimal

import pytest
from ocpp.routing import on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action

from sessions_app.models import ChargerCommand, ConnectorAllocation, LoadGroup
from tests.e2e.ocpp_client import TestCharger, connected, iso
from tests.e2e.test_ocpp_commands import needs_redis
from tests.factories import make_charge_point
from tests.threads import in_thread

pytestmark = [pytest.mark.django_db(transaction=True), needs_redis]

#: How long a test waits for the server to send the shares it expects (not a timing assertion: a bound).
WAIT = 30


class ObedientCharger(TestCharger):
    """Takes charging profiles in amperes, as a charger advertising only "Current" does, and holds each connector to
    its TxProfile (else its TxDefaultProfile); answers TxProfiles with ``tx_answer``."""

    __test__ = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.tx_answer = "Accepted"
        self.default: float | None = None
        self.limits: dict[int, float] = {}  # connector -> its TxProfile's limit (A per phase)
        self.received: list[tuple[str, int, float]] = []  # (charger, connector, limit) of each TxProfile: may be shared
        self.changed = asyncio.Condition()

    @on(Action.get_configuration)
    async def on_get_configuration(self, key=None):
        return call_result.GetConfiguration(
            configuration_key=[{"key": "ChargingScheduleAllowedChargingRateUnit", "readonly": True, "value": "Current"}]
        )

    @on(Action.set_charging_profile)
    async def on_set_charging_profile(self, connector_id, cs_charging_profiles):
        limit = float(cs_charging_profiles["charging_schedule"]["charging_schedule_period"][0]["limit"])
        self.commands.append(("SetChargingProfile", {"connector_id": connector_id, **cs_charging_profiles}))
        purpose = cs_charging_profiles["charging_profile_purpose"]
        if purpose == "TxProfile":
            self.received.append((self.id, connector_id, limit))
        if purpose == "TxProfile" and self.tx_answer != "Accepted":
            return call_result.SetChargingProfile(status=self.tx_answer)
        async with self.changed:
            if purpose == "TxDefaultProfile":
                self.default = limit
            else:
                self.limits[connector_id] = limit
            self.changed.notify_all()
        return call_result.SetChargingProfile(status="Accepted")

    def limit(self, connector: int) -> float | None:
        return self.limits.get(connector, self.default)

    async def until(self, check) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(check), WAIT)

    async def start_charging(self, connector: int, id_tag: str) -> int:
        started = await self.call(
            call.StartTransaction(connector_id=connector, id_tag=id_tag, meter_start=0, timestamp=iso()),
            suppress=False,
        )
        return started.transaction_id


def group(world, limit: str) -> LoadGroup:
    """The whole of site A shares ``limit`` kW (ALPHA-1: two connectors of 22 kW, three phases, 230 V)."""
    return LoadGroup.objects.create(site=world.site_a, name="Garage", limit=Decimal(limit))


def test_a_third_car_lowers_the_first_two_within_one_exchange(asgi_server, world):
    group(world, "33.0")
    make_charge_point(world.site_a, "ALPHA-2", connectors=1)

    async def scenario():
        async with (
            connected(asgi_server, "ALPHA-1", charger_class=ObedientCharger) as first,
            connected(asgi_server, "ALPHA-2", charger_class=ObedientCharger) as second,
        ):
            first.received = second.received = received = []
            await first.boot()
            await second.boot()
            await first.until(lambda: first.default is not None)
            await second.until(lambda: second.default is not None)
            await first.start_charging(1, world.alice_card.uid)
            await first.start_charging(2, world.bob_card.uid)
            await first.until(lambda: first.limits.get(1) == 23.9 and first.limits.get(2) == 23.9)  # 16.5 kW each
            before = len(received)
            await second.start_charging(1, world.alice_card.uid)
            await second.until(lambda: second.limits.get(1) == 15.9)
            return first.default, first.limits, received[before:]

    default, limits, since_third = asyncio.run(scenario())

    # The safe default: 33 kW over the site's three connectors, 11 kW each: 15.9 A per phase.
    assert default == 15.9
    # The third car's arrival lowered both to 11 kW (15.9 A), one profile each, sent before the third's share.
    assert limits == {1: 15.9, 2: 15.9}
    assert since_third == [("ALPHA-1", 1, 15.9), ("ALPHA-1", 2, 15.9), ("ALPHA-2", 1, 15.9)]


def test_an_offline_chargers_share_is_reserved(asgi_server, world):
    group(world, "44.0")
    offline = make_charge_point(world.site_a, "ALPHA-2", connectors=1)  # never connects: 22 kW kept for it

    async def scenario():
        async with connected(asgi_server, "ALPHA-1", charger_class=ObedientCharger) as charger:
            await charger.boot()
            await charger.start_charging(1, world.alice_card.uid)
            await charger.start_charging(2, world.bob_card.uid)
            await charger.until(lambda: charger.limits.get(1) == 15.9 and charger.limits.get(2) == 15.9)
            return charger.limits

    limits = asyncio.run(scenario())

    # 44 kW less ALPHA-2's 22 kW: 11 kW each (without the reservation both would have their 22 kW maximum).
    assert limits == {1: 15.9, 2: 15.9}
    reserved = ConnectorAllocation.objects.get(connector__charge_point=offline)
    assert (reserved.status, reserved.limit_w) == ("offline", 22000)


def test_a_rejected_profile_is_reported_and_counted_at_its_maximum(asgi_server, world):
    group(world, "33.0")
    refusing = make_charge_point(world.site_a, "ALPHA-2", connectors=1)

    async def scenario():
        async with (
            connected(asgi_server, "ALPHA-1", charger_class=ObedientCharger) as first,
            connected(asgi_server, "ALPHA-2", charger_class=ObedientCharger) as second,
        ):
            second.tx_answer = "Rejected"
            await first.boot()
            await second.boot()
            await second.until(lambda: second.default is not None)
            await first.start_charging(1, world.alice_card.uid)
            await first.until(lambda: first.limits.get(1) == 31.8)  # alone: its 22 kW maximum
            await second.start_charging(1, world.bob_card.uid)
            # 16.5 kW each first; ALPHA-2 refuses, so it counts at 22 kW and ALPHA-1 keeps 11 kW.
            await first.until(lambda: first.limits.get(1) == 15.9)
            return first.limits

    limits = asyncio.run(scenario())

    assert limits == {1: 15.9}
    rejected = ConnectorAllocation.objects.get(connector__charge_point=refusing)
    assert (rejected.status, rejected.limit_w) == ("rejected", 22000)
    answers = ChargerCommand.objects.filter(charge_point=refusing, action="SetChargingProfile")
    assert "Rejected" in {row.status for row in answers}


def test_a_charger_going_offline_and_back_is_counted_then_shared_again_without_a_boot(asgi_server, world):
    """No sweep runs here: the connection closing, and opening again without a BootNotification, share the group."""
    group(world, "33.0")
    make_charge_point(world.site_a, "ALPHA-2", connectors=1)

    async def scenario():
        async with connected(asgi_server, "ALPHA-1", charger_class=ObedientCharger) as charging:
            async with connected(asgi_server, "ALPHA-2", charger_class=ObedientCharger) as leaving:
                await charging.boot()
                await leaving.boot()
                await leaving.until(lambda: leaving.default is not None)
                await charging.start_charging(1, world.alice_card.uid)
                await charging.until(lambda: charging.limits.get(1) == 31.8)  # alone: its 22 kW maximum
            # ALPHA-2's socket closed: its 22 kW are reserved, 11 kW left for the car.
            await charging.until(lambda: charging.limits.get(1) == 15.9)
            offline = await in_thread(
                lambda: ConnectorAllocation.objects.get(connector__charge_point__ocpp_id="ALPHA-2").status
            )
            async with connected(asgi_server, "ALPHA-2", charger_class=ObedientCharger):  # back, no boot
                await charging.until(lambda: charging.limits.get(1) == 31.8)
            return offline

    assert asyncio.run(scenario()) == "offline"
