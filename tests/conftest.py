"""Shared actors, made once per test: two operators, their staff, two drivers and a platform admin.

Every permission test checks that the wrong actor is refused (alice vs bob, carol vs dave).
"""

import os
import time
from dataclasses import dataclass

import pytest
from django.core.cache import cache
from django.utils import translation
from rest_framework.test import APIClient

from accounts.api_tokens import api_token_create
from accounts.models import IdTag, Organization, User
from sessions_app.models import ChargePoint, Site
from tests.factories import (
    make_charge_point,
    make_driver,
    make_organization,
    make_site,
    make_staff,
    make_tag,
)

PASSWORD = "correct horse 42"


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings):
    """An SQLite test database in a file, so the server process can open it too; one per test run."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        database.setdefault("TEST", {})["NAME"] = str(settings.BASE_DIR / "var" / f"test-{os.getpid()}.sqlite3")
        (settings.BASE_DIR / "var").mkdir(exist_ok=True)


@pytest.fixture
def empty_rate_limits():
    """allauth keeps its rate limits in the cache, which outlives a test's transaction."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2's deliberate slowness is no use in tests."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _language_reset():
    """A page asked for in Swedish leaves Swedish active in the test's thread: the next test starts in English."""
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _celery_tasks_inline():
    """Tasks run inline in the tests' process even when REDIS_URL is set (real workers: tests/e2e)."""
    from chargeportal.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = eager


def _connections_checked_out() -> int:
    """How many connections of the test process's pool are handed out now (0 without a pool: SQLite)."""
    from django.db import connection

    if not connection.settings_dict["NAME"].startswith("test_"):  # the test database not set up (yet)
        return 0
    pool = getattr(connection, "pool", None)
    if pool is None or pool.closed:
        return 0
    stats = pool.get_stats()
    return stats["pool_size"] - stats["pool_available"]


@pytest.fixture(autouse=True)
def _no_connection_left_checked_out():
    """A thread that ends with its database connection open (``asyncio.to_thread`` running a query) leaves it checked
    out of the pool for good; a few such leaks and the pool runs dry tests later, where each test waits 30 s and fails
    far from the cause. The test that leaked fails instead. Only the test's own thread may hold any: two at most, one
    for its synchronous code and one for code under an event loop (Playwright's, in the browser tests), which
    Django keeps apart."""
    yield
    deadline = time.monotonic() + 2  # a connection the pool is still opening counts until it is in
    while (out := _connections_checked_out()) > 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert out <= 2, f"{out} database connections still checked out: a thread ended without closing its own"


@dataclass
class World:
    org_a: Organization
    org_b: Organization
    site_a: Site
    site_b: Site
    cp_a: ChargePoint
    cp_b: ChargePoint
    alice: User  # driver at A
    bob: User  # driver at A, another customer
    carol: User  # operator staff of A
    dave: User  # operator staff of B
    admin: User  # platform admin
    alice_card: IdTag
    bob_card: IdTag


@pytest.fixture
def world(db) -> World:
    org_a, org_b = make_organization("Alpha Charge"), make_organization("Beta Power")
    site_a, site_b = make_site(org_a, "Alpha Depot"), make_site(org_b, "Beta Mall")
    cp_a, cp_b = make_charge_point(site_a, "ALPHA-1"), make_charge_point(site_b, "BETA-1")
    alice = make_driver(org_a, "alice@example.com")
    bob = make_driver(org_a, "bob@example.com")
    return World(
        org_a=org_a,
        org_b=org_b,
        site_a=site_a,
        site_b=site_b,
        cp_a=cp_a,
        cp_b=cp_b,
        alice=alice,
        bob=bob,
        carol=make_staff(org_a, "carol@alpha.example"),
        dave=make_staff(org_b, "dave@beta.example"),
        admin=User.objects.create_superuser(email="root@platform.example", password=PASSWORD),
        alice_card=make_tag(alice.customer_account, alice, "04A1B2C3"),
        bob_card=make_tag(bob.customer_account, bob, "04B0B0B0"),
    )


@pytest.fixture
def carol_api(world) -> APIClient:
    """Operator A's own system: an API client with an API token acting as carol."""
    _token, key = api_token_create(user=world.carol, name="Operator system")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client
