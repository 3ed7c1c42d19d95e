"""A session's price is frozen when its stop commits: by the tariff valid at start, once, never edited."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from billing.models import CreditNote, PriceComponent, SessionPrice, Tariff
from billing.pricing import price_session
from billing.selectors import session_timeline, tariff_spec, tariff_spec_from_snapshot
from billing.services import credit_note_issue, session_price_freeze, tariff_assignment_create
from sessions_app import hooks
from sessions_app.models import MeterValue, StatusEvent
from sessions_app.services import session_start, session_stop
from tests.factories import make_session, make_tariff

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
STOP = START + timedelta(hours=2)
NOW = STOP + timedelta(seconds=1)


def start(world, at=START, meter_wh=100_000):
    return session_start(
        charge_point=world.cp_a,
        connector_id=1,
        raw_uid=world.alice_card.uid,
        meter_start_wh=meter_wh,
        timestamp=at,
        now=at,
    )


def stop(world, session, meter_wh=130_000, at=STOP):
    return session_stop(
        charge_point=world.cp_a,
        transaction_id=session.pk,
        raw_uid=world.alice_card.uid,
        meter_stop_wh=meter_wh,
        timestamp=at,
        reason="EVDisconnected",
        transaction_data=[],
        now=at + timedelta(seconds=1),
    )


def test_a_stopped_session_is_priced_by_the_tariff_valid_at_its_start(world, django_capture_on_commit_callbacks):
    old = make_tariff(world.org_a, "Old", energy="4.00", flat="5.00", valid_until=START + timedelta(hours=1))
    new = make_tariff(world.org_a, "New", energy="9.00", valid_from=START + timedelta(hours=1))
    tariff_assignment_create(tariff=old, site=world.site_a)
    tariff_assignment_create(tariff=new, site=world.site_a)
    session = start(world)
    MeterValue.objects.create(
        charge_point=world.cp_a,
        connector=session.connector,
        session=session,
        timestamp=START + timedelta(hours=1),
        value=Decimal(120_000),
    )

    with django_capture_on_commit_callbacks(execute=True):
        stop(world, session)

    price = SessionPrice.objects.get(session=session)
    session.refresh_from_db()
    expected = price_session(tariff_spec(old, time_zone="Europe/Stockholm"), session_timeline(session))
    assert price.tariff == old
    assert (price.net_total, price.vat_amount, price.gross_total) == (
        expected.net_total,
        expected.vat_amount,
        expected.gross_total,
    )
    assert price.energy_wh == 30_000 and price.currency == "SEK" and price.vat_rate == Decimal("0.25")
    # 30 kWh at 4.00 incl. VAT plus a 5.00 flat fee: 125.00 incl. VAT.
    assert price.gross_total == Decimal("125.00")
    assert price.net_total + price.vat_amount == price.gross_total
    assert {line["component"] for line in price.breakdown} == {"ENERGY", "FLAT"}
    assert sum(Decimal(line["net_amount"]) for line in price.breakdown) + price.adjustment == price.net_total


def test_changing_the_tariff_afterwards_does_not_change_the_frozen_price(world, django_capture_on_commit_callbacks):
    tariff = make_tariff(world.org_a, energy="4.00")
    tariff_assignment_create(tariff=tariff)
    session = start(world)
    with django_capture_on_commit_callbacks(execute=True):
        stop(world, session)
    frozen = SessionPrice.objects.get(session=session)

    PriceComponent.objects.filter(element__tariff=tariff).update(price=Decimal("40.00"))
    Tariff.objects.filter(pk=tariff.pk).update(vat_rate=Decimal("0.12"))
    again = session_price_freeze(session=session)

    assert again == frozen
    again.refresh_from_db()
    assert (again.gross_total, again.vat_rate) == (Decimal("120.00"), Decimal("0.25"))
    # The snapshot still prices the session exactly as frozen.
    session.refresh_from_db()
    replay = price_session(tariff_spec_from_snapshot(frozen.tariff_snapshot), session_timeline(session))
    assert replay.gross_total == frozen.gross_total


def test_a_repeated_stop_does_not_price_again(world, django_capture_on_commit_callbacks):
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"))
    session = start(world)
    with django_capture_on_commit_callbacks(execute=True):
        stop(world, session)
    priced_at = SessionPrice.objects.get(session=session).priced_at

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        stop(world, session, meter_wh=190_000)

    assert callbacks == []
    assert SessionPrice.objects.filter(session=session).count() == 1
    assert SessionPrice.objects.get(session=session).priced_at == priced_at


def test_without_a_tariff_the_session_stays_unpriced(world, django_capture_on_commit_callbacks):
    make_tariff(world.org_a)  # exists, but is assigned nowhere
    tariff_assignment_create(tariff=make_tariff(world.org_b))
    session = start(world)
    with django_capture_on_commit_callbacks(execute=True):
        stop(world, session)
    assert not SessionPrice.objects.exists()
    assert session_price_freeze(session=session) is None


def test_a_session_still_charging_is_not_priced(world):
    tariff_assignment_create(tariff=make_tariff(world.org_a))
    session = start(world)
    assert session_price_freeze(session=session) is None


def test_a_failing_handler_neither_breaks_the_stop_nor_the_other_handlers(
    world, monkeypatch, django_capture_on_commit_callbacks
):
    seen = []

    def broken(session_id):
        raise RuntimeError("boom")

    monkeypatch.setattr(hooks, "session_completed_handlers", [broken, seen.append])
    session = start(world)
    with django_capture_on_commit_callbacks(execute=True):
        stop(world, session)
    assert seen == [session.pk]


def test_the_timeline_has_the_register_readings_and_the_charging_intervals(world):
    session = make_session(world.cp_a.connectors.get(number=1), world.alice_card, started_at=START, minutes=120)
    connector = session.connector
    for minutes, wh, context in (
        (30, 1_003_000, "Sample.Periodic"),
        (60, 1_006_000, "Sample.Periodic"),
        (60, 1_006_000, "Sample.Clock"),
    ):  # one reading twice, periodic and clock-aligned
        MeterValue.objects.create(
            charge_point=world.cp_a,
            connector=connector,
            session=session,
            timestamp=START + timedelta(minutes=minutes),
            value=Decimal(wh),
            context=context,
        )
    MeterValue.objects.create(
        charge_point=world.cp_a,
        connector=connector,
        session=session,
        timestamp=START,
        measurand="Power.Active.Import",
        unit="W",
        value=Decimal(11_000),
    )
    assert session_timeline(session).charging is None

    for minutes, status in (
        (-1, "Preparing"),
        (1, "Charging"),
        (50, "SuspendedEV"),
        (70, "Charging"),
        (100, "Finishing"),
    ):
        StatusEvent.objects.create(
            charge_point=world.cp_a,
            connector=connector,
            status=status,
            error_code="NoError",
            timestamp=START + timedelta(minutes=minutes),
        )
    timeline = session_timeline(session)

    assert [(r.at - START, r.register_wh) for r in timeline.readings] == [
        (timedelta(minutes=30), 1_003_000),
        (timedelta(minutes=60), 1_006_000),
    ]
    assert timeline.charging == (
        (START + timedelta(minutes=1), START + timedelta(minutes=50)),
        (START + timedelta(minutes=70), START + timedelta(minutes=100)),
    )
    assert (timeline.meter_start_wh, timeline.meter_stop_wh) == (1_000_000, 1_012_000)


# --- Credit notes ---------------------------------------------------------------------------------------


@pytest.fixture
def priced_session(world, django_capture_on_commit_callbacks):
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"))  # 30 kWh: 96.00 net, 120.00 gross
    session = start(world)
    with django_capture_on_commit_callbacks(execute=True):
        stop(world, session)
    return session


def test_credit_notes_never_exceed_the_sessions_net_total(world, priced_session):
    note = credit_note_issue(
        session=priced_session, net_amount=Decimal("40.00"), reason="Slow charging", user=world.carol
    )
    assert (note.net_amount, note.vat_amount, note.gross_amount, note.currency) == (
        Decimal("40.00"),
        Decimal("10.00"),
        Decimal("50.00"),
        "SEK",
    )
    assert note.created_by == world.carol
    with pytest.raises(ValidationError):
        credit_note_issue(session=priced_session, net_amount=Decimal("56.01"), reason="Too much", user=world.carol)
    credit_note_issue(session=priced_session, net_amount=Decimal("56.00"), reason="The rest", user=world.carol)
    with pytest.raises(ValidationError):
        credit_note_issue(session=priced_session, net_amount=Decimal("0.01"), reason="Once more", user=world.carol)
    assert CreditNote.objects.filter(session=priced_session).count() == 2
    # The price itself is untouched.
    assert priced_session.price.net_total == Decimal("96.00")


@pytest.mark.parametrize("amount, reason", [(Decimal("0"), "Zero"), (Decimal("-5"), "Negative"), (Decimal("5"), "  ")])
def test_a_credit_note_needs_a_positive_amount_and_a_reason(world, priced_session, amount, reason):
    with pytest.raises(ValidationError):
        credit_note_issue(session=priced_session, net_amount=amount, reason=reason, user=world.carol)


def test_an_unpriced_session_cannot_be_credited(world):
    session = make_session(world.cp_a.connectors.first(), world.alice_card)
    with pytest.raises(ValidationError):
        credit_note_issue(session=session, net_amount=Decimal("1.00"), reason="Goodwill", user=world.carol)


def test_staff_issue_credit_notes_in_the_admin_within_the_limit_and_only_on_their_own_sessions(
    client, world, priced_session
):
    url = reverse("admin:billing_creditnote_add")
    client.force_login(world.carol)
    response = client.post(url, {"session": priced_session.pk, "net_amount": "100.00", "reason": "Too much"})
    assert response.status_code == 200 and response.context["errors"]
    response = client.post(url, {"session": priced_session.pk, "net_amount": "10.00", "reason": "Cable fault"})
    assert response.status_code == 302
    note = CreditNote.objects.get()
    assert (note.gross_amount, note.created_by) == (Decimal("12.50"), world.carol)

    client.force_login(world.dave)
    response = client.post(url, {"session": priced_session.pk, "net_amount": "10.00", "reason": "Not mine"})
    assert response.status_code == 200 and response.context["errors"]
    assert CreditNote.objects.count() == 1
