"""Celery tasks of roaming: they take ids and call its services."""

from celery import shared_task

from roaming.cdr_credits import cdrs_correct_due
from roaming.commands import command_execute, commands_overdue
from roaming.push import push_send, push_send_due


@shared_task(name="roaming.push_send", acks_late=True)
def push_send_task(item_ids: list[int]) -> int:
    """Send these pushes now (queued after the commit that stored them); returns how many were acknowledged."""
    return sum(push_send(item_id=item_id) for item_id in item_ids)


@shared_task(name="roaming.push_sweep", acks_late=True)
def push_sweep_task() -> int:
    """Beat's job every minute: the pushes due (retries, and those a crash left unsent)."""
    return push_send_due()


@shared_task(name="roaming.command_execute")
def command_execute_task(command_id: int) -> str:
    """Send a partner's command to its charger and post the result (queued after the commit that kept it). Not
    ``acks_late``: a worker dying mid-way leaves the command unsent rather than sending it twice (the partner waits
    out the timeout it was given)."""
    return command_execute(command_id=command_id)


@shared_task(name="roaming.commands_overdue")
def commands_overdue_task() -> int:
    """Beat's job every minute: partners' commands left without a result are answered TIMEOUT."""
    return commands_overdue()


@shared_task(name="roaming.cdr_corrections")
def cdr_corrections_task() -> int:
    """Beat's job every minute: credit notes on partners' sessions whose CDR correction was missed."""
    return cdrs_correct_due()
