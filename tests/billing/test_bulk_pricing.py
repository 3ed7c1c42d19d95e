"""Pricing many sessions at once gives exactly the prices ``session_price_freeze`` gives one by one."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.models import CustomerGroup, CustomerGroupMembership, SessionPrice
from billing.services import session_price_freeze, session_prices_freeze_many, tariff_assignment_create
from sessions_app.models import ChargingSession, ConnectorStatus, MeterValue, StatusEvent
from tests.factories import make_session, make_tariff

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
SWITCH = T0 + timedelta(days=1)
FIELDS = ("tariff_id", "currency", "energy_wh", "net_total", "vat_rate", "vat_amount", "gross_total",
          "adjustment", "tariff_snapshot", "breakdown")


def status(connector, at, value):
    StatusEvent.objects.create(charge_point=connector.charge_point, connector=connector, status=value,
                               error_code="NoError", timestamp=at)


def register(session, at, wh):
    MeterValue.objects.create(charge_point=session.charge_point, connector=session.connector, session=session,
                              timestamp=at, measurand="Energy.Active.Import.Register", unit="Wh",
                              value=Decimal(wh))


@pytest.fixture
def priced_world(world):
    """Two tariffs in turn at the site, a fleet price on the first, and sessions of every kind on cp_a."""
    old = make_tariff(world.org_a, "Old", energy="4.00", parking="60.00", flat="2.00", valid_until=SWITCH,
                      parking_grace_minutes=30)
    new = make_tariff(world.org_a, "New", energy="5.50", time="3.00", valid_from=SWITCH)
    fleet = make_tariff(world.org_a, "Fleet", energy="3.10", valid_until=SWITCH)
    tariff_assignment_create(tariff=old, site=world.site_a)
    tariff_assignment_create(tariff=new, site=world.site_a)
    group = CustomerGroup.objects.create(organization=world.org_a, name="Fleet")
    CustomerGroupMembership.objects.create(customer_group=group, customer_account=world.bob.customer_account)
    tariff_assignment_create(tariff=fleet, charge_point=world.cp_a, customer_group=group)
    tariff_assignment_create(tariff=make_tariff(world.org_b, "B", energy="7.00"))  # the other operator's

    c1, c2 = world.cp_a.connectors.order_by("number")
    status(c1, T0 - timedelta(hours=5), ConnectorStatus.CHARGING)  # charging already before the first start
    sessions = []
    for i, (connector, card, start, minutes) in enumerate([
        (c1, world.alice_card, T0, 150),
        (c1, world.bob_card, T0 + timedelta(hours=4), 90),
        (c2, world.alice_card, T0 + timedelta(hours=2), 200),
        (c2, world.bob_card, SWITCH + timedelta(hours=2), 120),
        (c1, world.alice_card, SWITCH + timedelta(hours=3), 300),
        (c1, None, SWITCH + timedelta(hours=9), 45),
    ]):
        session = make_session(connector, card, started_at=start, energy_wh=20_000 + 1_000 * i, minutes=minutes)
        register(session, start + timedelta(minutes=minutes // 3), session.meter_start_wh + 9_000)
        register(session, start + timedelta(minutes=minutes // 2), session.meter_start_wh + 15_000 + i)
        register(session, start - timedelta(minutes=5), 1)  # outside the session: ignored
        sessions.append(session)
    status(c1, T0 + timedelta(minutes=100), ConnectorStatus.SUSPENDED_EV)
    status(c1, T0 + timedelta(hours=4, minutes=1), ConnectorStatus.CHARGING)
    status(c1, T0 + timedelta(hours=5), ConnectorStatus.FINISHING)
    status(c2, T0 + timedelta(hours=2, minutes=10), ConnectorStatus.CHARGING)
    status(c2, T0 + timedelta(hours=4), ConnectorStatus.SUSPENDED_EVSE)
    status(c2, T0 + timedelta(hours=4, minutes=30), ConnectorStatus.CHARGING)
    status(c1, SWITCH + timedelta(hours=4), ConnectorStatus.CHARGING)
    status(c1, SWITCH + timedelta(hours=6), ConnectorStatus.SUSPENDED_EV)
    return sessions


def one_by_one(sessions) -> dict:
    for session in sessions:
        session_price_freeze(session=ChargingSession.objects.get(pk=session.pk))
    frozen = {p.session_id: tuple(getattr(p, f) for f in FIELDS) for p in SessionPrice.objects.all()}
    SessionPrice.objects.all().delete()
    return frozen


def test_bulk_prices_equal_the_one_by_one_prices(priced_world):
    expected = one_by_one(priced_world)
    assert len(expected) == len(priced_world)
    assert len({row[0] for row in expected.values()}) == 3  # old, new and the fleet price all in use
    assert any(row[-1] and any(line["component"] == "PARKING_TIME" for line in row[-1]) for row in expected.values())

    with CaptureQueriesContext(connection) as queries:
        assert session_prices_freeze_many(sessions=ChargingSession.objects.all()) == len(priced_world)

    got = {p.session_id: tuple(getattr(p, f) for f in FIELDS) for p in SessionPrice.objects.all()}
    assert got == expected
    assert len(queries) < 20


def test_already_priced_sessions_are_left_alone(priced_world):
    first = session_price_freeze(session=ChargingSession.objects.get(pk=priced_world[0].pk))
    SessionPrice.objects.filter(pk=first.pk).update(gross_total=Decimal("999.00"))

    assert session_prices_freeze_many(sessions=priced_world) == len(priced_world) - 1
    assert session_prices_freeze_many(sessions=priced_world) == 0

    kept = SessionPrice.objects.get(session_id=priced_world[0].pk)
    assert (kept.pk, kept.gross_total, kept.priced_at) == (first.pk, Decimal("999.00"), first.priced_at)
    assert SessionPrice.objects.count() == len(priced_world)


def test_active_sessions_and_sessions_without_a_tariff_are_skipped(world):
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00", valid_from=SWITCH))
    c1 = world.cp_a.connectors.get(number=1)
    charging = make_session(c1, world.alice_card, started_at=SWITCH + timedelta(hours=5), energy_wh=None)
    before_tariff = make_session(c1, world.alice_card, started_at=T0)
    other_operator = make_session(world.cp_b.connectors.get(number=1), None, started_at=SWITCH + timedelta(hours=1))
    priced = make_session(c1, world.bob_card, started_at=SWITCH + timedelta(hours=1))

    assert session_prices_freeze_many(sessions=[charging, before_tariff, other_operator, priced]) == 1
    assert list(SessionPrice.objects.values_list("session_id", flat=True)) == [priced.pk]
    assert session_prices_freeze_many(sessions=[]) == 0
