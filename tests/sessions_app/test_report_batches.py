"""MeterValues and StatusNotifications from many chargers are stored together; one bad report fails alone."""

import asyncio
import itertools
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, OperationalError
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

    counts = meter_values_record_many(
        now=timezone.now(),
        reports=[
            MeterValuesReport(world.cp_a, 1, session_a.pk, [_reading(5, {"value": "1000.5", "unit": "kWh"})]),
            MeterValuesReport(
                world.cp_b,
                1,
                session_b.pk,
                [
                    _reading(5, {"value": "1002000"}),
                    _reading(6, {"value": "7.4", "measurand": "Power.Active.Import", "unit": "kW"}),
                ],
            ),
            MeterValuesReport(world.cp_b, 1, session_a.pk, [_reading(7, {"value": "5"})]),  # not B's transaction
            MeterValuesReport(
                world.cp_a, 0, None, [_reading(8, {"value": "230", "measurand": "Voltage", "unit": "V"})]
            ),
        ],
    )

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
        return await asyncio.gather(
            *(batching.submit(meter_values_record_many, report) for report in [*good, bad]), return_exceptions=True
        )

    results = asyncio.run(submit_all())

    assert results[:5] == [1, 1, 1, 1, 1]
    assert isinstance(results[5], Exception)
    assert MeterValue.objects.count() == 5


def test_status_history_keeps_every_report_and_the_current_status_only_moves_forward(world):
    def report(connector_id, status, minutes, error_code="NoError"):
        return StatusReport(world.cp_a, connector_id, status, error_code, T0 + timedelta(minutes=minutes))

    connector_status_record_many(
        now=timezone.now(),
        reports=[
            report(1, "Preparing", 1),
            report(1, "Charging", 2),
            report(2, "Faulted", 3, "GroundFailure"),
            report(0, "Available", 4),
            report(3, "Available", 5),  # a connector the charger reports first now
        ],
    )
    connector_status_record_many(now=timezone.now(), reports=[report(1, "Available", 0)])  # late, older

    one, two, three = Connector.objects.filter(charge_point=world.cp_a).order_by("number")
    assert (one.status, two.status, two.error_code, three.status) == (
        "Charging",
        "Faulted",
        "GroundFailure",
        "Available",
    )
    assert StatusEvent.objects.filter(charge_point=world.cp_a).count() == 6
    assert StatusEvent.objects.get(connector=None).status == "Available"


def test_an_older_reading_arriving_late_is_history_not_the_meter_going_back(world):
    session = make_session(world.cp_a.connectors.get(number=1), world.alice_card, started_at=T0, energy_wh=None)
    meter_values_record_many(
        now=timezone.now(),
        reports=[
            MeterValuesReport(world.cp_a, 1, session.pk, [_reading(30, {"value": "1009000"})]),
        ],
    )
    # The stop's transactionData repeats the start reading, stamped at the start.
    begin = _reading(0, {"value": "1000000", "context": "Transaction.Begin"})
    end = _reading(60, {"value": "1012000", "context": "Transaction.End"})
    meter_values_record_many(now=timezone.now(), reports=[MeterValuesReport(world.cp_a, 1, session.pk, [begin, end])])

    assert not SessionFlag.objects.filter(session=session).exists()
    assert MeterValue.objects.filter(session=session).count() == 3


class FakeDatabase:
    """A ``write_many`` that records each call's reports and fails as the test says, in one transaction each."""

    def __init__(self, *, down_for: int = 0, bad: frozenset = frozenset(), drop_once: list[int] | None = None):
        self.down_for, self.bad, self.drop_once = down_for, bad, drop_once
        self.calls: list[list[int]] = []
        self.called_at: list[float] = []
        self.committed: list[int] = []

    def __call__(self, *, reports: list[int], now) -> list[int]:
        self.calls.append(list(reports))
        self.called_at.append(time.monotonic())
        if len(self.calls) <= self.down_for:
            raise OperationalError("connection to server at 127.0.0.1, port 5432 failed: Connection refused")
        if reports == self.drop_once:
            self.drop_once = None
            raise OperationalError("server closed the connection unexpectedly")
        if self.bad & set(reports):
            raise IntegrityError("new row violates check constraint")
        self.committed += reports
        return [report * 10 for report in reports]


def submit_together(database: FakeDatabase, reports: list[int]) -> list:
    """Submit the reports as concurrent chargers would; each gets its answer or its error."""
    batcher = batching.Batcher(database)

    async def submit_all():
        return await asyncio.gather(*(batcher.submit(report) for report in reports), return_exceptions=True)

    return asyncio.run(submit_all())


@pytest.fixture
def short_waits(monkeypatch):
    monkeypatch.setattr(batching, "RETRY_WAITS", (0.01, 0.03, 0.06))


def test_a_batch_the_database_refuses_is_retried_whole_after_growing_waits(short_waits):
    database = FakeDatabase(down_for=3)

    answers = submit_together(database, list(range(8)))

    assert answers == [report * 10 for report in range(8)]  # each answered only after its data committed
    assert database.calls == [list(range(8))] * 4  # never split while the database is down
    gaps = [later - earlier for earlier, later in itertools.pairwise(database.called_at)]
    assert all(gap >= wait for gap, wait in zip(gaps, batching.RETRY_WAITS, strict=True))
    assert gaps[0] < gaps[1] < gaps[2]


def test_when_the_database_stays_down_every_sender_gets_the_error(short_waits, caplog):
    database = FakeDatabase(down_for=100)

    answers = submit_together(database, list(range(8)))

    assert all(isinstance(answer, OperationalError) for answer in answers)
    assert len(database.calls) == 1 + len(batching.RETRY_WAITS) and database.committed == []
    assert "8 reports not stored: the database could not be reached in 4 tries" in caplog.text


def test_a_bad_report_is_isolated_by_halving_and_the_others_are_stored(short_waits):
    database = FakeDatabase(bad=frozenset({7}))

    answers = submit_together(database, list(range(8)))

    assert answers[:7] == [report * 10 for report in range(7)] and isinstance(answers[7], IntegrityError)
    assert sorted(database.committed) == list(range(7))
    assert [len(call) for call in database.calls] == [8, 4, 4, 2, 2, 1, 1]  # not 1 + 8 single writes


def test_a_database_outage_while_isolating_a_bad_report_is_waited_out_too(short_waits):
    database = FakeDatabase(bad=frozenset({0}), drop_once=[4, 5, 6, 7])

    answers = submit_together(database, list(range(8)))

    assert isinstance(answers[0], IntegrityError)
    assert answers[1:] == [report * 10 for report in range(1, 8)]
    assert database.calls.count([4, 5, 6, 7]) == 2  # the dropped half tried again, not split
