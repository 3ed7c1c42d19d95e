"""OCPP 2.0.1 end to end, first slice: the `ocpp` package's 2.0.1 client as the charger on the uvicorn server,
beside 1.6 on the same endpoint (boot, heartbeat, status, authorize)."""

import asyncio

import pytest
from ocpp.exceptions import NotSupportedError as OcppNotSupported
from ocpp.v201 import ChargePoint as OcppChargePoint201
from ocpp.v201 import call

from accounts.services import id_tag_block
from sessions_app.models import ChargePoint, Connector
from tests.e2e.ocpp_client import connected, iso

pytestmark = pytest.mark.django_db(transaction=True)


class Charger201(OcppChargePoint201):
    """A 2.0.1 charger that only sends (this slice has no commands for it)."""

    __test__ = False

    async def boot(self):
        station = {"vendor_name": "Test", "model": "E2E-201", "serial_number": "SN-201", "firmware_version": "2.0"}
        return await self.call(call.BootNotification(charging_station=station, reason="PowerUp"), suppress=False)

    async def authorize(self, token: str, token_type: str = "ISO14443") -> dict:
        answer = await self.call(call.Authorize(id_token={"id_token": token, "type": token_type}), suppress=False)
        return answer.id_token_info


def run(coroutine):
    return asyncio.run(coroutine)


def _connected_201(asgi_server, ocpp_id: str = "ALPHA-1", subprotocols=("ocpp2.0.1",)):
    return connected(asgi_server, ocpp_id, subprotocols=subprotocols, charger_class=Charger201)  # type: ignore[arg-type]


def test_a_2_0_1_charger_boots_heartbeats_and_its_version_is_stored(asgi_server, world):
    ChargePoint.objects.filter(pk=world.cp_a.pk).update(heartbeat_interval=120)

    async def scenario():
        async with _connected_201(asgi_server, subprotocols=("ocpp1.6", "ocpp2.0.1")) as charger:
            chosen = charger._connection.subprotocol
            boot = await charger.boot()
            heartbeat = await charger.call(call.Heartbeat(), suppress=False)
            return chosen, boot, heartbeat

    chosen, boot, heartbeat = run(scenario())

    assert chosen == "ocpp2.0.1"
    assert boot.status == "Accepted" and boot.interval == 120
    assert heartbeat.current_time
    cp = ChargePoint.objects.get(pk=world.cp_a.pk)
    assert cp.ocpp_protocol == ChargePoint.OcppProtocol.OCPP201
    assert (cp.vendor, cp.model, cp.serial_number, cp.firmware_version) == ("Test", "E2E-201", "SN-201", "2.0")
    assert cp.last_boot_at is not None


def test_a_pending_2_0_1_charger_is_told_pending(asgi_server, world):
    ChargePoint.objects.filter(pk=world.cp_a.pk).update(registration_status=ChargePoint.RegistrationStatus.PENDING)

    async def scenario():
        async with _connected_201(asgi_server) as charger:
            return (await charger.boot()).status

    assert run(scenario()) == "Pending"


def test_a_2_0_1_status_notification_changes_the_connector(asgi_server, world):
    async def scenario():
        async with _connected_201(asgi_server) as charger:
            for status in ("Occupied", "Unavailable"):
                await charger.call(
                    call.StatusNotification(timestamp=iso(), connector_status=status, evse_id=2, connector_id=1),
                    suppress=False,
                )

    run(scenario())

    assert Connector.objects.get(charge_point=world.cp_a, number=2).status == "Unavailable"
    assert Connector.objects.get(charge_point=world.cp_a, number=1).status == "Unknown"


def test_a_2_0_1_authorize_is_accepted_invalid_or_blocked(asgi_server, world):
    id_tag_block(id_tag=world.bob_card)

    async def scenario():
        async with _connected_201(asgi_server) as charger:
            return [
                await charger.authorize(world.alice_card.uid.lower()),
                await charger.authorize("DEADBEEF"),
                await charger.authorize(world.bob_card.uid, "ISO15693"),
            ]

    accepted, invalid, blocked = run(scenario())

    assert [accepted["status"], invalid["status"], blocked["status"]] == ["Accepted", "Invalid", "Blocked"]


def test_a_2_0_1_action_not_handled_yet_is_not_supported_and_the_connection_stays(asgi_server, world):
    async def scenario():
        async with _connected_201(asgi_server) as charger:
            with pytest.raises(OcppNotSupported):
                await charger.call(
                    call.Get15118EVCertificate(
                        iso15118_schema_version="urn:iso:15118:2:2013:MsgDef", action="Install", exi_request="AA=="
                    ),
                    suppress=False,
                )
            return (await charger.call(call.Heartbeat(), suppress=False)).current_time

    assert run(scenario())


def test_the_same_charger_back_on_1_6_is_stored_as_1_6(asgi_server, world):
    async def scenario():
        async with _connected_201(asgi_server) as charger:
            await charger.boot()
        async with connected(asgi_server, "ALPHA-1") as charger:
            return charger._connection.subprotocol, (await charger.boot()).status

    assert run(scenario()) == ("ocpp1.6", "Accepted")
    assert ChargePoint.objects.get(pk=world.cp_a.pk).ocpp_protocol == ChargePoint.OcppProtocol.OCPP16
