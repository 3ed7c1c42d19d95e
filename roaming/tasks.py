"""Celery tasks of roaming: they take ids and call its services."""

from celery import shared_task

from roaming.push import push_send, push_send_due


@shared_task(name="roaming.push_send", acks_late=True)
def push_send_task(item_ids: list[int]) -> int:
    """Send these pushes now (queued after the commit that stored them); returns how many were acknowledged."""
    return sum(push_send(item_id=item_id) for item_id in item_ids)


@shared_task(name="roaming.push_sweep", acks_late=True)
def push_sweep_task() -> int:
    """Beat's job every minute: the pushes due (retries, and those a crash left unsent)."""
    return push_send_due()
