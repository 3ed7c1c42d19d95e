"""Celery tasks of the reporting app: they call services (reporting.rollups)."""

from datetime import date

from celery import shared_task
from django.utils import timezone

from reporting.alerts import security_alert_send, station_alerts_run
from reporting.rollups import rollups_refresh
from reporting.weekly import weekly_summaries_due, weekly_summary_send


@shared_task(name="reporting.rollups_refresh", acks_late=True)
def rollups_refresh_task() -> int:
    """Beat's job every minute: rollups of what arrived since the last run, and of the hours still open."""
    return rollups_refresh()


@shared_task(name="reporting.weekly_summaries")
def weekly_summaries() -> int:
    """Beat's Monday-morning job: one task per organization whose last week's summary is not sent yet."""
    due = weekly_summaries_due(now=timezone.now())
    for organization_id, week_start in due:
        weekly_summary_email.delay(organization_id, week_start.isoformat())
    return len(due)


@shared_task(name="reporting.weekly_summary_email", acks_late=True)
def weekly_summary_email(organization_id: int, week_start: str) -> str:
    """Build and send one organization's weekly summary PDF, once (reporting.weekly)."""
    return weekly_summary_send(organization_id=organization_id, week_start=date.fromisoformat(week_start))


@shared_task(name="reporting.security_alert", bind=True, acks_late=True, max_retries=5)
def security_alert_email(self, event_id: int) -> str:
    """Email one alerting security event a charger reported (queued by hooks.security_alert after its commit);
    a failed send is tried again 1, 2, 4, 8, 16 minutes later (not inline, without a broker)."""
    outcome = security_alert_send(event_id=event_id)
    if outcome == "failed" and not self.request.is_eager and self.request.retries < self.max_retries:
        raise self.retry(countdown=60 * 2**self.request.retries)
    return outcome


def security_alert_enqueue(event_id: int) -> None:
    """The handler reporting registers in ``sessions_app.hooks.security_alert_handlers``."""
    security_alert_email.delay(event_id)


@shared_task(name="reporting.station_alerts", acks_late=True)
def station_alerts() -> dict:
    """Beat's job every 5 minutes: open, email (once) and clear station offline/faulted incidents."""
    run = station_alerts_run()
    return {"opened": run.opened, "sent": run.sent, "cleared": run.cleared}
