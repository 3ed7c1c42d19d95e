"""A stop's price, charge and rollups survive a crash: a record committed with the stop, retried, swept."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

import billing.services
from billing.models import LedgerEntry, SessionPrice
from billing.services import session_price_freeze, tariff_assignment_create
from chargeportal.celery import app as celery_app
from reporting.faults import _unbilled_waiting, needs_attention
from sessions_app import hooks
from sessions_app.models import ChargingSession, PostStopWork
from sessions_app.post_stop import CLAIM, post_stop_sweep, post_stop_work_run, retry_delay
from sessions_app.services import session_start, session_stop
from sessions_app.tasks import post_stop_sweep_task, post_stop_work
from tests.factories import make_session, make_tariff

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
STOP = START + timedelta(hours=2)


@pytest.fixture
def tariff(world):
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"), site=world.site_a)


def start(world, at=START):
    return session_start(
        charge_point=world.cp_a,
        connector_id=1,
        raw_uid=world.alice_card.uid,
        meter_start_wh=100_000,
        timestamp=at,
        now=at,
    )


def stop(world, session):
    return session_stop(
        charge_point=world.cp_a,
        transaction_id=session.pk,
        raw_uid=world.alice_card.uid,
        meter_stop_wh=130_000,
        timestamp=STOP,
        reason="EVDisconnected",
        transaction_data=[],
        now=STOP + timedelta(seconds=1),
    )


def charges(session) -> int:
    return LedgerEntry.objects.filter(session=session, kind=LedgerEntry.Kind.CHARGE).count()


def billed_once(session) -> bool:
    return SessionPrice.objects.filter(session=session).count() == 1 and charges(session) == 1


def test_the_stop_commits_its_pending_work_in_the_same_transaction(world, tariff, django_capture_on_commit_callbacks):
    session = start(world)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        stop(world, session)
    work = PostStopWork.objects.get(session=session)
    assert work.done_at is None and work.attempts == 0 and work.queued_at == STOP + timedelta(seconds=1)
    # the work runs only after the commit (the others tell the live boards and the session-changed handlers)
    assert [c.__module__ for c in callbacks] == [
        "sessions_app.post_stop",
        "sessions_app.board_push",
        "sessions_app.hooks",
    ]
    assert not SessionPrice.objects.exists()

    other = start(world, at=STOP + timedelta(hours=1))
    with pytest.raises(RuntimeError), transaction.atomic():
        stop(world, other)
        raise RuntimeError("the stop's transaction fails after all")
    other.refresh_from_db()
    assert other.state == ChargingSession.State.ACTIVE
    assert not PostStopWork.objects.filter(session=other).exists()


def test_with_a_broker_the_stop_only_queues_the_work(world, tariff, monkeypatch, django_capture_on_commit_callbacks):
    queued = []
    celery_app.conf.task_always_eager = False  # a broker (the autouse fixture of tests/conftest.py restores it)
    monkeypatch.setattr(post_stop_work, "delay", queued.append)
    session = start(world)
    with django_capture_on_commit_callbacks(execute=True):
        stop(world, session)
    assert queued == [session.pk]
    assert not SessionPrice.objects.exists()  # the answer did not wait for the price
    assert PostStopWork.objects.get(session=session).done_at is None


def test_without_a_broker_the_work_runs_inline_after_the_commit(world, tariff, django_capture_on_commit_callbacks):
    assert celery_app.conf.task_always_eager
    session = start(world)
    with django_capture_on_commit_callbacks(execute=True):
        stop(world, session)
    work = PostStopWork.objects.get(session=session)
    assert billed_once(session)
    assert work.done_at is not None and work.attempts == 1 and work.last_error == ""


def test_a_failing_handler_leaves_the_work_pending_and_the_sweeper_finishes_it_once(
    world, tariff, monkeypatch, django_capture_on_commit_callbacks
):
    book = billing.services.session_charge_book

    def ledger_down(**kwargs):
        raise ConnectionError("ledger unavailable")

    monkeypatch.setattr(billing.services, "session_charge_book", ledger_down)
    session = start(world)
    with django_capture_on_commit_callbacks(execute=True):
        stop(world, session)
    work = PostStopWork.objects.get(session=session)
    assert work.done_at is None and work.attempts == 1 and "ledger unavailable" in work.last_error
    assert work.next_attempt_at - timezone.now() > retry_delay(1) - timedelta(seconds=5)
    assert not SessionPrice.objects.exists()  # the price and its charge are one transaction

    monkeypatch.setattr(billing.services, "session_charge_book", book)
    assert post_stop_sweep().done == 0  # not due yet
    swept = post_stop_sweep(now=work.next_attempt_at)
    again = post_stop_sweep(now=work.next_attempt_at + timedelta(hours=2))

    work.refresh_from_db()
    assert (swept.done, swept.failed, again.done, again.requeued) == (1, 0, 0, 0)
    assert work.done_at is not None and work.attempts == 2 and work.last_error == ""
    assert billed_once(session)


def test_failed_attempts_wait_twice_as_long_each_time_up_to_an_hour(settings):
    settings.POST_STOP_RETRY_BASE_SECONDS = 30
    assert [retry_delay(n).total_seconds() for n in (1, 2, 3, 4, 10, 1000)] == [30, 60, 120, 240, 3600, 3600]


def test_in_eager_mode_a_failure_is_left_to_the_sweeper_not_retried_at_once(world, monkeypatch):
    calls = []

    def broken(session_id):
        calls.append(session_id)
        raise RuntimeError("boom")

    session = make_session(world.cp_a.connectors.get(number=1), world.alice_card)
    PostStopWork.objects.create(session=session)
    monkeypatch.setattr(hooks, "session_completed_handlers", [broken])
    post_stop_work.delay(session.pk)
    assert calls == [session.pk]
    assert PostStopWork.objects.get(session=session).attempts == 1


def test_work_claimed_by_one_run_is_not_run_by_another_meanwhile(world, monkeypatch):
    session = make_session(world.cp_a.connectors.get(number=1), world.alice_card)
    PostStopWork.objects.create(session=session)
    second_runs = []
    monkeypatch.setattr(
        hooks,
        "session_completed_handlers",
        [
            lambda session_id: second_runs.append(post_stop_work_run(session_id=session_id)),
        ],
    )
    work = post_stop_work_run(session_id=session.pk)
    assert second_runs == [None]  # a second worker, while the first runs it: nothing to do
    assert work.done_at is not None and work.attempts == 1
    assert post_stop_work_run(session_id=session.pk) is None  # done: never again


def test_work_of_a_run_killed_midway_is_due_again_once_its_claim_runs_out(world, monkeypatch):
    session = make_session(world.cp_a.connectors.get(number=1), world.alice_card)
    now = timezone.now()
    PostStopWork.objects.create(session=session, attempts=1, next_attempt_at=now + CLAIM)  # claimed, then killed
    assert post_stop_sweep(now=now).done == 0
    assert post_stop_sweep(now=now + CLAIM).done == 1


def test_a_session_a_crash_left_unpriced_without_a_record_is_priced_and_charged_once_by_the_sweeper(world, tariff):
    session = make_session(world.cp_a.connectors.get(number=1), world.alice_card)  # completed, nothing else
    first = post_stop_sweep()
    second = post_stop_sweep()
    assert (first.requeued, first.done, second.requeued, second.done) == (1, 1, 0, 0)
    assert billed_once(session)
    assert PostStopWork.objects.get(session=session).done_at is not None


def test_a_session_priced_without_its_charge_is_charged_once_by_the_sweeper(world, tariff, monkeypatch):
    session = make_session(world.cp_a.connectors.get(number=1), world.alice_card)
    with monkeypatch.context() as crash:
        crash.setattr(billing.services, "session_charge_book", lambda price: [])  # a crash between price and charge
        assert session_price_freeze(session=session) is not None
    PostStopWork.objects.create(session=session, done_at=timezone.now())
    assert charges(session) == 0

    swept = post_stop_sweep()
    post_stop_sweep()
    assert swept.requeued == 1 and billed_once(session)


def test_work_opened_again_for_a_gap_counts_its_attempts_afresh(world, tariff, monkeypatch):
    session = make_session(world.cp_a.connectors.get(number=1), world.alice_card)
    with monkeypatch.context() as crash:
        crash.setattr(billing.services, "session_charge_book", lambda price: [])  # a crash between price and charge
        assert session_price_freeze(session=session) is not None
    PostStopWork.objects.create(session=session, attempts=9, done_at=timezone.now())  # done after 8 failures

    def ledger_down(session_id):
        raise ConnectionError("ledger unavailable")

    monkeypatch.setattr(hooks, "session_completed_handlers", [ledger_down])
    swept = post_stop_sweep()  # the gap (no charge) opens the record again; its first attempt fails
    work = PostStopWork.objects.get(session=session)
    assert (swept.requeued, swept.failed, work.attempts) == (1, 1, 1)
    assert "ledger unavailable" in work.last_error
    assert work.next_attempt_at - timezone.now() < retry_delay(1) + timedelta(seconds=5)  # not an hour


def test_old_gaps_are_left_to_a_sweep_that_looks_further_back(world, tariff):
    old = make_session(world.cp_a.connectors.get(number=1), world.alice_card)
    ChargingSession.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=settings.POST_STOP_SWEEP_DAYS + 1)
    )
    assert post_stop_sweep().requeued == 0

    out = StringIO()
    call_command("post_stop_sweep", "--days", str(settings.POST_STOP_SWEEP_DAYS + 2), stdout=out)
    assert "1 done, 0 failed" in out.getvalue() and billed_once(old)


def test_a_session_without_a_tariff_is_settled_once_and_not_scanned_again(world):
    session = make_session(world.cp_a.connectors.get(number=1), world.alice_card)
    assert post_stop_sweep().requeued == 1
    assert post_stop_sweep().requeued == 0
    assert not SessionPrice.objects.filter(session=session).exists()
    assert PostStopWork.objects.get(session=session).done_at is not None


def test_the_beat_sweeps_every_minute_through_the_task(world, tariff):
    schedule = settings.CELERY_BEAT_SCHEDULE["post-stop-sweep"]
    assert (schedule["task"], schedule["schedule"]) == (post_stop_sweep_task.name, 60.0)
    session = make_session(world.cp_a.connectors.get(number=1), world.alice_card)
    assert post_stop_sweep_task() == {"requeued": 1, "done": 1, "failed": 0}
    assert billed_once(session)


def test_needs_attention_lists_a_station_whose_session_waits_too_long_for_billing(
    world, settings, django_assert_num_queries
):
    settings.POST_STOP_ATTENTION_MINUTES = 15
    now = timezone.now()
    connector = world.cp_a.connectors.get(number=1)
    for minutes in (20, 30, 5):  # two waiting too long, one just stopped
        PostStopWork.objects.create(
            session=make_session(connector, world.alice_card), queued_at=now - timedelta(minutes=minutes)
        )
    PostStopWork.objects.create(
        session=make_session(connector, world.alice_card), queued_at=now - timedelta(hours=2), done_at=now
    )
    PostStopWork.objects.create(
        session=make_session(world.cp_b.connectors.get(number=1), None), queued_at=now - timedelta(hours=1)
    )  # another operator's

    with django_assert_num_queries(1):
        waiting = _unbilled_waiting(organization=world.org_a, now=now)
    assert [(cp, cp.unbilled) for cp in waiting] == [(world.cp_a, 2)]

    [station] = needs_attention(organization=world.org_a, start=now - timedelta(days=1), end=now, now=now)
    assert station.charge_point == world.cp_a
    assert any(
        "2 stopped session(s) not billed yet after 15 minutes" in r.text and r.points == 6 for r in station.reasons
    )
