"""Signed meter values end to end: an `ocpp`-package charger sends plain and OCMF-signed readings in MeterValues
and a signed end reading in StopTransaction's transactionData, to the real server; the driver finds them verified
on the session page and the signed data, with the meter's public key, in the export."""

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
import requests
from ocpp.v16 import call

from sessions_app.models import MeterValue, SignedMeterValue
from tests.e2e.ocpp_client import connected, iso
from tests.ocmf_data import Meter, tampered

pytestmark = pytest.mark.django_db(transaction=True)

REGISTER = "Energy.Active.Import.Register"


def _reading(at: datetime, wh: int, signed: str, context: str) -> dict:
    return {
        "timestamp": iso(at),
        "sampledValue": [
            {"value": str(wh), "context": context, "measurand": REGISTER, "unit": "Wh"},
            {"value": signed, "context": context, "measurand": REGISTER, "format": "SignedData"},
        ],
    }


def test_signed_readings_are_kept_once_verified_and_exported_to_the_driver(asgi_server, world, client):
    meter = Meter()
    world.cp_a.meter_public_key = meter.public_der_hex
    world.cp_a.save(update_fields=["meter_public_key"])
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    middle, end = start + timedelta(minutes=10), start + timedelta(minutes=20)
    periodic = meter.ocmf((middle, "T", "11.000"))
    forged = tampered(meter.ocmf((middle + timedelta(minutes=1), "T", "11.500")), '"RV":11.500', '"RV":11.900')
    final = meter.ocmf((start, "B", "10.000"), (end, "E", "12.345"))

    async def scenario():
        async with connected(asgi_server, "ALPHA-1") as charger:
            await charger.boot()
            started = await charger.call(
                call.StartTransaction(
                    connector_id=1, id_tag=world.alice_card.uid, meter_start=10000, timestamp=iso(start)
                )
            )
            meter_values = call.MeterValues(
                connector_id=1,
                transaction_id=started.transaction_id,
                meter_value=[
                    _reading(middle, 11000, periodic, "Sample.Periodic"),
                    _reading(middle + timedelta(minutes=1), 11900, forged, "Sample.Periodic"),
                ],
            )
            answers = [await charger.call(meter_values, suppress=False) for _ in range(2)]  # the second: resent
            stopped = await charger.call(
                call.StopTransaction(
                    transaction_id=started.transaction_id,
                    meter_stop=12345,
                    timestamp=iso(end),
                    transaction_data=[
                        {
                            "timestamp": iso(end),
                            "sampledValue": [
                                {
                                    "value": final,
                                    "context": "Transaction.End",
                                    "measurand": REGISTER,
                                    "format": "SignedData",
                                }
                            ],
                        }
                    ],
                ),
                suppress=False,
            )
            return started, answers, stopped

    started, answers, stopped = asyncio.run(scenario())

    assert all(answer is not None for answer in answers) and stopped is not None  # CALLRESULTs, no CALLERROR
    signed = {value.data: value for value in SignedMeterValue.objects.filter(session_id=started.transaction_id)}
    assert len(signed) == SignedMeterValue.objects.count() == 3  # the resent MeterValues stored nothing new
    assert signed[periodic].verification == SignedMeterValue.Verification.VERIFIED
    assert signed[forged].verification == SignedMeterValue.Verification.MISMATCH
    assert signed[final].verification == SignedMeterValue.Verification.VERIFIED
    assert signed[final].value_wh == 12345 and signed[final].context == "Transaction.End"
    assert MeterValue.objects.filter(session_id=started.transaction_id, measurand=REGISTER).count() == 2  # raw kept

    # The driver, signed in, reads the session page and the export from the real server.
    client.force_login(world.alice)
    http = requests.Session()
    http.cookies.update({name: morsel.value for name, morsel in client.cookies.items()})  # the sign-in's cookie
    base = asgi_server.replace("ws://", "http://")
    page = http.get(f"{base}/history/{started.transaction_id}/", timeout=10)
    assert page.status_code == 200
    assert 'id="signed-meter-values"' in page.text
    assert page.text.count("Verified") >= 2 and "Does not match" in page.text
    export = http.get(f"{base}/history/{started.transaction_id}/signed-meter-values.csv", timeout=10)
    assert export.status_code == 200
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert {row["signed_data"] for row in rows} == {periodic, forged, final}
    assert {row["public_key"] for row in rows} == {meter.public_der_hex}
    assert {row["signed_data"]: row["verification"] for row in rows}[final] == "verified"
