"""Id tags that are no RFID UID, end to end: the `ocpp` package's client as the charger, uvicorn serving the
real application. The package checks the charger's side of OCPP 1.6 (idTag a CiString20) as well."""

import asyncio

import pytest
from ocpp.v16 import call

from accounts.models import IdTag
from sessions_app.models import ChargingSession
from tests.e2e.ocpp_client import connected, iso
from tests.factories import make_tag

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_app_token_and_an_emaid_charge_in_any_letter_case(asgi_server, world):
    app = make_tag(world.alice.customer_account, world.alice, uid="APP-7F3K9Q2Z", kind=IdTag.Kind.APP_TOKEN)
    emaid = make_tag(world.bob.customer_account, world.bob, uid="SE-CPO-C12345678-9", kind=IdTag.Kind.EMAID)

    async def scenario():
        async with connected(asgi_server, "ALPHA-1") as charger:
            await charger.boot()
            authorized = [
                (await charger.call(call.Authorize(id_tag=tag))).id_tag_info["status"]
                for tag in ("APP-7F3K9Q2Z", "app-7f3k9q2z", "se-cpo-c12345678-9", "APP7F3K9Q2Z")
            ]
            started = [
                await charger.call(call.StartTransaction(connector_id=n, id_tag=tag, meter_start=0, timestamp=iso()))
                for n, tag in ((1, "app-7F3K9Q2Z"), (2, "SE-CPO-C12345678-9"))
            ]
            return authorized, started

    authorized, started = asyncio.run(scenario())
    assert authorized == ["Accepted", "Accepted", "Accepted", "Invalid"]  # separators count for all but RFID
    assert [start.id_tag_info["status"] for start in started] == ["Accepted", "Accepted"]
    sessions = [ChargingSession.objects.get(pk=start.transaction_id) for start in started]
    assert [(session.id_tag, session.id_tag_uid) for session in sessions] == [
        (app, "app-7F3K9Q2Z"),
        (emaid, "SE-CPO-C12345678-9"),
    ]
