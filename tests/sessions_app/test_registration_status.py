"""An operator's change of a charger's registration status applies at once, not at its next reboot."""

import asyncio
from datetime import UTC, datetime

import pytest
from channels.db import database_sync_to_async

from sessions_app.models import ChargePoint, ChargingSession
from tests.sessions_app.websocket import ChargerSocket

pytestmark = pytest.mark.django_db(transaction=True)


def set_status(charge_point: ChargePoint, status: str) -> None:
    ChargePoint.objects.filter(pk=charge_point.pk).update(registration_status=status)


@pytest.mark.parametrize("status", [ChargePoint.RegistrationStatus.REJECTED, ChargePoint.RegistrationStatus.PENDING])
def test_a_charger_rejected_while_connected_stops_authorizing_cards_at_once(world, status):
    uid = world.alice_card.uid
    start = {"connectorId": 1, "idTag": uid, "meterStart": 0, "timestamp": datetime.now(UTC).isoformat()}

    async def scenario():
        async with ChargerSocket("ALPHA-1") as charger:
            before = await charger.call("Authorize", {"idTag": uid})
            await database_sync_to_async(set_status)(world.cp_a, status)  # as the operator does in the admin
            after = await charger.call("Authorize", {"idTag": uid})
            started = await charger.call("StartTransaction", start)
            await database_sync_to_async(set_status)(world.cp_a, ChargePoint.RegistrationStatus.ACCEPTED)
            again = await charger.call("Authorize", {"idTag": uid})
        return before, after, started, again

    before, after, started, again = asyncio.run(scenario())
    assert before[2]["idTagInfo"]["status"] == "Accepted"
    assert after[2]["idTagInfo"]["status"] == "Invalid"
    assert started[2]["idTagInfo"]["status"] == "Invalid"
    assert ChargingSession.objects.get(pk=started[2]["transactionId"]).auth_status == "Invalid"
    assert again[2]["idTagInfo"]["status"] == "Accepted"  # and accepting it again applies at once too
