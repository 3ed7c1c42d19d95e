"""Post-stop work: what follows a session's completion (its price, its charge, its rollups), made crash-safe.

The stop commits the session and its ``PostStopWork`` record in one transaction and answers the charger.
After the commit a Celery task runs the record (inline when there is no broker, ``CELERY_TASK_ALWAYS_EAGER``):
every handler higher apps registered (``hooks.session_completed_handlers``), each idempotent. A failure
leaves the record pending with its error and a next attempt, later each time (``POST_STOP_RETRY_BASE_SECONDS``,
doubled per attempt, at most ``MAX_DELAY``). The sweeper (beat, every minute) runs what is due and queues
again what a crash left without a pending record (the gaps higher apps find, ``hooks.post_stop_gap_finders``).
Without a broker there is no beat: the ASGI server sweeps itself instead (``sweeper``).

Two workers never run one record at once: a run first claims it with a conditional update that moves its
next attempt ``CLAIM`` ahead, a lease (a worker killed mid-run leaves it due again once the lease is over).
Should a run outlast its lease, the handlers' idempotency still holds: one price per session, a charge
booked once under its key, rollups recomputed. No row lock is held while the handlers run, so a long
rollup keeps no transaction open.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from sessions_app import hooks
from sessions_app.models import ChargingSession, PostStopWork

logger = logging.getLogger(__name__)

#: How long a run holds its claim: longer than pricing and rollups of any one session take.
CLAIM = timedelta(minutes=5)
#: The longest wait between two attempts.
MAX_DELAY = timedelta(hours=1)
#: At most this many records (and gaps per finder) per sweep.
SWEEP_BATCH = 200


def post_stop_work_begin(*, session: ChargingSession, now: datetime, due: datetime | None = None) -> None:
    """In the transaction completing ``session``: its work, committed with it and run after the commit, or from
    ``due`` on (a session whose charger may still send part of it: ``sessions_app.transaction_events``)."""
    post_stop_work_queue(session_ids=[session.pk], now=now)
    if due is not None:
        PostStopWork.objects.filter(session_id=session.pk, done_at__isnull=True).update(next_attempt_at=due)
        return  # the sweeper runs it once due
    transaction.on_commit(lambda: post_stop_work_enqueue(session_id=session.pk))


def post_stop_work_queue(*, session_ids: list[int], now: datetime) -> None:
    """Make the sessions' work pending and due now: new records, or done ones opened again (a gap found),
    these with a fresh count of attempts, so their first retry does not wait as long as their old last one."""
    due = min(now, timezone.now())  # a ``now`` ahead of the clock (a test) must not postpone the first run
    PostStopWork.objects.bulk_create(
        [PostStopWork(session_id=pk, queued_at=now, next_attempt_at=due) for pk in session_ids],
        ignore_conflicts=True,
    )
    PostStopWork.objects.filter(session_id__in=session_ids, done_at__isnull=False).update(
        done_at=None, queued_at=now, next_attempt_at=due, attempts=0, last_error=""
    )


def post_stop_work_enqueue(*, session_id: int) -> None:
    """Hand the work to a Celery worker; a broker that is down leaves it to the sweeper, not to the charger."""
    from sessions_app.tasks import post_stop_work  # the tasks module imports this one

    try:
        post_stop_work.delay(session_id)
    except Exception:
        logger.exception("Could not queue the post-stop work of session %s: the sweeper will run it.", session_id)


def retry_delay(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: the base, doubled each time, at most ``MAX_DELAY``."""
    base = timedelta(seconds=settings.POST_STOP_RETRY_BASE_SECONDS)
    return min(base * 2 ** min(max(attempts - 1, 0), 20), MAX_DELAY)


def post_stop_work_run(*, session_id: int, now: datetime | None = None) -> PostStopWork | None:
    """Claim the session's work when it is due and run every handler; done only when all of them succeeded.

    Returns the record as left (done, or pending with ``last_error`` and ``next_attempt_at``), or None
    when there was nothing to run: done already, not due yet, or claimed by another run.
    """
    now = now or timezone.now()
    claimed = PostStopWork.objects.filter(
        session_id=session_id,
        done_at__isnull=True,
        next_attempt_at__lte=now,
    ).update(next_attempt_at=now + CLAIM, attempts=F("attempts") + 1)
    if not claimed:
        return None
    failures = hooks.session_completed(session_id)
    work = PostStopWork.objects.filter(session_id=session_id).first()
    if work is None:  # the session was deleted meanwhile
        return None
    if work.done_at is not None:  # a run that outlived its claim finished it meanwhile
        return work
    finished = max(now, timezone.now())
    pending = PostStopWork.objects.filter(session_id=session_id, done_at__isnull=True)
    if failures:
        work.last_error = "\n".join(failures)[:4000]
        work.next_attempt_at = finished + retry_delay(work.attempts)
        pending.update(last_error=work.last_error, next_attempt_at=work.next_attempt_at)
    else:
        work.done_at, work.last_error = finished, ""
        pending.update(done_at=work.done_at, last_error="")
    return work


@dataclass(frozen=True)
class PostStopSweep:
    requeued: int  # gaps found and queued again
    done: int  # records run to the end
    failed: int  # records that failed again (still pending)

    def __bool__(self) -> bool:
        """Whether the sweep found anything to do."""
        return bool(self.requeued or self.done or self.failed)


def post_stop_sweep(
    *, now: datetime | None = None, since: datetime | None = None, batch: int = SWEEP_BATCH
) -> PostStopSweep:
    """One sweep: queue again the gaps found since ``since`` (``POST_STOP_SWEEP_DAYS`` ago by default),
    then run up to ``batch`` due records, the longest due first.

    A ``now`` later than the clock also runs records whose claim has not run out yet (a test, or an
    operator sure that no worker is running them).
    """
    now = now or timezone.now()
    since = since or now - timedelta(days=settings.POST_STOP_SWEEP_DAYS)
    gaps = sorted({pk for finder in hooks.post_stop_gap_finders for pk in finder(since=since, limit=batch)})
    post_stop_work_queue(session_ids=gaps, now=now)
    due = list(
        PostStopWork.objects.filter(done_at__isnull=True, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "session_id")
        .values_list("session_id", flat=True)[:batch]
    )
    done = failed = 0
    for session_id in due:
        work = post_stop_work_run(session_id=session_id, now=now)
        if work is not None:
            done, failed = (done + 1, failed) if work.done_at else (done, failed + 1)
    return PostStopSweep(requeued=len(gaps), done=done, failed=failed)
