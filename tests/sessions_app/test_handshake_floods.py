"""Floods of charger handshakes: failed passwords lock the charger id or the address out before any password is
hashed, lockouts expire and grow, and a flood of refusals is a handful of security events with counts."""

import uuid
from datetime import timedelta
from unittest import mock

import pytest
import time_machine
from django.conf import settings as django_settings
from django.utils import timezone

from sessions_app.models import ChargePoint, SecurityEvent
from sessions_app.services import charge_point_connect

SECRET = "a-long-charger-secret-42"
CONFIGURED_CACHES = django_settings.CACHES  # Redis when REDIS_URL is set, else the database
HOME, ATTACKER = "198.51.100.10", "203.0.113.66"


@pytest.fixture(autouse=True)
def limits(settings):
    """The production defaults, on a cache of this test's own (the counts outlive a test in Redis)."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": f"floods-{uuid.uuid4()}"}
    }
    settings.OCPP_AUTH_FAILURES_PER_ID = 5
    settings.OCPP_AUTH_FAILURES_PER_ADDRESS = 20
    settings.OCPP_AUTH_FAILURE_WINDOW = 300
    settings.OCPP_AUTH_LOCKOUT = 60
    settings.OCPP_AUTH_LOCKOUT_MAX = 900
    settings.SECURITY_EVENT_WINDOW = 300


@pytest.fixture
def cp(world) -> ChargePoint:
    world.cp_a.set_password(SECRET)
    world.cp_a.save()
    return world.cp_a


def handshake(
    ocpp_id: str = "ALPHA-1", *, password: str | None = None, address: str | None = HOME, slug: str | None = None
) -> bool:
    """Whether the server would accept this charger's websocket."""
    return charge_point_connect(
        ocpp_id=ocpp_id,
        organization_slug=slug,
        password=password,
        remote_address=address,
        channel_name=f"test.{uuid.uuid4().hex}",
        at=timezone.now(),
    ).accepted


def address(number: int) -> str:
    return f"192.0.2.{number}"


def fail_from_many_addresses(times: int, ocpp_id: str = "ALPHA-1") -> None:
    for number in range(times):
        assert not handshake(ocpp_id, password="guess", address=address(number + 1))


def later(seconds: float):
    return time_machine.travel(timezone.now() + timedelta(seconds=seconds), tick=False)


def test_five_wrong_passwords_lock_the_charger_id_and_then_no_password_is_even_checked(cp):
    fail_from_many_addresses(5)

    with mock.patch.object(ChargePoint, "check_password") as check:
        assert not handshake(password=SECRET, address="192.0.2.200")
        assert not handshake(password="guess", address="192.0.2.201")
    check.assert_not_called()
    locked = SecurityEvent.objects.get(kind=SecurityEvent.Kind.LOCKED_OUT)
    assert (locked.charge_point, locked.organization, locked.detail, locked.count) == (
        cp,
        cp.organization,
        "id locked",
        2,
    )


def test_four_wrong_passwords_do_not_lock_the_charger(cp):
    fail_from_many_addresses(4)

    assert handshake(password=SECRET, address="192.0.2.200")


def test_failures_spread_wider_than_the_window_do_not_lock(cp):
    fail_from_many_addresses(4)
    with later(301):
        fail_from_many_addresses(4)
        assert handshake(password=SECRET, address="192.0.2.200")


def test_the_charger_id_lockout_spares_the_address_the_charger_last_authenticated_from(cp):
    assert handshake(password=SECRET, address=HOME)
    fail_from_many_addresses(5)

    assert not handshake(password=SECRET, address="192.0.2.200")
    assert handshake(password=SECRET, address=HOME)


def test_a_lockout_expires_and_the_right_password_then_works(cp):
    fail_from_many_addresses(5)
    with later(59):
        assert not handshake(password=SECRET)
    with later(61):
        assert handshake(password=SECRET)


def test_each_further_lockout_lasts_twice_as_long_up_to_the_maximum(cp, settings):
    """Each check from a new address: one that got in would be spared by the next lockout."""
    settings.OCPP_AUTH_LOCKOUT_MAX = 150
    fail_from_many_addresses(5)  # locked 60 s
    with later(61):
        fail_from_many_addresses(5)  # locked 120 s
    with later(61 + 119):
        assert not handshake(password=SECRET, address="192.0.2.210")
    with later(61 + 121):
        assert handshake(password=SECRET, address="192.0.2.211")
        fail_from_many_addresses(5)  # 240 s, capped at 150
    with later(61 + 121 + 149):
        assert not handshake(password=SECRET, address="192.0.2.212")
    with later(61 + 121 + 151):
        assert handshake(password=SECRET, address="192.0.2.213")


def test_twenty_failures_from_one_address_lock_that_address_for_every_charger(cp, world):
    for number in range(20):
        assert not handshake(f"NOBODY-{number}", address=ATTACKER)

    with mock.patch.object(ChargePoint, "check_password") as check:
        assert not handshake(password=SECRET, address=ATTACKER)
    check.assert_not_called()
    assert not handshake("BETA-1", address=ATTACKER)  # no password: refused all the same
    assert handshake("BETA-1", address=HOME)
    assert handshake(password=SECRET, address=HOME)


def test_missing_passwords_count_as_failures(cp):
    for number in range(5):
        assert not handshake(address=address(number + 1))

    assert not handshake(password=SECRET, address="192.0.2.200")


def test_a_thousand_unknown_ids_from_one_address_are_one_event_counted_a_thousand_times(world, settings):
    settings.OCPP_AUTH_FAILURES_PER_ADDRESS = 10_000

    for number in range(1000):
        assert not handshake(f"SCAN-{number}", address=ATTACKER)

    event = SecurityEvent.objects.get()
    assert (event.kind, event.remote_address, event.ocpp_id, event.count) == (
        SecurityEvent.Kind.UNKNOWN_CHARGER,
        ATTACKER,
        "SCAN-0",
        1000,
    )
    assert event.last_at >= event.created_at


def test_a_flood_of_unknown_ids_from_a_few_addresses_is_a_handful_of_rows(world):
    for number in range(1000):
        assert not handshake(f"SCAN-{number}", address=address(number % 4 + 1))

    events = SecurityEvent.objects.all()
    assert len(events) <= 8  # per address: the refusals until the lockout, then the lockout's
    assert sum(event.count for event in events) == 1000
    assert {event.kind for event in events} == {SecurityEvent.Kind.UNKNOWN_CHARGER, SecurityEvent.Kind.LOCKED_OUT}


def test_wrong_passwords_from_rotating_addresses_are_one_event_per_charger(cp, settings):
    settings.OCPP_AUTH_FAILURES_PER_ID = 10_000

    fail_from_many_addresses(100)

    event = SecurityEvent.objects.get()
    assert (event.kind, event.charge_point, event.detail, event.count) == (
        SecurityEvent.Kind.BAD_PASSWORD,
        cp,
        "wrong",
        100,
    )


def test_events_after_the_window_start_a_new_row(world):
    assert not handshake("NOBODY-1", address=ATTACKER)
    assert not handshake("NOBODY-2", address=ATTACKER)
    with later(301):
        assert not handshake("NOBODY-3", address=ATTACKER)

    assert list(SecurityEvent.objects.order_by("created_at").values_list("ocpp_id", "count")) == [
        ("NOBODY-1", 2),
        ("NOBODY-3", 1),
    ]


def test_equal_refusals_under_two_operators_urls_stay_apart(world):
    """Each operator's count is its own: one row must not tell an operator about the other's refusals."""
    for _ in range(3):
        assert not handshake("NOBODY-A", address=ATTACKER, slug=world.org_a.slug)
        assert not handshake("NOBODY-B", address=ATTACKER, slug=world.org_b.slug)

    assert sorted(SecurityEvent.objects.values_list("organization__slug", "count")) == sorted(
        [(world.org_a.slug, 3), (world.org_b.slug, 3)]
    )


def test_the_lockout_holds_on_the_configured_cache(world, settings):
    """Redis or the database cache, as the server runs (a new id and addresses: the counts outlive a test there)."""
    settings.CACHES = CONFIGURED_CACHES
    ocpp_id, run = f"CP-{uuid.uuid4().hex[:12]}", uuid.uuid4().hex[:4]
    charge_point = ChargePoint.objects.create(organization=world.org_a, site=world.site_a, ocpp_id=ocpp_id)
    charge_point.set_password(SECRET)
    charge_point.save()

    for number in range(5):
        assert not handshake(ocpp_id, password="guess", address=f"2001:db8::{run}:{number}")
    with mock.patch.object(ChargePoint, "check_password") as check:
        assert not handshake(ocpp_id, password=SECRET, address=f"2001:db8::{run}:99")
    check.assert_not_called()


def test_a_locked_out_handshake_is_refused_for_its_credentials_so_the_charger_gets_401(cp):
    fail_from_many_addresses(5)

    refusal = charge_point_connect(
        ocpp_id="ALPHA-1",
        organization_slug=None,
        password=SECRET,
        remote_address="192.0.2.200",
        channel_name="test.locked",
        at=timezone.now(),
    )
    assert (refusal.accepted, refusal.unauthorized) == (False, True)
