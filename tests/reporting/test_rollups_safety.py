"""Rollups written safely: a rebuild replaces a month at a time (reports never blank), the refresh works and
locks only the sites where something is open or arrived, writers of different sites never wait on each other."""

import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import OperationalError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from reporting.models import ConnectorHour
from reporting.rollups import rollups_rebuild, rollups_refresh, rollups_session_completed, storage
from reporting.rollups.scope import SITE_LOCKS
from sessions_app.models import ChargerConnection
from tests.factories import make_charge_point, make_site
from tests.reporting.test_rollups import hours, session, snapshot, status


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def month_rows(connector: Any, month: datetime) -> list[tuple]:
    following = (month + timedelta(days=32)).replace(day=1)
    return sorted(
        ConnectorHour.objects.filter(connector=connector, hour__gte=month, hour__lt=following).values_list(
            "hour", "sessions", "occupied_s"
        )
    )


def elsewhere(work: Callable[[], Any]) -> Any:
    """``work`` done on another database connection (a thread of its own); its result, or its exception raised."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except Exception as exc:  # noqa: BLE001 - handed to the test's thread
            outcome["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs a second connection and row locks: set DATABASE_URL to PostgreSQL"
)


@pytest.fixture
def c1(world):
    return world.cp_a.connectors.get(number=1)


@pytest.fixture
def c2(world):
    return world.cp_a.connectors.get(number=2)


JAN, FEB, MAR = at(2026, 1, 1), at(2026, 2, 1), at(2026, 3, 1)


def _three_months(world, c1) -> None:
    for month in (JAN, FEB, MAR):
        session(c1, month + timedelta(days=9, hours=8), month + timedelta(days=9, hours=9), card=world.alice_card)
    rollups_rebuild(now=at(2026, 4, 1))


def _spy_inside_each_month(monkeypatch, look: Callable[[datetime], None]) -> None:
    """Call ``look(window start)`` at the end of each month's recompute, before its transaction commits."""
    write = storage.driver_days_write

    def spied(plan, start, end):
        written = write(plan, start, end)
        look(start)
        return written

    monkeypatch.setattr(storage, "driver_days_write", spied)


def test_a_rebuild_replaces_a_month_in_one_transaction_while_the_other_months_keep_their_rows(world, c1, monkeypatch):
    _three_months(world, c1)
    before = {month: month_rows(c1, month) for month in (JAN, FEB, MAR)}
    assert all(before.values())
    session(c1, at(2026, 2, 20, 12), at(2026, 2, 20, 13), card=world.bob_card)  # February changes
    during: dict[datetime, dict[datetime, list]] = {}

    def look(start: datetime) -> None:
        assert connection.in_atomic_block
        during[start] = {month: month_rows(c1, month) for month in (JAN, FEB, MAR)}

    _spy_inside_each_month(monkeypatch, look)
    rollups_rebuild(now=at(2026, 4, 1))

    after = {month: month_rows(c1, month) for month in (JAN, FEB, MAR)}
    assert after[FEB] != before[FEB] and after[JAN] == before[JAN] and after[MAR] == before[MAR]
    assert during[FEB] == {JAN: after[JAN], FEB: after[FEB], MAR: before[MAR]}  # March not blanked in advance
    assert during[MAR] == after


def test_a_rebuild_clears_rows_outside_the_history_with_its_first_and_last_month(world, c1):
    _three_months(world, c1)
    kept = snapshot()
    ConnectorHour.objects.create(
        organization=world.org_a,
        site=world.site_a,
        charge_point=world.cp_a,
        connector=c1,
        hour=at(2025, 6, 1, 10),
        sessions=3,
    )  # no raw row explains these
    ConnectorHour.objects.create(
        organization=world.org_a,
        site=world.site_a,
        charge_point=world.cp_a,
        connector=c1,
        hour=at(2026, 5, 1, 10),
        sessions=4,
    )

    rollups_rebuild(now=at(2026, 4, 1))

    assert snapshot() == kept


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_another_connection_sees_the_old_month_or_the_new_never_none_while_a_rebuild_runs(world, c1, monkeypatch):
    _three_months(world, c1)
    before = {month: month_rows(c1, month) for month in (JAN, FEB, MAR)}
    session(c1, at(2026, 2, 20, 12), at(2026, 2, 20, 13), card=world.bob_card)
    here: dict[datetime, list] = {}
    there: dict[datetime, dict[datetime, list]] = {}

    def look(start: datetime) -> None:
        here[start] = month_rows(c1, FEB)
        there[start] = elsewhere(lambda: {month: month_rows(c1, month) for month in (JAN, FEB, MAR)})

    _spy_inside_each_month(monkeypatch, look)
    rollups_rebuild(now=at(2026, 4, 1))

    new_february = month_rows(c1, FEB)
    assert new_february != before[FEB]
    assert here[FEB] == new_february  # the rebuild's connection has the new February...
    assert there[FEB] == before  # ...the other the old one, and every other month, until it commits
    assert there[MAR] == {**before, FEB: new_february}


def _waits_for_a_lock(work: Callable[[], Any]) -> bool:
    """Whether ``work`` on another connection has to wait for a lock held here (it gives up after 300 ms)."""

    def bounded() -> Any:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '300ms'")
            return work()

    try:
        elsewhere(bounded)
    except OperationalError as exc:
        assert "lock timeout" in str(exc)
        return True
    return False


@postgresql_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("holder", ["refresh", "hook"])
def test_writers_of_different_sites_do_not_wait_on_each_other_and_of_the_same_site_take_turns(world, c1, c2, holder):
    t0 = at(2026, 6, 1, 12)
    rollups_refresh(now=t0)
    running = session(c1, t0 - timedelta(hours=1), card=world.alice_card)  # open: the refresh takes site A
    same_site = session(c2, t0 - timedelta(hours=3), t0 - timedelta(hours=2), card=world.bob_card)
    b1 = world.cp_b.connectors.get(number=1)
    other_site = session(b1, t0 - timedelta(hours=3), t0 - timedelta(hours=2))  # site B: nothing open, nothing new
    later = t0 + timedelta(minutes=30)

    with transaction.atomic():
        if holder == "refresh":
            rollups_refresh(now=later)
        else:
            rollups_session_completed(running.pk, now=later)
        assert not _waits_for_a_lock(lambda: rollups_session_completed(other_site.pk, now=later))
        assert _waits_for_a_lock(lambda: rollups_session_completed(same_site.pk, now=later))

    assert not _waits_for_a_lock(lambda: rollups_session_completed(same_site.pk, now=later))
    assert hours(b1) == {t0 - timedelta(hours=3): {"sessions": 1, "energy_wh": 10_000, "occupied_s": 3600}}


def test_the_refresh_keeps_what_is_open_growing_and_leaves_idle_connectors_alone(world, c1, c2):
    t0 = at(2026, 6, 1, 12)
    charging, faulted, offline = (make_charge_point(world.site_a, f"ALPHA-{n}") for n in (2, 3, 4))
    idle_site = make_site(world.org_a, "Idle Yard")
    idle = make_charge_point(idle_site, "IDLE-1")
    session(c1, t0 - timedelta(hours=2), card=world.alice_card)  # running
    status(c2, t0 - timedelta(hours=3), "Charging")  # the connector's own status in force
    status(charging.connectors.get(number=1), t0 - timedelta(hours=3), "Charging")
    status(faulted, t0 - timedelta(hours=3), "Faulted")  # the station's outage: both its connectors
    ChargerConnection.objects.create(
        charge_point=offline, connected_at=t0 - timedelta(hours=5), disconnected_at=t0 - timedelta(hours=4)
    )
    ChargerConnection.objects.create(charge_point=idle, connected_at=t0 - timedelta(hours=5))
    status(idle.connectors.get(number=1), t0 - timedelta(hours=3), "Available")
    rollups_rebuild(now=t0)

    later = t0 + timedelta(hours=2, minutes=30)
    with CaptureQueriesContext(connection) as queries:
        rollups_refresh(now=later)

    locked = {
        lock
        for q in queries.captured_queries
        for lock in re.findall(r"pg_advisory_xact_lock\((\d+), (\d+)\)", q["sql"])
    }
    if connection.vendor == "postgresql":  # the idle site is not waited for
        assert locked == {(str(SITE_LOCKS), str(world.site_a.pk))}
    incremental = snapshot()
    rollups_rebuild(now=later)
    assert snapshot() == incremental
    grown = t0 + timedelta(hours=2)
    assert hours(c1)[grown] == {"occupied_s": 1800}
    assert hours(c2)[grown] == {"charging_s": 1800}
    assert hours(faulted.connectors.get(number=2))[grown] == {"outage_s": 1800, "down_s": 1800}
    assert hours(offline.connectors.get(number=1))[grown] == {"offline_s": 1800, "down_s": 1800}
    assert hours(idle.connectors.get(number=1)) == {}
