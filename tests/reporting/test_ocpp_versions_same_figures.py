"""A session told in OCPP 2.0.1 (TransactionEvent) and one told in 1.6 (Start/MeterValues/Stop) with the same
meter readings are the same money and the same figures: price, charge, statement, history, revenue per
connector, reconciliation and hourly rollups. Alice charges on connector 1 over 1.6, Bob on connector 2 over
2.0.1, at the same times, under one tariff with an energy, a time and a flat price."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from billing.models import LedgerEntry, SessionPrice
from billing.reconciliation import reconciliation_report
from billing.revenue import revenue_report
from billing.services import tariff_assignment_create
from billing.statements import statement_create
from core.timeutil import month_period
from reporting.history import history_rows
from reporting.models import ConnectorHour
from sessions_app.services import MeterValuesReport, meter_values_record_many, session_start, session_stop
from sessions_app.transaction_events import TransactionEventReport, transaction_event_record
from tests.factories import make_tariff

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 2, 7, 10, tzinfo=UTC)
READINGS = [(START, 100_000), (START + timedelta(minutes=50), 106_020), (START + timedelta(minutes=100), 112_345)]
MARCH = month_period(date(2026, 3, 1), "Europe/Stockholm")
AFTER = START + timedelta(hours=3)


def _sampled(at: datetime, wh: int, context: str) -> list[dict]:
    return [{"timestamp": at, "sampled_value": [{"value": str(wh), "unit": "Wh", "context": context}]}]


def _charge_over_1_6(world):
    (begin, wh_begin), (middle, wh_middle), (end, wh_end) = READINGS
    uid = world.alice_card.uid
    session = session_start(
        charge_point=world.cp_a, connector_id=1, raw_uid=uid, meter_start_wh=wh_begin, timestamp=begin, now=begin
    )
    meter_values_record_many(
        reports=[MeterValuesReport(world.cp_a, 1, session.pk, _sampled(middle, wh_middle, "Sample.Periodic"))],
        now=middle,
    )
    session_stop(
        charge_point=world.cp_a,
        transaction_id=session.pk,
        raw_uid=uid,
        meter_stop_wh=wh_end,
        timestamp=end,
        reason="EVDisconnected",
        transaction_data=_sampled(begin, wh_begin, "Transaction.Begin") + _sampled(end, wh_end, "Transaction.End"),
        now=end,
    )
    return session


def _charge_over_2_0_1(world):
    contexts = ("Transaction.Begin", "Sample.Periodic", "Transaction.End")
    for seq_no, ((at, wh), kind, context) in enumerate(
        zip(READINGS, ("Started", "Updated", "Ended"), contexts, strict=True)
    ):
        session = transaction_event_record(
            report=TransactionEventReport(
                charge_point=world.cp_a,
                transaction_id="d1f0-2b",
                seq_no=seq_no,
                event_type=kind,
                trigger_reason="Authorized",
                timestamp=at,
                connector_number=2 if kind == "Started" else None,
                raw_token=world.bob_card.uid if kind == "Started" else "",
                meter_value=_sampled(at, wh, context),
                stopped_reason="EVDisconnected" if kind == "Ended" else "",
            ),
            now=at,
        )
    return session


@pytest.fixture
def both(world, django_capture_on_commit_callbacks):
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="3.45", time="0.12", flat="5.00"))
    with django_capture_on_commit_callbacks(execute=True):
        sixteen = _charge_over_1_6(world)
        two_o_one = _charge_over_2_0_1(world)
    sixteen.refresh_from_db()
    two_o_one.refresh_from_db()
    SessionPrice.objects.update(priced_at=READINGS[-1][0])  # priced and booked in March, as the stop was
    LedgerEntry.objects.update(booked_at=READINGS[-1][0])
    return sixteen, two_o_one


def test_price_and_charge_are_the_same(both):
    prices = [SessionPrice.objects.get(session=session) for session in both]
    charges = [LedgerEntry.objects.get(session=session, kind=LedgerEntry.Kind.CHARGE) for session in both]

    def price_figures(price):
        return (price.energy_wh, price.net_total, price.vat_amount, price.gross_total, price.breakdown)

    assert price_figures(prices[0]) == price_figures(prices[1])
    assert prices[0].gross_total > Decimal("5.00")
    assert charges[0].amount == charges[1].amount


def test_statements_and_history_are_the_same(world, both):
    statements = [
        statement_create(customer_account=driver.customer_account, start=MARCH[0], end=MARCH[1], now=AFTER)
        for driver in (world.alice, world.bob)
    ]
    rows = history_rows(both, now=AFTER)

    assert statements[0].gross_total == statements[1].gross_total > 0
    assert statements[0].amount_due == statements[1].amount_due
    lines = [statement.content["sessions"] for statement in statements]
    assert [{**line, "card": None, "id": None, "connector": None} for line in lines[0]] == [
        {**line, "card": None, "id": None, "connector": None} for line in lines[1]
    ]

    def figures(row):
        return (row.started_at, row.stopped_at, row.duration, row.energy_wh, row.average_power_kw, row.cost)

    assert figures(rows[0]) == figures(rows[1])


def test_revenue_reconciliation_and_rollups_are_the_same_per_connector(world, both):
    revenue = revenue_report(organization=world.org_a, start=MARCH[0], end=MARCH[1], group_by="connector")
    by_connector = {row.label: row for row in revenue.rows}
    reconciliation = {
        r.connector.number: r for r in reconciliation_report(organization=world.org_a, start=MARCH[0], end=MARCH[1])
    }
    hours = {
        number: list(
            ConnectorHour.objects.filter(connector__charge_point=world.cp_a, connector__number=number)
            .order_by("hour")
            .values("hour", "sessions", "energy_wh", "charging_s", "occupied_s", "revenue", "zero_energy")
        )
        for number in (1, 2)
    }

    one, two = (row for label, row in sorted(by_connector.items()))
    assert (one.sessions, one.energy_kwh, one.net, one.vat, one.gross) == (
        two.sessions,
        two.energy_kwh,
        two.net,
        two.vat,
        two.gross,
    )
    assert (reconciliation[1].billed_wh, reconciliation[1].metered_wh) == (
        reconciliation[2].billed_wh,
        reconciliation[2].metered_wh,
    )
    assert reconciliation[2].billed_wh == 12_345 and not reconciliation[2].gaps
    assert hours[1] == hours[2] and hours[1]
