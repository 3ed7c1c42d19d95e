"""Celery tasks of the reporting app: they call services (reporting.rollups)."""

from celery import shared_task

from reporting.alerts import station_alerts_run
from reporting.rollups import rollups_refresh


@shared_task(name="reporting.rollups_refresh", acks_late=True)
def rollups_refresh_task() -> int:
    """Beat's job every minute: rollups of what arrived since the last run, and of the hours still open."""
    return rollups_refresh()


@shared_task(name="reporting.station_alerts", acks_late=True)
def station_alerts() -> dict:
    """Beat's job every 5 minutes: open, email (once) and clear station offline/faulted incidents."""
    run = station_alerts_run()
    return {"opened": run.opened, "sent": run.sent, "cleared": run.cleared}
