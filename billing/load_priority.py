"""Charging priority for load management: a session's account's customer groups (``CustomerGroup.load_priority``),
registered in ``sessions_app.hooks.load_priority_handlers`` (sessions_app cannot import billing)."""

from django.db.models import Max

from billing.models import CustomerGroupMembership
from sessions_app.models import ChargingSession


def session_load_priorities(session_ids: list[int]) -> dict[int, int]:
    """Each session's highest priority among its account's customer groups (of the charger's operator)."""
    accounts = dict(
        ChargingSession.objects.filter(pk__in=session_ids, customer_account__isnull=False).values_list(
            "pk", "customer_account_id"
        )
    )
    if not accounts:
        return {}
    by_account = dict(
        CustomerGroupMembership.objects.filter(customer_account_id__in=set(accounts.values()))
        .values("customer_account_id")
        .annotate(priority=Max("customer_group__load_priority"))
        .values_list("customer_account_id", "priority")
    )
    return {session_id: by_account[account] for session_id, account in accounts.items() if account in by_account}
