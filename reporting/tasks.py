"""Celery tasks of the reporting app: they call services (reporting.rollups)."""

from celery import shared_task

from reporting.rollups import rollups_refresh


@shared_task(name="reporting.rollups_refresh", acks_late=True)
def rollups_refresh_task() -> int:
    """Beat's job every minute: rollups of what arrived since the last run, and of the hours still open."""
    return rollups_refresh()
