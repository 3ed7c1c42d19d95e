"""Invariants the database itself keeps, whatever code writes."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import IdTag, User
from sessions_app.models import ChargePoint, ChargingSession, Connector, SessionFlag, Site
from tests.factories import make_session, make_site


def test_charge_point_password_is_stored_only_as_a_salted_hash(world):
    cp = world.cp_a
    cp.set_password("s3cret-passw0rd-for-cp")
    cp.save()
    cp.refresh_from_db()
    assert "s3cret" not in cp.password_hash
    assert cp.check_password("s3cret-passw0rd-for-cp")
    assert not cp.check_password("wrong")
    cp.set_password(None)
    assert cp.password_hash == "" and not cp.check_password("")


def test_connector_numbers_are_unique_per_charge_point(world):
    with pytest.raises(IntegrityError), transaction.atomic():
        Connector.objects.create(charge_point=world.cp_a, number=1, max_power_kw=Decimal("11"))


def test_card_uids_are_unique(world):
    with pytest.raises(IntegrityError), transaction.atomic():
        IdTag.objects.create(uid=world.alice_card.uid, customer_account=world.bob.customer_account)


def test_blocked_card_must_say_when(world):
    with pytest.raises(IntegrityError), transaction.atomic():
        IdTag.objects.filter(pk=world.alice_card.pk).update(status=IdTag.Status.BLOCKED)


def test_a_user_is_staff_of_an_operator_or_a_driver_never_both(world):
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.filter(pk=world.alice.pk).update(organization=world.org_a)


def test_completed_session_must_have_its_stop(world):
    session = make_session(world.cp_a.connectors.first(), world.alice_card, energy_wh=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        ChargingSession.objects.filter(pk=session.pk).update(state=ChargingSession.State.COMPLETED)


def test_a_flag_is_raised_once_per_session_and_problem(world):
    session = make_session(world.cp_a.connectors.first(), world.alice_card)
    SessionFlag.objects.create(session=session, code=SessionFlag.Code.ZERO_ENERGY)
    with pytest.raises(IntegrityError), transaction.atomic():
        SessionFlag.objects.create(session=session, code=SessionFlag.Code.ZERO_ENERGY)


def test_site_time_zone_and_coordinates_are_validated(world):
    site = Site(
        organization=world.org_a,
        name="Nowhere",
        street="x",
        postal_code="1",
        city="y",
        latitude=Decimal("91"),
        longitude=Decimal("18"),
        time_zone="Mars/Olympus",
    )
    with pytest.raises(ValidationError) as error:
        site.full_clean()
    assert {"latitude", "time_zone"} <= set(error.value.message_dict)


def test_site_time_zone_defaults_to_the_portal_time_zone(world):
    assert make_site(world.org_a).tzinfo.key == "Europe/Stockholm"


def test_ocpp_identity_refuses_characters_that_break_the_url(world):
    cp = ChargePoint(site=world.site_a, ocpp_id="CP/1 ../x")
    with pytest.raises(ValidationError) as error:
        cp.full_clean()
    assert "ocpp_id" in error.value.message_dict


def test_session_duration_is_known_once_stopped(world):
    connector = world.cp_a.connectors.first()
    assert make_session(connector, world.alice_card, energy_wh=None).duration is None
    assert make_session(connector, world.alice_card, minutes=95).duration.total_seconds() == 95 * 60
