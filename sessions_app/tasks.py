"""Celery tasks of the sessions app: they take ids and call services (sessions_app.post_stop, .services)."""

from celery import shared_task
from django.utils import timezone

from sessions_app.firmware import firmware_campaign_send, firmware_resend_due
from sessions_app.load_management import load_charger_boot, load_rebalance_run, load_sweep
from sessions_app.local_list import local_list_boot, local_list_sweep, local_list_sync
from sessions_app.post_stop import post_stop_sweep, post_stop_work_run
from sessions_app.reservations import reservations_expire
from sessions_app.services import charge_points_disconnect_silent


@shared_task(name="sessions_app.post_stop_work", bind=True, acks_late=True, max_retries=6)
def post_stop_work(self, session_id: int) -> bool:
    """A stopped session's price, charge and rollups, queued when its stop committed.

    A failure is retried when the record says (30 s, 1, 2, 4, 8, 16 min by default); after the last retry,
    or inline without a broker, the sweeper carries on. Returns whether this run finished it.
    """
    work = post_stop_work_run(session_id=session_id)
    if work is None:  # done already, or another run holds it
        return False
    if work.done_at is not None:
        return True
    if self.request.is_eager or self.request.retries >= self.max_retries:
        return False
    wait = (work.next_attempt_at - timezone.now()).total_seconds()
    raise self.retry(countdown=max(wait, 0) + 1)  # +1 s: due by then, whatever the rounding


@shared_task(name="sessions_app.post_stop_sweep", acks_late=True)
def post_stop_sweep_task() -> dict:
    """Beat's job every minute: run the post-stop work due, and queue again what a crash left undone."""
    sweep = post_stop_sweep()
    return {"requeued": sweep.requeued, "done": sweep.done, "failed": sweep.failed}


@shared_task(name="sessions_app.connection_sweep", acks_late=True)
def connection_sweep_task() -> int:
    """Beat's job every minute: end the connections of chargers silent too long (a killed server process left
    them open). Returns how many were ended."""
    return charge_points_disconnect_silent()


@shared_task(name="sessions_app.reservations_expire", acks_late=True)
def reservations_expire_task() -> int:
    """Beat's job every 30 seconds: reservations past their expiry end (EXPIRED). Returns how many."""
    return reservations_expire(now=timezone.now())


@shared_task(name="sessions_app.local_list_sync", acks_late=True)
def local_list_sync_task(charge_point_id: int, full: bool = False) -> str:
    """Bring one charger's local authorization list up to date (``local_list.local_list_sync``); its outcome."""
    return local_list_sync(charge_point_id=charge_point_id, full=full).outcome


@shared_task(name="sessions_app.local_list_boot", acks_late=True)
def local_list_boot_task(charge_point_id: int) -> str:
    """After a charger's boot: read its list settings and versions, then sync (``local_list.local_list_boot``)."""
    return local_list_boot(charge_point_id=charge_point_id).outcome


@shared_task(name="sessions_app.local_list_sweep", acks_late=True)
def local_list_sweep_task() -> int:
    """Beat's job every minute: queue a sync for the lists pending, failed and due, or out of date (an expiry).
    Returns how many were queued."""
    return local_list_sweep()


@shared_task(name="sessions_app.firmware_campaign_send", acks_late=True)
def firmware_campaign_send_task(campaign_id: int) -> int:
    """A new firmware campaign: each charger is sent the firmware (claimed one by one, so a second run sends
    nothing twice). Returns how many were sent to."""
    return firmware_campaign_send(campaign_id=campaign_id, now=timezone.now())


@shared_task(name="sessions_app.firmware_resend", acks_late=True)
def firmware_resend_task() -> int:
    """Beat's job every 5 minutes: firmware that did not reach its charger (offline, no answer) is sent again to
    the chargers connected now, within the campaign's window. Returns how many were sent to."""
    return firmware_resend_due(now=timezone.now())


@shared_task(name="sessions_app.load_rebalance", acks_late=True)
def load_rebalance_task(group_id: int, release_ids: list[int] | None = None) -> bool:
    """Share a load group's limit again and send what changed; clear the profiles of ``release_ids`` no group manages
    any more (``load_management.load_rebalance_run``: one run per group at a time). Whether this call ran it."""
    return load_rebalance_run(group_id=group_id, release_ids=release_ids or [])


@shared_task(name="sessions_app.load_charger_boot", acks_late=True)
def load_charger_boot_task(charge_point_id: int) -> str:
    """After a managed charger's boot: read its rate units, share its group again (``load_management``)."""
    return load_charger_boot(charge_point_id=charge_point_id)


@shared_task(name="sessions_app.load_sweep", acks_late=True)
def load_sweep_task() -> int:
    """Beat's job every minute: every load group shared again (windows, turns, chargers back online), disabled ones
    let go. Returns how many groups were queued."""
    return load_sweep()
