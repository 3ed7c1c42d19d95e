"""``manage.py post_stop_sweep``: what the beat's sweeper does every minute, now, until nothing is left.

Runs the stopped sessions' post-stop work that is due (price, charge, rollups) and queues again what a
crash left undone (``sessions_app.post_stop``). Without a Celery worker (no Redis) nothing else retries
failed work: run it from cron. ``--days`` looks further back than ``POST_STOP_SWEEP_DAYS`` for sessions
left unpriced or uncharged, e.g. once after upgrading.
"""

from datetime import timedelta

from django.core.management.base import BaseCommand
from django.utils import timezone

from sessions_app.post_stop import post_stop_sweep

#: A gap that comes back after its work was done would otherwise loop for ever.
MAX_ROUNDS = 1000


class Command(BaseCommand):
    help = "Run the post-stop work (price, charge, rollups) that is due, and what a crash left undone."

    def add_arguments(self, parser):
        parser.add_argument(
            "--days", type=int, metavar="N", help="Look this many days back for sessions left unpriced or uncharged."
        )

    def handle(self, *args, days: int | None, **options):
        since = timezone.now() - timedelta(days=days) if days else None
        requeued = done = failed = 0
        for _round in range(MAX_ROUNDS):
            sweep = post_stop_sweep(since=since)
            requeued, done, failed = requeued + sweep.requeued, done + sweep.done, failed + sweep.failed
            if not (sweep.requeued or sweep.done):
                break
        self.stdout.write(f"{done} done, {failed} failed (retried later), {requeued} found left undone by a crash.")
        if failed:
            self.stderr.write("Some post-stop work failed: see each last error in the log.")
