"""What a charger sends is stored within bounds: readings that cannot be numbers in a meter are refused,
not dropped silently, and vendor data is kept up to a size an operator can read."""

import asyncio
import json
from datetime import UTC, datetime

import pytest
from django.utils import timezone

from sessions_app.models import ChargerEvent, ChargingSession, Connector, MeterValue, SessionFlag, StatusEvent
from sessions_app.services import (
    MeterValuesReport,
    charger_event_record,
    meter_value_unstorable,
    meter_values_record_many,
    session_start,
    session_stop,
)
from tests.sessions_app.websocket import ChargerSocket

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _reading(*sampled: dict) -> list[dict]:
    return [{"timestamp": T0, "sampled_value": list(sampled)}]


@pytest.mark.parametrize(
    "value",
    ["NaN", "nan", "sNaN", "Infinity", "-Infinity", "inf", "1e400", "-1E+400", "100000000000000", "1e999999999"],
)
def test_a_reading_that_is_no_finite_storable_number_is_named(value):
    problem = meter_value_unstorable(_reading({"value": "1000"}, {"value": value, "measurand": "Voltage"}))
    assert problem is not None and value[:10] in problem


def test_a_kwh_reading_is_judged_in_wh():
    assert meter_value_unstorable(_reading({"value": "99999999999", "unit": "kWh"})) is None
    assert meter_value_unstorable(_reading({"value": "100000000000", "unit": "kWh"})) is not None


@pytest.mark.parametrize("value", ["1000.5", "-3.2", "0", "1e3", "OCMF|{...}|{...}", ""])
def test_ordinary_numbers_and_text_that_is_no_number_at_all_pass(value):
    assert meter_value_unstorable(_reading({"value": value, "format": "SignedData"})) is None


def test_a_batch_with_a_huge_kwh_reading_stores_the_rest_and_does_not_fail(world):
    counts = meter_values_record_many(
        now=timezone.now(),
        reports=[
            MeterValuesReport(world.cp_a, 1, None, _reading({"value": "1e999999999", "unit": "kWh"}, {"value": "12"})),
        ],
    )
    assert counts == [1] and MeterValue.objects.get().value == 12


def test_vendor_data_beyond_the_limit_is_cut_with_a_marker_and_whole_below_it(world, settings):
    settings.OCPP_EVENT_DATA_MAX_BYTES = 1024
    small = charger_event_record(
        charge_point=world.cp_a, kind=ChargerEvent.Kind.DATA_TRANSFER, vendor_id="V", data="x" * 1024, at=timezone.now()
    )
    big = charger_event_record(
        charge_point=world.cp_a,
        kind=ChargerEvent.Kind.DATA_TRANSFER,
        vendor_id="V",
        data="é" * (16 * 1024 * 1024 // 2),
        at=timezone.now(),
    )
    assert ChargerEvent.objects.get(pk=small.pk).data == "x" * 1024
    stored = ChargerEvent.objects.get(pk=big.pk).data
    kept, marker = stored.split("\n")
    assert kept == "é" * 512  # whole characters only
    assert marker == "[cut: 16777216 bytes received, the first 1024 kept]"


@pytest.mark.django_db(transaction=True)
def test_a_connector_number_no_connector_can_have_is_a_property_constraint_violation(world):
    """OCPP sets no upper bound on connectorId; the database does: the charger is told, nothing is stored."""
    now = datetime.now(UTC).isoformat()
    reading = [{"timestamp": now, "sampledValue": [{"value": "10"}]}]
    calls = [
        ("StatusNotification", {"connectorId": 40000, "errorCode": "NoError", "status": "Available"}),
        ("StartTransaction", {"connectorId": 40000, "idTag": world.alice_card.uid, "meterStart": 0, "timestamp": now}),
        ("MeterValues", {"connectorId": 2**31 - 1, "meterValue": reading}),
    ]

    async def scenario():
        async with ChargerSocket("ALPHA-1") as charger:
            answers = [await charger.call(action, payload) for action, payload in calls]
            answers.append(
                await charger.call(
                    "StatusNotification",
                    {"connectorId": Connector.MAX_NUMBER, "errorCode": "NoError", "status": "Available"},
                )
            )
            return answers

    *refused, accepted = asyncio.run(scenario())
    assert [answer[0] for answer in refused] == [4, 4, 4]
    assert {answer[2] for answer in refused} == {"PropertyConstraintViolation"}
    assert "40000" in refused[0][4]["cause"]
    assert accepted[0] == 3
    assert not ChargingSession.objects.exists() and not MeterValue.objects.exists()
    assert list(StatusEvent.objects.values_list("connector__number", flat=True)) == [Connector.MAX_NUMBER]


@pytest.mark.django_db(transaction=True)
def test_the_frame_limit_counts_bytes_not_characters(world, settings):
    """OCPP_MAX_FRAME_BYTES is bytes on the wire: 1,100 four-byte characters are over 4096, though 1,100 < 4096
    (the e2e test in tests/e2e/test_server_resources.py sends a frame over the limit in characters too)."""
    settings.OCPP_MAX_FRAME_BYTES = 4096

    def data_transfer(message_id: str, data: str) -> str:
        return f'[2, "{message_id}", "DataTransfer", {{"vendorId": "Emoji", "data": "{data}"}}]'

    async def scenario():
        async with ChargerSocket("ALPHA-1") as charger:
            await charger.communicator.send_input(
                {"type": "websocket.receive", "text": data_transfer("fits", "é" * 2000)}
            )  # 4000 bytes
            fits = json.loads((await charger.communicator.receive_output(10))["text"])
            await charger.communicator.send_input(
                {"type": "websocket.receive", "text": data_transfer("over", "😀" * 1100)}
            )
            return fits, await charger.communicator.receive_output(10)

    fits, over = asyncio.run(scenario())
    assert fits[:2] == [3, "fits"]
    assert over == {"type": "websocket.close", "code": 1009}
    assert list(ChargerEvent.objects.values_list("data", flat=True)) == ["é" * 2000]


def test_a_stop_whose_transaction_data_holds_no_storable_number_is_stored_and_flagged(world):
    """A stop is never refused, unlike MeterValues: the reading that cannot be stored is named in a flag."""
    now = timezone.now()
    session = session_start(
        charge_point=world.cp_a,
        connector_id=1,
        raw_uid=world.alice_card.uid,
        meter_start_wh=1000,
        timestamp=now,
        now=now,
    )
    data = [{"timestamp": now, "sampled_value": [{"value": "NaN"}, {"value": "1500"}]}]
    stopped = session_stop(
        charge_point=world.cp_a,
        transaction_id=session.pk,
        raw_uid="",
        meter_stop_wh=1500,
        timestamp=now,
        reason="Local",
        transaction_data=data,
        now=now,
    )

    assert stopped.state == ChargingSession.State.COMPLETED and stopped.energy_wh == 500
    assert MeterValue.objects.get(session=session).value == 1500
    flag = SessionFlag.objects.get(session=session, code=SessionFlag.Code.UNSTORABLE_READING)
    assert "'NaN'" in flag.detail
