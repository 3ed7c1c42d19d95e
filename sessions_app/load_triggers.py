"""When a load group is shared again (``load_management.load_rebalance``), queued so no charger's message waits.

Every trigger only queues a rebalance of the group after the current transaction commits, and never raises:
a session starting or stopping (``load_changed``, from ``services`` and ``transaction_events``), a car's draw
changing by an ampere per phase or more (``load_draws_reported``, from the meter values' path), a charger's
connection opening or ending (``load_connections_changed``: an offline charger counts at its maximum), its boot
(``load_charger_booted_enqueue``, after its answer), the admin changing a group (``load_rebalance_soon``) and the
sweep every minute (``load_management.load_sweep``). ``core.background.task_queue`` runs it (a Celery task, or
without a broker a thread of the server), so the charger's answer never waits on the profiles sent. One run per
group at a time (``load_management.load_rebalance_run``): triggers during a run make it run once more.

This module imports no command code, so the services can import it.
"""

import logging
from collections.abc import Iterable
from functools import partial

from django.db import transaction

from core.background import task_queue
from sessions_app.models import ChargePoint, ConnectorAllocation, LoadGroup

logger = logging.getLogger(__name__)


def _queue(task_name: str, *args) -> None:
    from sessions_app import tasks  # the tasks module imports load_management, which imports this one

    task_queue(getattr(tasks, task_name), *args)


def load_rebalance_enqueue(group_id: int, release_ids: list[int]) -> None:
    """Queue a rebalance now (no transaction to wait for: the sweep)."""
    _queue("load_rebalance_task", group_id, release_ids)


def load_rebalance_soon(group_id: int) -> None:
    """Share the group again once the current transaction commits (the admin calls it after a change, and before a
    delete, so the chargers it manages now are let go when it is gone or disabled)."""
    members = ChargePoint.objects.filter(load_groups=group_id).values_list("pk", flat=True)
    allocated = ConnectorAllocation.objects.filter(group_id=group_id).values_list(
        "connector__charge_point_id", flat=True
    )
    release_ids = sorted({*members, *allocated})
    transaction.on_commit(lambda: load_rebalance_enqueue(group_id, release_ids), robust=True)


def _groups_of(charge_points: Iterable[ChargePoint]) -> set[int]:
    """The enabled groups that manage these chargers (from the allocations, and the groups naming them or their
    sites): a superset is harmless, a rebalance of a group that does not manage a charger leaves it alone."""
    ids = {cp.pk for cp in charge_points}
    sites = {cp.site_id for cp in charge_points if cp.site_id}
    enabled = LoadGroup.objects.filter(enabled=True)
    named = enabled.filter(charge_points__in=ids).values_list("pk", flat=True)
    whole_sites = enabled.filter(site_id__in=sites, charge_points=None).values_list("pk", flat=True)
    return {*named, *whole_sites}


def _after_commit(group_ids: Iterable[int]) -> None:
    for group_id in sorted(group_ids):
        transaction.on_commit(partial(_rebalance_now, group_id), robust=True)


def _rebalance_now(group_id: int) -> None:
    load_rebalance_enqueue(group_id, [])


def load_changed(charge_points: Iterable[ChargePoint]) -> None:
    """A session started or stopped on these chargers: their groups are shared again after the commit. Never
    raises (a charger's message must not fail for it)."""
    try:
        _after_commit(_groups_of(list(charge_points)))
    except Exception:
        logger.exception("Load management not told of a change: the sweep will catch it.")


def load_connections_changed(charge_point_ids: Iterable[int]) -> None:
    """These chargers connected or lost their connection: their groups are shared again after the commit (one
    gone offline counts at its maximum, one back online is given its share again). Never raises."""
    try:
        ids = list(charge_point_ids)
        if ids and LoadGroup.objects.filter(enabled=True).exists():
            load_changed(ChargePoint.objects.filter(pk__in=ids).only("pk", "site_id"))
    except Exception:
        logger.exception("Load management not told of connections changing: the sweep will catch it.")


def load_draws_reported(reports: Iterable) -> None:
    """MeterValues stored (``services.MeterValuesReport``): a managed session whose car's draw moved by an ampere
    per phase or more since its share was decided has its group shared again. Cheap: nothing is read unless a
    report of a transaction carries active power. Never raises."""
    try:
        _draws_reported(list(reports))
    except Exception:
        logger.exception("Load management not told of meter values: the sweep will catch any change.")


def _draws_reported(reports: list) -> None:
    from sessions_app.load_management import draw_w, load_draw_changed  # it imports the commands (and services)
    from sessions_app.selectors import POWER_IMPORT
    from sessions_app.services import sampled_measurement

    drawing: dict[int, int] = {}
    for report in reports:
        if report.transaction_id is None:
            continue
        for reading in report.meter_value:
            values = [
                (sampled.get("phase") or "", measured[1])
                for sampled in reading.get("sampled_value", [])
                if (sampled.get("measurand") or "") == POWER_IMPORT
                and (measured := sampled_measurement(sampled)) is not None
            ]
            if values:
                drawing[report.transaction_id] = draw_w(values)
    if not drawing:
        return
    groups = set()
    for session_id, group_id, phases, voltage in ConnectorAllocation.objects.filter(
        session_id__in=drawing, group__enabled=True
    ).values_list("session_id", "group_id", "connector__phases", "group__voltage"):
        if load_draw_changed(session_id, drawing[session_id], phases, voltage):
            groups.add(group_id)
    _after_commit(groups)


def load_charger_booted_enqueue(*, charge_point_id: int) -> None:
    """After a charger's boot was answered: when a group manages it, read its rate units and share the group again
    (``load_management.load_charger_boot``). Never raises."""
    try:
        charge_point = ChargePoint.objects.get(pk=charge_point_id)
        if _groups_of([charge_point]):
            transaction.on_commit(lambda: _queue("load_charger_boot_task", charge_point_id), robust=True)
    except Exception:
        logger.exception("Load management not told of charger %s's boot.", charge_point_id)
