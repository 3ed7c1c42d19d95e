"""Tags that are no RFID UID (app tokens, eMAIDs) are accepted over OCPP at Authorize and StartTransaction,
in any letter case, and the session keeps the tag as the charger sent it."""

import asyncio
from datetime import UTC, datetime

import pytest

from accounts.models import IdTag
from sessions_app.models import ChargingSession
from tests.factories import make_tag
from tests.sessions_app.websocket import ChargerSocket

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("kind", "uid", "presented"),
    [
        (IdTag.Kind.APP_TOKEN, "APP-7F3K9Q2Z", "APP-7F3K9Q2Z"),
        (IdTag.Kind.EMAID, "SE-CPO-C12345678-9", "se-cpo-c12345678-9"),  # a CiString: case does not count
    ],
)
def test_a_non_hex_tag_is_accepted_at_authorize_and_start_transaction(world, kind, uid, presented):
    tag = make_tag(world.alice.customer_account, world.alice, uid=uid, kind=kind)
    start = {"connectorId": 1, "idTag": presented, "meterStart": 0, "timestamp": datetime.now(UTC).isoformat()}

    async def scenario():
        async with ChargerSocket("ALPHA-1") as charger:
            authorized = await charger.call("Authorize", {"idTag": presented})
            started = await charger.call("StartTransaction", start)
        return authorized, started

    authorized, started = asyncio.run(scenario())
    assert authorized[2]["idTagInfo"]["status"] == "Accepted"
    assert started[2]["idTagInfo"]["status"] == "Accepted"
    session = ChargingSession.objects.get(pk=started[2]["transactionId"])
    assert (session.id_tag, session.id_tag_uid, session.auth_status) == (tag, presented, "Accepted")


def test_a_non_hex_tag_is_not_matched_with_its_separators_stripped(world):
    make_tag(world.alice.customer_account, world.alice, uid="APP-7F3K9Q2Z", kind=IdTag.Kind.APP_TOKEN)

    async def scenario():
        async with ChargerSocket("ALPHA-1") as charger:
            return await charger.call("Authorize", {"idTag": "APP7F3K9Q2Z"})

    assert asyncio.run(scenario())[2]["idTagInfo"]["status"] == "Invalid"
