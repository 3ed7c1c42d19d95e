"""``manage.py connection_sweep``: what the beat's connection sweep does every minute, now.

Ends the connections of chargers silent for more than two heartbeat intervals (``models.offline_after``), at
their last message: a server process killed right after a socket closed left them "connected". Without a
Celery worker (no Redis) each server runs it itself; this is for cron or an operator after a crash.
"""

from django.core.management.base import BaseCommand

from sessions_app.services import charge_points_disconnect_silent


class Command(BaseCommand):
    help = "End the connections of chargers silent for more than two heartbeat intervals, at their last message."

    def handle(self, *args, **options):
        ended = charge_points_disconnect_silent()
        self.stdout.write(f"{ended} silent connection(s) ended.")
