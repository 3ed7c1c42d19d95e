"""MeterValues and StatusNotifications from many chargers are stored together; one bad report fails alone."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from sessions_app.models import Connector, MeterValue, SessionFlag, StatusEvent
from sessions_app.ocpp import batching
from sessions_app.services import (
    MeterValuesReport,
    StatusReport,
    connector_status_record_many,
    meter_values_record_many,
)
from tests.factories import make_session

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _reading(minutes: int, *sampled: dict) -> dict:
    return {"timestamp": T0 + timedelta(minutes=minutes), "sampled_value": list(sampled)}


def test_reports_of_several_chargers_are_stored_with_their_own_sessions(world):
    session_a = make_session(world.cp_a.connectors.get(number=1), world.alice_card, started_at=T0, energy_wh=None)
    session_b = make_session(world.cp_b.connectors.get(number=1), None, started_at=T0, energy_wh=None)

    counts = meter_values_record_many(now=timezone.now(), reports=[
        MeterValuesReport(world.cp_a, 1, session_a.pk, [_reading(5, {"value": "1000.5", "unit": "kWh"})]),
        MeterValuesReport(world.cp_b, 1, session_b.pk, [_reading(5, {"value": "1002000"}),
                                                        _reading(6, {"value": "7.4", "measurand": "Power.Active.Import",
                                                                     "unit": "kW"})]),
        MeterValuesReport(world.cp_b, 1, session_a.pk, [_reading(7, {"value": "5"})]),  # not B's transaction
        MeterValuesReport(world.cp_a, 0, None, [_reading(8, {"value": "230", "measurand": "Voltage", "unit": "V"})]),
    ])

    assert counts == [1, 2, 1, 1]
    assert MeterValue.objects.get(session=session_a).value == 1_000_500
    assert MeterValue.objects.get(session=session_b, measurand="Power.Active.Import").value == 7400
    assert MeterValue.objects.get(charge_point=world.cp_b, timestamp=T0 + timedelta(minutes=7)).session is None
    assert MeterValue.objects.get(measurand="Voltage").connector is None  # connector 0 is the station


def test_a_register_lower_than_the_last_stored_one_is_flagged(world):
    session = make_session(world.cp_a.connectors.get(number=1), world.alice_card, started_at=T0, energy_wh=None)
    report = MeterValuesReport(world.cp_a, 1, session.pk, [_reading(5, {"value": "1005000"})])
    meter_values_record_many(reports=[report], now=timezone.now())
    assert not SessionFlag.objects.filter(session=session).exists()

    lower = MeterValuesReport(world.cp_a, 1, session.pk, [_reading(10, {"value": "1004000"})])
    meter_values_record_many(reports=[lower], now=timezone.now())

    assert SessionFlag.objects.get(session=session).code == SessionFlag.Code.METER_BACKWARDS


@pytest.mark.django_db(transaction=True)
def test_one_bad_report_in_a_batch_fails_alone(world):
    good = [MeterValuesReport(world.cp_a, 1, None, [_reading(i, {"value": str(1000 + i)})]) for i in range(5)]
    bad = MeterValuesReport(world.cp_a, 1, None, [{"timestamp": "not a time", "sampled_value": [{"value": "1"}]}])

    async def submit_all():
        return await asyncio.gather(*(batching.submit(meter_values_record_many, report) for report in [*good, bad]),
                                    return_exceptions=True)

    results = asyncio.run(submit_all())

    assert results[:5] == [1, 1, 1, 1, 1]
    assert isinstance(results[5], Exception)
    assert MeterValue.objects.count() == 5


def test_status_history_keeps_every_report_and_the_current_status_only_moves_forward(world):
    def report(connector_id, status, minutes, error_code="NoError"):
        return StatusReport(world.cp_a, connector_id, status, error_code, T0 + timedelta(minutes=minutes))

    connector_status_record_many(now=timezone.now(), reports=[
        report(1, "Preparing", 1), report(1, "Charging", 2), report(2, "Faulted", 3, "GroundFailure"),
        report(0, "Available", 4), report(3, "Available", 5),  # a connector the charger reports first now
    ])
    connector_status_record_many(now=timezone.now(), reports=[report(1, "Available", 0)])  # late, older

    one, two, three = Connector.objects.filter(charge_point=world.cp_a).order_by("number")
    assert (one.status, two.status, two.error_code, three.status) == ("Charging", "Faulted", "GroundFailure",
                                                                      "Available")
    assert StatusEvent.objects.filter(charge_point=world.cp_a).count() == 6
    assert StatusEvent.objects.get(connector=None).status == "Available"


def test_an_older_reading_arriving_late_is_history_not_the_meter_going_back(world):
    session = make_session(world.cp_a.connectors.get(number=1), world.alice_card, started_at=T0, energy_wh=None)
    meter_values_record_many(now=timezone.now(), reports=[
        MeterValuesReport(world.cp_a, 1, session.pk, [_reading(30, {"value": "1009000"})]),
    ])
    # The stop's transactionData repeats the start reading, stamped at the start.
    begin = _reading(0, {"value": "1000000", "context": "Transaction.Begin"})
    end = _reading(60, {"value": "1012000", "context": "Transaction.End"})
    meter_values_record_many(now=timezone.now(), reports=[MeterValuesReport(world.cp_a, 1, session.pk, [begin, end])])

    assert not SessionFlag.objects.filter(session=session).exists()
    assert MeterValue.objects.filter(session=session).count() == 3
