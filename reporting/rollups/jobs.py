"""Keeping the rollups current: the hook after a stop, the per-minute refresh, and the rebuild from scratch.

Each writes through ``rollups_recompute``, so the incremental path gives the rows a rebuild gives. Readers
never see a window half written: a window's rows are deleted and written again in one transaction, and the
rebuild replaces the history a month at a time (instead of emptying the tables first). The refresh
recomputes only the connectors where something arrived or is still open, and locks only their sites.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Exists, Max, Min, OuterRef, Q, Subquery
from django.utils import timezone

from accounts.models import Organization
from billing.models import SessionPrice
from core.timeutil import in_force, utc_months
from reporting.models import ConnectorDay, ConnectorHour, DriverDay, RollupState, SiteHour
from reporting.rollups import storage
from reporting.rollups.intervals import HOUR, floor_to, hour_ceil, hour_floor
from reporting.rollups.recompute import OUTAGE, rollups_recompute
from reporting.rollups.scope import lock, plan_of
from sessions_app.models import ChargePoint, ChargerConnection, ChargingSession, Connector, ConnectorStatus, StatusEvent

#: The refresh looks this far behind its last run: rows committed late (a long transaction) are still found.
REFRESH_OVERLAP = timedelta(minutes=5)
REFRESH_STATE = "refresh"
#: A connector's own statuses that add to its rows for as long as they are in force.
COUNTED = OUTAGE | {ConnectorStatus.CHARGING}


def rollups_session_completed(session_id: int, *, now: datetime | None = None) -> int:
    """The ``session_completed`` hook (after billing has priced it): the session's connector, start to now.

    Up to now, not only to its stop: while it ran, the refresh counted it as occupying until then.
    """
    session = (
        ChargingSession.objects.filter(pk=session_id).values_list("connector_id", "started_at", "stopped_at").first()
    )
    if session is None or session[0] is None:
        return 0
    connector_id, started_at, stopped_at = session
    now = now or timezone.now()
    return rollups_recompute(
        connector_ids=[connector_id],
        start=min(started_at, stopped_at or started_at),
        end=max(now, stopped_at or now, started_at + HOUR),
        now=now,
    )


# ---------------------------------------------------------------- refresh


#: Connector id -> [first, last] moment whose hours are recomputed.
Dirty = dict[int, list[datetime]]


def rollups_refresh(*, now: datetime | None = None) -> int:
    """Bring the rollups up to ``now``: what arrived since the last run, and what is still open.

    A connector's hours from the last run's hour on are recomputed when something of it was open since then
    (a session running, a status that counts in force, its charger offline: these grow until now), when it has
    rows there (what was open then may have closed) or when something of it arrived since. Further back: from
    the earliest status event received, session received, price frozen, or connection opened or closed since
    the last run (``REFRESH_OVERLAP`` before it, for rows committed late).
    Only those connectors' sites are locked. Returns how many ConnectorHour rows were written.
    """
    now = now or timezone.now()
    RollupState.objects.get_or_create(key=REFRESH_STATE, defaults={"value": now - HOUR})
    with transaction.atomic():
        state = RollupState.objects.select_for_update().get(key=REFRESH_STATE)
        since = min(state.value, now) - REFRESH_OVERLAP
        recent = hour_floor(since)
        of_charge_point: dict[int, list[int]] = defaultdict(list)
        for pk, cp_id in Connector.objects.values_list("pk", "charge_point_id"):
            of_charge_point[cp_id].append(pk)
        dirty: Dirty = {}

        def touch(pks: Iterable[int], first: datetime | None = None, last: datetime | None = None) -> None:
            for pk in pks:
                window = dirty.setdefault(pk, [recent, now])
                window[0] = min(window[0], first or window[0])
                window[1] = max(window[1], last or window[1])

        touch(_open_since(since, now, of_charge_point))
        touch(
            ConnectorHour.objects.filter(  # what the last runs wrote lately may have been open then (a late stop)
                organization_id__in=list(Organization.objects.values_list("pk", flat=True)),
                hour__gte=recent,
            )
            .order_by()
            .values_list("connector_id", flat=True)
            .distinct()
        )
        _arrived_since(since, of_charge_point, touch)
        groups = _groups(dirty, recent, by=HOUR)
        if len(groups) > 24:  # much late data: fewer, longer windows
            groups = _groups(dirty, recent, by=timedelta(days=1))
        # All the sites at once, in order: no deadlock with another writer taking several of them.
        lock(plan_of(Q(pk__in=list(dirty))))
        written = 0
        for (first, last), pks in sorted(groups.items()):
            for month_start, month_end in utc_months(first, last):
                written += rollups_recompute(connector_ids=pks, start=month_start, end=month_end, now=now)
        state.value = max(state.value, now)
        state.save(update_fields=["value"])
    return written


def _open_since(since: datetime, now: datetime, of_charge_point: dict[int, list[int]]) -> set[int]:
    """The connectors whose rows may have grown after ``since`` though nothing arrived: a session running then
    or later, a status that counts in force then or one timed later (its own, or its station's outage), or its
    charger offline then (connected once, no connection open since before it)."""
    found = set(
        ChargingSession.objects.filter(connector__isnull=False, started_at__lt=now)
        .filter(Q(stopped_at__isnull=True) | Q(stopped_at__gt=since))
        .order_by()
        .values_list("connector_id", flat=True)
        .distinct()
    )
    own = {"connector_id": OuterRef("pk")}
    for pk, status, at in Connector.objects.annotate(
        last_status=_latest("status", own), last_at=_latest("timestamp", own)
    ).values_list("pk", "last_status", "last_at"):
        if at is not None and (at >= since or status in COUNTED):
            found.add(pk)
    station = {"charge_point_id": OuterRef("pk"), "connector__isnull": True}
    for cp_id, status, at, ever, online in ChargePoint.objects.annotate(
        last_status=_latest("status", station),
        last_at=_latest("timestamp", station),
        ever=Exists(ChargerConnection.objects.filter(charge_point_id=OuterRef("pk"))),
        online=Exists(
            ChargerConnection.objects.filter(
                charge_point_id=OuterRef("pk"), connected_at__lte=since, disconnected_at__isnull=True
            )
        ),
    ).values_list("pk", "last_status", "last_at", "ever", "online"):
        if (at is not None and (at >= since or status in OUTAGE)) or (ever and not online):
            found.update(of_charge_point[cp_id])
    return found


def _latest(field: str, match: Mapping[str, object]) -> Subquery:
    """``field`` of the latest status event matching (the one in force now)."""
    return Subquery(in_force(StatusEvent.objects.filter(**match)).values(field)[:1])


def _arrived_since(
    since: datetime,
    of_charge_point: dict[int, list[int]],
    touch: Callable[[Iterable[int], datetime | None, datetime | None], None],
) -> None:
    """Widen the windows of the connectors something arrived for since ``since``, back to its earliest moment."""
    for connector_id, cp_id, first in (
        StatusEvent.objects.filter(received_at__gte=since)
        .values("connector_id", "charge_point_id")
        .annotate(first=Min("timestamp"))
        .values_list("connector_id", "charge_point_id", "first")
    ):
        touch([connector_id] if connector_id else of_charge_point[cp_id], first, None)
    for connector_id, first, last, last_stop in (
        ChargingSession.objects.filter(created_at__gte=since, connector__isnull=False)
        .values("connector_id")
        .annotate(first=Min("started_at"), last=Max("started_at"), last_stop=Max("stopped_at"))
        .values_list("connector_id", "first", "last", "last_stop")
    ):
        touch([connector_id], first, max(last + HOUR, last_stop or last))
    for connector_id, first, last in (
        SessionPrice.objects.filter(priced_at__gte=since, session__connector__isnull=False)
        .values("session__connector_id")
        .annotate(first=Min("session__started_at"), last=Max("session__started_at"))
        .values_list("session__connector_id", "first", "last")
    ):
        touch([connector_id], first, last + HOUR)
    previous_end = (
        ChargerConnection.objects.filter(
            charge_point_id=OuterRef("charge_point_id"),
            connected_at__lt=OuterRef("connected_at"),
        )
        .order_by("-connected_at")
        .values("disconnected_at")[:1]
    )
    for cp_id, connected_at, disconnected_at, before in (
        ChargerConnection.objects.filter(Q(connected_at__gte=since) | Q(disconnected_at__gte=since))
        .annotate(before=Subquery(previous_end))
        .values_list("charge_point_id", "connected_at", "disconnected_at", "before")
    ):
        touch(of_charge_point[cp_id], min(t for t in (connected_at, disconnected_at, before) if t), None)


def _groups(dirty: Dirty, recent: datetime, *, by: timedelta) -> dict[tuple[datetime, datetime], list[int]]:
    """Connectors by the window to recompute: from ``recent``, or from earlier (floored to ``by``) for late data."""
    groups: dict[tuple[datetime, datetime], list[int]] = defaultdict(list)
    for pk, (first, last) in dirty.items():
        if first < recent:
            first = floor_to(first, by)
        groups[(min(first, recent), hour_floor(last) + HOUR)].append(pk)
    return groups


# ---------------------------------------------------------------- rebuild


@dataclass
class RebuildResult:
    start: datetime | None
    end: datetime | None
    connectors: int
    connector_hours: int
    connector_days: int
    site_hours: int
    driver_days: int


Progress = Callable[[list[tuple[datetime, datetime]], int], Iterable[tuple[datetime, datetime]]]


def rollups_rebuild(
    *,
    organization: Organization | None = None,
    since: datetime | None = None,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> RebuildResult:
    """Rebuild the rollups from the raw rows, a month at a time: each month's rows are replaced in one transaction,
    so the reports show the old month or the new one while it runs, never none.

    Without ``since`` the whole history of the scope is rebuilt (rows outside it, before the first raw row or
    after now, go with the first and the last month); with it, the hours from ``since`` on. The refresh
    continues from ``now``.
    """
    now = now or timezone.now()
    scope = Q(charge_point__organization=organization) if organization is not None else Q()
    connector_ids = list(Connector.objects.filter(scope).values_list("pk", flat=True))
    raw_first = [
        ChargingSession.objects.filter(scope, connector__isnull=False).aggregate(t=Min("started_at"))["t"],
        StatusEvent.objects.filter(scope).aggregate(t=Min("timestamp"))["t"],
        ChargerConnection.objects.filter(scope).aggregate(t=Min("connected_at"))["t"],
    ]
    raw_last = ChargingSession.objects.filter(scope, connector__isnull=False).aggregate(
        a=Max("started_at"), b=Max("stopped_at")
    )
    firsts = [t for t in raw_first if t is not None]
    start = hour_floor(max(since, min(firsts)) if since and firsts else since or min(firsts, default=now))
    end = hour_ceil(max([now, *(t for t in raw_last.values() if t is not None)]) + timedelta(microseconds=1))
    organization_ids = (
        [organization.pk] if organization is not None else list(Organization.objects.values_list("pk", flat=True))
    )
    months = utc_months(start, end) if connector_ids else [(start, end)]
    result = RebuildResult(start, end, len(connector_ids), 0, 0, 0, 0)
    for month_start, month_end in progress(months, len(months)) if progress else months:
        with transaction.atomic():
            lock(plan_of(scope))
            storage.scope_clear(
                organization_ids,
                None if month_start == start and since is None else month_start,
                None if month_end == end else month_end,
            )
            if connector_ids:
                result.connector_hours += rollups_recompute(
                    start=month_start, end=month_end, now=now, organization=organization
                )
    org_scope = Q(organization=organization) if organization is not None else Q()
    hour_scope = Q(hour__gte=start) if since is not None else Q()
    day_scope = Q(day__gte=start.date()) if since is not None else Q()
    result.site_hours = SiteHour.objects.filter(org_scope, hour_scope).count()
    result.connector_days = ConnectorDay.objects.filter(org_scope, day_scope).count()
    result.driver_days = DriverDay.objects.filter(org_scope, day_scope).count()
    if organization is None or not RollupState.objects.filter(key=REFRESH_STATE).exists():
        RollupState.objects.update_or_create(key=REFRESH_STATE, defaults={"value": now})
    return result
