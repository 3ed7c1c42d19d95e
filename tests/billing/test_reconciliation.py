"""Reconciliation: billed vs metered energy per connector, and the gaps listed."""

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.models import SessionPrice
from billing.reconciliation import GapKind, reconciliation_report
from billing.selectors import ENERGY_REGISTER
from sessions_app.models import MeterValue
from tests.factories import make_session

START = datetime(2026, 3, 1, tzinfo=UTC)
END = datetime(2026, 4, 1, tzinfo=UTC)


def session_on(connector, card, at, meter_start, energy_wh, minutes=60, priced=True, readings=True):
    session = make_session(connector, card, started_at=at, energy_wh=energy_wh, minutes=minutes)
    session.meter_start_wh, session.meter_stop_wh = meter_start, meter_start + energy_wh
    session.save(update_fields=["meter_start_wh", "meter_stop_wh"])
    if priced:
        SessionPrice.objects.create(
            session=session,
            tariff_snapshot={},
            breakdown=[],
            currency="SEK",
            energy_wh=energy_wh,
            net_total=Decimal("1.00"),
            vat_rate=Decimal("0.2500"),
            vat_amount=Decimal("0.25"),
            gross_total=Decimal("1.25"),
        )
    if readings:
        reading(connector, session.started_at, meter_start, session)
        reading(connector, session.stopped_at, meter_start + energy_wh, session)
    return session


def reading(connector, at, wh, session=None, unit="Wh"):
    value = Decimal(wh) / 1000 if unit == "kWh" else Decimal(wh)
    return MeterValue.objects.create(
        charge_point=connector.charge_point,
        connector=connector,
        session=session,
        timestamp=at,
        measurand=ENERGY_REGISTER,
        value=value,
        unit=unit,
    )


def for_connector(report, connector):
    [item] = [item for item in report if item.connector.pk == connector.pk]
    return item


@pytest.fixture
def connector(world):
    return world.cp_a.connectors.get(number=1)


def at(day, hour=10):
    return datetime(2026, 3, day, hour, tzinfo=UTC)


def test_billed_equals_metered_for_clean_data(world, connector):
    session_on(connector, world.alice_card, at(2), 1_000_000, 10_000)
    second = session_on(connector, world.alice_card, at(3), 1_010_000, 5_000)
    reading(connector, at(3, 10) + timedelta(minutes=30), 1_012_500, second, unit="kWh")
    item = for_connector(reconciliation_report(organization=world.org_a, start=START, end=END), connector)
    assert item.billed_wh == 15_000
    assert item.metered_wh == 15_000
    assert item.metered_from_register
    assert item.difference_wh == 0
    assert item.gaps == []


def test_meter_jump_between_sessions_is_listed_and_shows_as_difference(world, connector):
    session_on(connector, world.alice_card, at(2), 1_000_000, 10_000)
    later = session_on(connector, world.alice_card, at(3), 1_012_000, 5_000)
    item = for_connector(reconciliation_report(organization=world.org_a, start=START, end=END), connector)
    assert item.billed_wh == 15_000
    assert item.metered_wh == 17_000
    assert item.difference_wh == 2_000
    [gap] = item.gaps
    assert (gap.kind, gap.session_id, gap.energy_wh) == (GapKind.METER_JUMP, later.pk, 2_000)


def test_unpriced_completed_session_is_listed(world, connector):
    session_on(connector, world.alice_card, at(2), 1_000_000, 10_000)
    unpriced = session_on(connector, world.alice_card, at(3), 1_010_000, 4_000, priced=False)
    item = for_connector(reconciliation_report(organization=world.org_a, start=START, end=END), connector)
    assert item.billed_wh == 10_000
    assert item.metered_wh == 14_000
    assert [(gap.kind, gap.session_id, gap.energy_wh) for gap in item.gaps] == [
        (GapKind.UNPRICED, unpriced.pk, 4_000),
    ]


def test_register_going_down_is_listed(world, connector):
    session = session_on(connector, world.alice_card, at(2), 1_000_000, 10_000, readings=False)
    reading(connector, at(2), 1_000_000, session)
    reading(connector, at(2) + timedelta(minutes=20), 1_004_000, session)
    down = reading(connector, at(2) + timedelta(minutes=40), 1_001_000, session)
    reading(connector, at(2) + timedelta(minutes=60), 1_010_000, session)
    item = for_connector(reconciliation_report(organization=world.org_a, start=START, end=END), connector)
    [gap] = item.gaps
    assert (gap.kind, gap.at, gap.energy_wh) == (GapKind.REGISTER_DOWN, down.timestamp, -3_000)


def test_negative_reading_is_listed(world, connector):
    session = session_on(connector, world.alice_card, at(2), 1_000_000, 10_000)
    reading(connector, at(2) + timedelta(minutes=90), -5, session)
    item = for_connector(reconciliation_report(organization=world.org_a, start=START, end=END), connector)
    assert [gap.kind for gap in item.gaps] == [GapKind.REGISTER_DOWN]


def test_implausible_power_is_listed(world, connector):
    # 22 kW for 60 minutes is at most 22 kWh; 30 kWh is not possible. Exactly 22 kWh is.
    fine = session_on(connector, world.alice_card, at(2), 1_000_000, 22_000)
    too_much = session_on(connector, world.alice_card, at(3), 1_022_000, 30_000)
    item = for_connector(reconciliation_report(organization=world.org_a, start=START, end=END), connector)
    assert [(gap.kind, gap.session_id) for gap in item.gaps] == [(GapKind.IMPLAUSIBLE_POWER, too_much.pk)]
    assert fine.pk not in {gap.session_id for gap in item.gaps}


def test_metered_falls_back_to_session_meters_without_readings(world, connector):
    session_on(connector, world.alice_card, at(2), 1_000_000, 10_000, readings=False)
    session_on(connector, world.alice_card, at(3), 1_010_500, 5_000, readings=False)
    item = for_connector(reconciliation_report(organization=world.org_a, start=START, end=END), connector)
    assert not item.metered_from_register
    assert item.metered_wh == 15_500
    assert item.difference_wh == 500


def test_only_the_organizations_connectors_and_readings(world, connector):
    b_connector = world.cp_b.connectors.get(number=1)
    session_on(b_connector, None, at(2), 5_000_000, 10_000)
    session_on(b_connector, None, at(3), 5_020_000, 1_000)  # a jump at B
    report_a = reconciliation_report(organization=world.org_a, start=START, end=END)
    assert {item.connector.charge_point_id for item in report_a} == {world.cp_a.pk}
    assert all(not item.gaps and item.billed_wh == 0 for item in report_a)
    report_b = reconciliation_report(organization=world.org_b, start=START, end=END)
    assert [gap.kind for gap in for_connector(report_b, b_connector).gaps] == [GapKind.METER_JUMP]


PARAMS = {"period": "month", "day": "2026-03-10"}


def _csv(response):
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_admin_page_and_csv_list_the_gaps(client, world, connector):
    session_on(connector, world.alice_card, at(2), 1_000_000, 10_000)
    jumped = session_on(connector, world.alice_card, at(3), 1_012_000, 5_000)
    client.force_login(world.carol)
    page = client.get(reverse("admin:billing_reconciliation"), PARAMS)
    assert page.status_code == 200
    assert "Meter jump between sessions" in page.content.decode()
    rows = _csv(client.get(reverse("admin:billing_reconciliation"), {**PARAMS, "format": "csv"}))
    header, body = rows[0], rows[1:]
    assert header[:5] == ["Connector", "Energy billed (Wh)", "Energy metered (Wh)", "Metered from", "Difference (Wh)"]
    [jump_row] = [row for row in body if row[5]]
    assert jump_row[0] == str(connector)
    assert (int(jump_row[1]), int(jump_row[2]), int(jump_row[4])) == (15_000, 17_000, 2_000)
    assert int(jump_row[7]) == jumped.pk and int(jump_row[8]) == 2_000
    assert len(body) == world.cp_a.connectors.count()  # the other connector: one row, no gap


def test_admin_staff_never_see_the_other_organization(client, world, connector):
    b_connector = world.cp_b.connectors.get(number=1)
    session_on(b_connector, None, at(2), 5_000_000, 10_000)
    client.force_login(world.carol)
    rows = _csv(
        client.get(reverse("admin:billing_reconciliation"), {**PARAMS, "organization": world.org_b.pk, "format": "csv"})
    )
    assert {row[0] for row in rows[1:]} == {str(c) for c in world.cp_a.connectors.all()}
    client.force_login(world.dave)
    rows = _csv(
        client.get(reverse("admin:billing_reconciliation"), {**PARAMS, "organization": world.org_a.pk, "format": "csv"})
    )
    assert {row[0] for row in rows[1:]} == {str(c) for c in world.cp_b.connectors.all()}
    client.force_login(world.admin)
    rows = _csv(
        client.get(reverse("admin:billing_reconciliation"), {**PARAMS, "organization": world.org_b.pk, "format": "csv"})
    )
    assert ["10000", "10000"] == rows[1 + [r[0] for r in rows[1:]].index(str(b_connector))][1:3]
