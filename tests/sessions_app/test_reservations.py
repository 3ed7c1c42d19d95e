"""Reservations' rules: who may reserve what for how long, what the charger's answer makes of it, and how one ends.

Only the transport is replaced (``commands.command_send``); tests/e2e/test_ocpp_reservations.py sends them for real.
"""

from datetime import UTC, datetime, timedelta

import pytest

from accounts.models import IdTag
from sessions_app import hooks, reservations
from sessions_app.models import ChargingSession, ConnectorStatus, Reservation
from sessions_app.ocpp import command_payloads
from sessions_app.ocpp.commands import CommandResult
from sessions_app.reservations import ReservationRefused, reservation_cancel, reservation_create, reservations_expire
from sessions_app.services import StatusReport, connector_status_record_many, session_start
from sessions_app.tasks import reservations_expire_task
from tests.factories import make_session

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def ended(monkeypatch) -> list[int]:
    """The reservation ids the ended-hooks were called with."""
    calls: list[int] = []
    monkeypatch.setattr(hooks, "reservation_ended_handlers", [calls.append])
    return calls


def connector(world, number=1):
    found = world.cp_a.connectors.get(number=number)
    found.status = ConnectorStatus.AVAILABLE
    found.save()
    return found


def reserve(world, *, card=None, number=1, **options) -> Reservation:
    return reservation_create(
        charge_point=world.cp_a,
        connector=connector(world, number) if number else None,
        id_tag=card or world.alice_card,
        created_by=world.alice,
        now=options.pop("now", NOW),
        **options,
    )


def test_an_accepted_reservation_is_active_and_reserve_now_names_it(world, transport, settings):
    settings.RESERVATION_MINUTES = 15
    reservation = reserve(world)

    assert reservation.status == Reservation.Status.ACTIVE
    assert reservation.charger_answer == "Accepted"
    assert reservation.expires_at == NOW + timedelta(minutes=15)
    assert transport.sent == [
        (
            "ALPHA-1",
            "ReserveNow",
            {
                "connector_id": 1,
                "expiry_date": "2026-03-02T09:15:00Z",
                "id_tag": "04A1B2C3",
                "reservation_id": reservation.pk,
            },
        )
    ]


def test_a_whole_charger_is_reserved_as_connector_0_with_the_cards_group(world, transport):
    group = IdTag.objects.create(uid="FLEET-1", kind="app_token", customer_account=world.alice.customer_account)
    world.alice_card.parent = group
    world.alice_card.save()

    reservation = reserve(world, number=None, minutes=30)

    assert reservation.status == Reservation.Status.ACTIVE and reservation.connector is None
    payload = transport.sent[0][2]
    assert (payload["connector_id"], payload["parent_id_tag"]) == (0, "FLEET-1")


@pytest.mark.parametrize("answer", ["Occupied", "Faulted", "Rejected", "Unavailable"])
def test_a_charger_refusing_refuses_the_reservation_with_its_answer(
    world, transport, ended, answer, django_capture_on_commit_callbacks
):
    transport.result = CommandResult("answered", {"status": answer})

    with django_capture_on_commit_callbacks(execute=True):
        reservation = reserve(world)

    assert (reservation.status, reservation.charger_answer, reservation.ended_at) == ("refused", answer, NOW)
    assert reservations.refusal_reason(reservation)
    assert ended == [reservation.pk]


@pytest.mark.parametrize(
    ("outcome", "reason"),
    [
        ("offline", "The charger was offline, so nothing was sent."),
        ("timeout", "The charger did not answer in time."),
        ("no_answer", "The charger's connection ended before it answered."),
        ("error", "The charger returned an error."),
    ],
)
def test_a_charger_offline_or_silent_refuses_it_with_that_reason(world, transport, outcome, reason):
    transport.result = CommandResult(outcome)

    reservation = reserve(world)

    assert (reservation.status, reservation.charger_answer) == ("refused", outcome)
    assert reservations.refusal_reason(reservation) == reason  # in the words of every command's outcome


def test_a_refused_reservation_frees_the_connector_for_the_next(world, transport):
    transport.result = CommandResult("offline")
    reserve(world)
    transport.result = CommandResult("answered", {"status": "Accepted"})

    assert reserve(world).status == Reservation.Status.ACTIVE


def test_a_blocked_card_is_refused_before_anything_is_sent(world, transport):
    world.alice_card.status, world.alice_card.blocked_at = IdTag.Status.BLOCKED, NOW
    world.alice_card.save()

    with pytest.raises(ReservationRefused, match="may not charge"):
        reserve(world)
    assert transport.sent == [] and not Reservation.objects.exists()


def test_another_operators_card_is_refused(world, transport):
    from tests.factories import make_driver, make_tag

    stranger = make_driver(world.org_b)
    card = make_tag(stranger.customer_account, stranger)
    with pytest.raises(ReservationRefused, match="not valid at this station"):
        reserve(world, card=card)


@pytest.mark.parametrize("minutes", [0, 61])
def test_a_duration_beyond_the_operators_maximum_is_refused(world, transport, settings, minutes):
    settings.RESERVATION_MAX_MINUTES = 60
    with pytest.raises(ReservationRefused, match="from 1 to 60 minutes"):
        reserve(world, minutes=minutes)
    assert transport.sent == []


def test_a_reserved_connector_and_a_charging_one_are_refused(world, transport):
    reserve(world)
    with pytest.raises(ReservationRefused, match="reserved"):
        reserve(world, card=world.bob_card)
    make_session(connector(world, 2), world.alice_card, energy_wh=None)
    with pytest.raises(ReservationRefused, match="cannot be reserved now"):
        reserve(world, card=world.bob_card, number=2)


def test_a_faulted_connector_is_refused_and_a_card_holds_one_reservation(world, transport):
    faulted = connector(world, 2)
    faulted.status = ConnectorStatus.FAULTED
    faulted.save()
    with pytest.raises(ReservationRefused, match="Faulted"):
        reservation_create(
            charge_point=world.cp_a, connector=faulted, id_tag=world.alice_card, created_by=None, now=NOW
        )
    reserve(world)
    with pytest.raises(ReservationRefused, match="holds a reservation already"):
        reserve(world, number=2)


def test_a_reservation_past_its_expiry_holds_nothing_for_the_next(world, transport):
    first = reserve(world, minutes=10)

    second = reserve(world, card=world.bob_card, now=NOW + timedelta(minutes=11))

    first.refresh_from_db()
    assert first.status == Reservation.Status.EXPIRED and second.status == Reservation.Status.ACTIVE


def test_a_start_naming_the_reservation_uses_it_and_links_the_session(
    world, transport, ended, django_capture_on_commit_callbacks
):
    reservation = reserve(world)

    with django_capture_on_commit_callbacks(execute=True):
        session = session_start(
            charge_point=world.cp_a,
            connector_id=1,
            raw_uid="04a1b2c3",
            meter_start_wh=100,
            timestamp=NOW + timedelta(minutes=5),
            now=NOW + timedelta(minutes=5),
            reservation_id=reservation.pk,
        )

    reservation.refresh_from_db()
    assert (reservation.status, reservation.session, reservation.ended_at) == (
        "used",
        session,
        NOW + timedelta(minutes=5),
    )
    assert ended == [reservation.pk]


def test_the_same_card_starting_on_its_reserved_connector_uses_it_another_card_does_not(world, transport):
    reservation = reserve(world)

    def start(uid, number):
        return session_start(
            charge_point=world.cp_a,
            connector_id=number,
            raw_uid=uid,
            meter_start_wh=100,
            timestamp=NOW + timedelta(minutes=1),
            now=NOW + timedelta(minutes=1),
        )

    start(world.bob_card.uid, 2)
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.ACTIVE
    session = start(world.alice_card.uid, 1)
    reservation.refresh_from_db()
    assert (reservation.status, reservation.session_id) == ("used", session.pk)


def test_a_start_naming_another_chargers_reservation_links_nothing(world, transport):
    reservation = reserve(world)
    session = session_start(
        charge_point=world.cp_b,
        connector_id=1,
        raw_uid=world.alice_card.uid,
        meter_start_wh=0,
        timestamp=NOW,
        now=NOW,
        reservation_id=reservation.pk,
    )
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.ACTIVE
    assert not ChargingSession.objects.filter(pk=session.pk, reservation__isnull=False).exists()


def status(world, number, value, at):
    connector_status_record_many(
        reports=[StatusReport(world.cp_a, number, value, "NoError", at)], now=at + timedelta(seconds=1)
    )


def test_its_connector_faulting_ends_it_another_connector_does_not(
    world, transport, ended, django_capture_on_commit_callbacks
):
    reservation = reserve(world)
    status(world, 1, "Reserved", NOW + timedelta(seconds=5))
    status(world, 2, "Faulted", NOW + timedelta(seconds=6))
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.ACTIVE

    with django_capture_on_commit_callbacks(execute=True):
        status(world, 1, "Faulted", NOW + timedelta(seconds=7))

    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.FAULTED and ended == [reservation.pk]


def test_the_charger_as_a_whole_unavailable_ends_every_reservation(world, transport):
    reservation = reserve(world)
    status(world, 0, "Unavailable", NOW + timedelta(seconds=5))
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.FAULTED


def test_a_fault_reported_from_before_the_reservation_does_not_end_it(world, transport):
    reservation = reserve(world)
    status(world, 1, "Faulted", NOW - timedelta(minutes=1))
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.ACTIVE


def test_expiry_ends_open_reservations_at_their_time_once(world, transport, ended, django_capture_on_commit_callbacks):
    reservation = reserve(world, minutes=10)
    assert reservations_expire(now=NOW + timedelta(minutes=9)) == 0

    with django_capture_on_commit_callbacks(execute=True):
        assert reservations_expire(now=NOW + timedelta(minutes=10)) == 1
    assert reservations_expire(now=NOW + timedelta(minutes=11)) == 0

    reservation.refresh_from_db()
    assert (reservation.status, reservation.ended_at) == ("expired", NOW + timedelta(minutes=10))
    assert ended == [reservation.pk]


def test_the_beat_task_expires_them_now(world, transport):
    reservation = reserve(world, now=datetime.now(UTC) - timedelta(minutes=20), minutes=15)
    assert reservations_expire_task() == 1
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.EXPIRED


def test_cancel_sends_cancel_reservation_and_ends_it_whatever_the_charger_says(
    world, transport, ended, django_capture_on_commit_callbacks
):
    reservation = reserve(world)
    transport.result = CommandResult("offline")

    with django_capture_on_commit_callbacks(execute=True):
        result = reservation_cancel(reservation=reservation, now=NOW + timedelta(minutes=1))

    assert result.outcome == "offline"
    assert transport.sent[-1] == ("ALPHA-1", "CancelReservation", {"reservation_id": reservation.pk})
    assert (reservation.status, reservation.ended_at) == ("cancelled", NOW + timedelta(minutes=1))
    assert ended == [reservation.pk]
    with pytest.raises(ReservationRefused, match="ended already"):
        reservation_cancel(reservation=reservation, now=NOW + timedelta(minutes=2))


def test_the_builders_refuse_what_ocpp_does_not_allow():
    at = NOW
    with pytest.raises(command_payloads.CommandPayloadError) as error:
        command_payloads.reserve_now(connector_id=-1, expiry_date=at, id_tag="A", reservation_id=1)
    assert error.value.field == "connector_id"
    with pytest.raises(command_payloads.CommandPayloadError) as error:
        command_payloads.reserve_now(connector_id=1, expiry_date=at.replace(tzinfo=None), id_tag="A", reservation_id=1)
    assert error.value.field == "expiry_date"
    with pytest.raises(command_payloads.CommandPayloadError) as error:
        command_payloads.reserve_now(connector_id=1, expiry_date=at, id_tag="A" * 21, reservation_id=1)
    assert error.value.field == "id_tag"
    with pytest.raises(command_payloads.CommandPayloadError) as error:
        command_payloads.cancel_reservation(reservation_id=2**31)
    assert error.value.field == "reservation_id"


def test_without_a_broker_the_servers_own_sweeper_expires_them(monkeypatch):
    import asyncio

    from sessions_app import sweeper

    asked: list[datetime] = []
    monkeypatch.setattr(sweeper, "post_stop_sweep", lambda: None)
    monkeypatch.setattr(sweeper, "charge_points_disconnect_silent", lambda: 0)
    monkeypatch.setattr(sweeper, "reservations_expire", lambda *, now: asked.append(now) or 0)
    before = datetime.now(UTC)

    asyncio.run(sweeper._sweep_all())

    assert len(asked) == 1 and asked[0] >= before
