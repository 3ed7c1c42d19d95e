"""The one answer to "may this tag charge at this station now?" and how UIDs are read."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from accounts.models import AuthorizationStatus, CustomerAccount, IdTag
from accounts.services import id_tag_block, id_tag_mark_lost, id_tag_unblock
from accounts.uids import normalize_uid, validate_uid
from sessions_app.services import id_tag_authorize
from tests.factories import make_account, make_session, make_tag


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("04a1b2c3", "04A1B2C3"),
        ("04:A1:B2:C3", "04A1B2C3"),
        ("04-a1-b2-c3", "04A1B2C3"),
        (" 04 a1 b2 c3 ", "04A1B2C3"),
        ("04.a1.b2.c3.d4.e5.f6", "04A1B2C3D4E5F6"),
    ],
)
def test_uid_is_normalised_to_upper_hex_without_separators(raw, expected):
    assert normalize_uid(raw) == expected


@pytest.mark.parametrize("uid", ["04A1B2C3", "04A1B2C3D4E5F6", "04A1B2C3D4E5F6A7B8C9"])
def test_4_7_and_10_byte_uids_are_valid(uid):
    validate_uid(uid)


@pytest.mark.parametrize("uid", ["04A1B2", "04A1B2C3D4", "04a1b2c3", "04A1B2CZ", ""])
def test_other_uids_are_refused(uid):
    with pytest.raises(ValidationError):
        validate_uid(uid)


def _authorize(world, raw_uid, cp=None, at=None):
    return id_tag_authorize(charge_point=cp or world.cp_a, raw_uid=raw_uid, at=at or timezone.now())


def test_active_card_is_accepted_whatever_the_spelling_of_its_uid(world):
    verdict = _authorize(world, "04:a1:b2:c3")
    assert verdict.status == AuthorizationStatus.ACCEPTED
    assert verdict.id_tag == world.alice_card
    assert verdict.expiry_date is None and verdict.parent_id_tag is None


def test_unknown_card_is_invalid(world):
    assert _authorize(world, "DEADBEEF").status == AuthorizationStatus.INVALID


def test_card_is_invalid_at_another_operators_station(world):
    assert _authorize(world, world.alice_card.uid, cp=world.cp_b).status == AuthorizationStatus.INVALID


@pytest.mark.parametrize("status", [IdTag.Status.BLOCKED, IdTag.Status.LOST])
def test_blocked_or_lost_card_is_blocked(world, status):
    id_tag_block(id_tag=world.alice_card, status=status)
    assert _authorize(world, world.alice_card.uid).status == AuthorizationStatus.BLOCKED


def test_card_of_a_suspended_customer_is_blocked(world):
    CustomerAccount.objects.filter(pk=world.alice.customer_account_id).update(status=CustomerAccount.Status.SUSPENDED)
    assert _authorize(world, world.alice_card.uid).status == AuthorizationStatus.BLOCKED


def test_expired_card_is_expired_and_the_answer_carries_the_expiry(world):
    now = timezone.now()
    IdTag.objects.filter(pk=world.alice_card.pk).update(expires_at=now - timedelta(minutes=1))
    verdict = _authorize(world, world.alice_card.uid, at=now)
    assert verdict.status == AuthorizationStatus.EXPIRED
    assert verdict.expiry_date == now - timedelta(minutes=1)


def test_card_expiring_later_is_accepted_with_its_expiry(world):
    now = timezone.now()
    IdTag.objects.filter(pk=world.alice_card.pk).update(expires_at=now + timedelta(days=30))
    verdict = _authorize(world, world.alice_card.uid, at=now)
    assert verdict.status == AuthorizationStatus.ACCEPTED
    assert verdict.expiry_date == now + timedelta(days=30)


def test_fleet_card_answers_with_its_group_tag_and_follows_its_state(world):
    fleet = make_account(world.org_a, "Taxi AB", kind=CustomerAccount.Kind.FLEET)
    group = make_tag(fleet, uid="AAAAAAAAAAAAAA")
    card = make_tag(fleet, uid="04BBBBBBBBBBBB", parent=group)
    assert _authorize(world, card.uid).parent_id_tag == "AAAAAAAAAAAAAA"
    id_tag_block(id_tag=group)
    assert _authorize(world, card.uid).status == AuthorizationStatus.BLOCKED


def test_card_already_charging_is_concurrent_tx_until_its_limit(world):
    connector_1, connector_2 = world.cp_a.connectors.all()
    make_session(connector_1, world.alice_card, energy_wh=None)
    assert _authorize(world, world.alice_card.uid).status == AuthorizationStatus.CONCURRENT_TX
    IdTag.objects.filter(pk=world.alice_card.pk).update(max_concurrent_sessions=2)
    assert _authorize(world, world.alice_card.uid).status == AuthorizationStatus.ACCEPTED
    make_session(connector_2, world.alice_card, energy_wh=None)
    assert _authorize(world, world.alice_card.uid).status == AuthorizationStatus.CONCURRENT_TX


def test_finished_sessions_do_not_count_against_the_limit(world):
    make_session(world.cp_a.connectors.first(), world.alice_card, energy_wh=5_000)
    assert _authorize(world, world.alice_card.uid).status == AuthorizationStatus.ACCEPTED


def test_driver_can_mark_only_their_own_card_lost(world):
    with pytest.raises(PermissionDenied):
        id_tag_mark_lost(id_tag=world.bob_card, user=world.alice)
    lost = id_tag_mark_lost(id_tag=world.alice_card, user=world.alice)
    assert lost.status == IdTag.Status.LOST and lost.blocked_at is not None
    world.bob_card.refresh_from_db()
    assert world.bob_card.status == IdTag.Status.ACTIVE


def test_lost_card_cannot_be_unblocked_but_a_blocked_one_can(world):
    id_tag_block(id_tag=world.bob_card)
    assert id_tag_unblock(id_tag=world.bob_card).status == IdTag.Status.ACTIVE
    id_tag_block(id_tag=world.alice_card, status=IdTag.Status.LOST)
    with pytest.raises(ValueError, match="lost"):
        id_tag_unblock(id_tag=world.alice_card)
