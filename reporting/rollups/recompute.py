"""Recomputing a window: the rollup rows of some connectors' hours from sessions, prices, statuses, connections.

Every row is a pure function of the raw rows and ``now`` (the end of what is open: running sessions, the
latest status, a charger offline since its last connection), so a window recomputed twice, or alone, gives
the rows a rebuild gives. The window's rows are replaced in the caller's transaction (``storage``) under the
lock of the sites it touches (``scope``).
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Min, OuterRef, Q, Subquery
from django.utils import timezone

from accounts.models import AuthorizationStatus, Organization
from core.timeutil import complement, in_force, stretches, union
from reporting.rollups import storage
from reporting.rollups.intervals import (
    Interval,
    from_us,
    hour_ceil,
    hour_floor,
    hour_index,
    hour_shares,
    hour_start,
    hourly_peaks,
    rounded_seconds,
    to_us,
)
from reporting.rollups.scope import Plan, lock, plan_of
from sessions_app.models import ChargePoint, ChargerConnection, ChargingSession, Connector, ConnectorStatus, StatusEvent

#: Statuses that are an outage; a station's (connector 0) apply to each of its connectors.
OUTAGE = frozenset({ConnectorStatus.FAULTED, ConnectorStatus.UNAVAILABLE})


@dataclass(slots=True)
class HourSums:
    """One connector's hour while it is summed; times in microseconds, rounded to seconds once at the end."""

    sessions: int = 0
    failed_starts: int = 0
    energy_wh: int = 0
    revenue: Decimal = storage.ZERO_MONEY
    zero_energy: int = 0
    occupied: int = 0
    charging: int = 0
    outage: int = 0
    offline: int = 0
    down: int = 0

    def row(self) -> tuple[Any, ...] | None:
        """The columns from ``sessions`` on (CONNECTOR_HOUR_COLUMNS), or None for an hour with nothing in it."""
        seconds = [rounded_seconds(us) for us in (self.occupied, self.charging, self.outage, self.offline, self.down)]
        if not (self.sessions or self.failed_starts or self.energy_wh or self.revenue or any(seconds)):
            return None
        return (self.sessions, self.energy_wh, self.revenue, *seconds, self.failed_starts, self.zero_energy)


#: A connector's hours by hour index.
Hours = dict[int, HourSums]


def _bucket(hours: Hours, index: int) -> HourSums:
    sums = hours.get(index)
    if sums is None:
        sums = hours[index] = HourSums()
    return sums


def _spread(hours: Hours, disjoint: Iterable[Interval], column: str) -> None:
    """Add the microseconds of disjoint intervals to ``column`` of each hour they cover."""
    for index, us in hour_shares(disjoint):
        sums = _bucket(hours, index)
        setattr(sums, column, getattr(sums, column) + us)


def rollups_recompute(
    *,
    connector_ids: Sequence[int] | None = None,
    start: datetime,
    end: datetime,
    now: datetime | None = None,
    organization: Organization | None = None,
) -> int:
    """Recompute the rollups of the hours in [start, end) (widened to whole hours) from the raw rows.

    ``connector_ids`` None means every connector (of ``organization`` when given). The window's
    ConnectorHour rows of those connectors, the SiteHour rows of their sites, and their ConnectorDay and
    their charge points' DriverDay rows for the local days the window touches are deleted and written
    again, in one transaction. Returns how many ConnectorHour rows were written. A long window is worth
    splitting (``rollups_rebuild`` goes a month at a time).
    """
    connector_filter = Q()
    if connector_ids is not None:
        connector_filter &= Q(pk__in=list(connector_ids))
    if organization is not None:
        connector_filter &= Q(charge_point__organization=organization)
    start, end = hour_floor(start), hour_ceil(end)
    if end <= start:
        return 0
    now = now or timezone.now()
    with transaction.atomic():
        plan = plan_of(connector_filter)
        if not plan.connectors:
            return 0
        lock(plan)
        return _recompute(plan, start, end, now)


def rollups_from_hours(
    *,
    connector_ids: Sequence[int],
    start: datetime,
    end: datetime,
    peaks: dict[tuple[int, datetime], int] | None = None,
) -> None:
    """ConnectorDay and SiteHour written from the ConnectorHour rows as they stand (hours made by hand, as in
    tests): the connectors' local days the window touches and their sites' hours in it. ``peaks`` sets the
    sites' busiest moments, (site, hour) -> sessions at once; without it they are kept."""
    start, end = hour_floor(start), hour_ceil(end)
    with transaction.atomic():
        plan = plan_of(Q(pk__in=list(connector_ids)))
        storage.site_hours_write(
            plan,
            start,
            end,
            None if peaks is None else {(site, hour_index(to_us(hour))): peak for (site, hour), peak in peaks.items()},
        )
        storage.connector_days_write(plan, start, end)


def _recompute(plan: Plan, start: datetime, end: datetime, now: datetime) -> int:
    lo, hi_window = to_us(start), to_us(end)
    hi = min(hi_window, to_us(now))  # what is open ends now
    selected = plan.connector_ids
    hours: dict[int, Hours] = {c: {} for c in selected}
    site_busy = _sessions(plan, hours, start, end, now)
    if hi > lo:
        _statuses_and_offline(plan, hours, lo, hi)

    rows = []
    for c in plan.connectors:
        for index, sums in hours[c.id].items():
            row = sums.row()
            if row is not None:
                rows.append((c.organization_id, c.site_id, c.charge_point_id, c.id, hour_start(index), *row))
    storage.connector_hours_replace(selected, start, end, rows)
    peaks = {
        (site, index): peak for site, intervals in site_busy.items() for index, peak in hourly_peaks(intervals).items()
    }
    storage.site_hours_write(plan, start, end, peaks)
    storage.connector_days_write(plan, start, end)
    storage.driver_days_write(plan, start, end)
    return len(rows)


def _sessions(
    plan: Plan, hours: dict[int, Hours], start: datetime, end: datetime, now: datetime
) -> dict[int, list[Interval]]:
    """Sessions into the selected connectors' hours (counts where they start, occupied time where they run);
    returns each site's busy intervals (all its connectors), for its peaks."""
    lo, hi_window = to_us(start), to_us(end)
    now_us = to_us(now)
    hi = min(hi_window, now_us)
    selected = plan.connector_ids
    site_of_connector = {pk: site for site, pks in plan.site_connectors.items() for pk in pks}
    occupied: dict[int, list[Interval]] = defaultdict(list)
    site_busy: dict[int, list[Interval]] = defaultdict(list)
    sessions = (
        ChargingSession.objects.filter(
            connector_id__in=selected.union(*plan.site_connectors.values()),
            started_at__lt=end,
        )
        .filter(Q(started_at__gte=start) | Q(stopped_at__gt=start) | Q(stopped_at__isnull=True))
        .values_list(
            "connector_id", "auth_status", "state", "started_at", "stopped_at", "energy_wh", "price__gross_total"
        )
    )
    for connector_id, auth, state, started_at, stopped_at, energy_wh, gross in sessions.iterator(chunk_size=5000):
        a = to_us(started_at)
        busy = (max(a, lo), min(to_us(stopped_at) if stopped_at is not None else now_us, hi))
        site = site_of_connector.get(connector_id)
        if site is not None and busy[1] > busy[0]:
            site_busy[site].append(busy)
        if connector_id not in selected:
            continue
        if busy[1] > busy[0]:
            occupied[connector_id].append(busy)
        if not lo <= a < hi_window:
            continue
        sums = _bucket(hours[connector_id], hour_index(a))
        if auth != AuthorizationStatus.ACCEPTED:
            sums.failed_starts += 1
            continue
        sums.sessions += 1
        if state == ChargingSession.State.COMPLETED:
            sums.energy_wh += energy_wh or 0
            sums.revenue += gross or 0
            sums.zero_energy += energy_wh == 0
    for connector_id, intervals in occupied.items():
        _spread(hours[connector_id], union(intervals), "occupied")
    return site_busy


def _statuses_and_offline(plan: Plan, hours: dict[int, Hours], lo: int, hi: int) -> None:
    """Charging, outage, offline and down time of the selected connectors in [lo, hi)."""
    start, until = from_us(lo), from_us(hi)
    selected, cps = plan.connector_ids, set(plan.charge_points)
    own: dict[int, list[tuple[int, str]]] = defaultdict(list)
    station: dict[int, list[tuple[int, str]]] = defaultdict(list)
    events = (
        StatusEvent.objects.filter(charge_point_id__in=cps, timestamp__gte=start, timestamp__lt=until)
        .filter(
            Q(connector_id__in=selected) | Q(connector__isnull=True),
        )
        .order_by("timestamp", "pk")
        .values_list("connector_id", "charge_point_id", "timestamp", "status")
    )
    for connector_id, cp_id, timestamp, status in events.iterator(chunk_size=10000):
        if connector_id is None:
            station[cp_id].append((to_us(timestamp), status))
        else:
            own[connector_id].append((to_us(timestamp), status))

    def before(**match: Any) -> Subquery:  # the status in force as the window starts
        return Subquery(in_force(StatusEvent.objects.filter(**match), at=start).values("status")[:1])

    own_before = dict(
        Connector.objects.filter(pk__in=selected)
        .annotate(before=before(connector_id=OuterRef("pk")))
        .values_list("pk", "before")
    )
    station_before = dict(
        ChargePoint.objects.filter(pk__in=cps)
        .annotate(before=before(charge_point_id=OuterRef("pk"), connector__isnull=True))
        .values_list("pk", "before")
    )
    station_outage = {
        cp_id: [
            (a, b)
            for a, b, status in stretches(station.get(cp_id, []), lo, hi, before=station_before.get(cp_id))
            if status in OUTAGE
        ]
        for cp_id in cps
    }
    offline = _offline(cps, lo, hi)

    for c in plan.connectors:
        charging: list[Interval] = []
        outage = list(station_outage[c.charge_point_id])
        for a, b, status in stretches(own.get(c.id, []), lo, hi, before=own_before.get(c.id)):
            if status == ConnectorStatus.CHARGING:
                charging.append((a, b))
            elif status in OUTAGE:
                outage.append((a, b))
        into = hours[c.id]
        _spread(into, charging, "charging")  # one connector's own statuses never overlap
        _spread(into, union(outage), "outage")
        _spread(into, offline[c.charge_point_id], "offline")
        _spread(into, union(outage + offline[c.charge_point_id]), "down")


def _offline(cps: set[int], lo: int, hi: int) -> dict[int, list[Interval]]:
    """Each charger's time in [lo, hi) between a connection's end and its next connection (after its last,
    until ``hi``); never before its first connection."""
    start, until = from_us(lo), from_us(hi)
    first_connection = dict(
        ChargerConnection.objects.filter(charge_point_id__in=cps)
        .values("charge_point_id")
        .annotate(first=Min("connected_at"))
        .values_list("charge_point_id", "first")
    )
    online: dict[int, list[Interval]] = defaultdict(list)
    for cp_id, connected_at, disconnected_at in (
        ChargerConnection.objects.filter(charge_point_id__in=cps, connected_at__lt=until)
        .filter(Q(disconnected_at__isnull=True) | Q(disconnected_at__gt=start))
        .values_list("charge_point_id", "connected_at", "disconnected_at")
    ):
        online[cp_id].append((to_us(connected_at), to_us(disconnected_at) if disconnected_at else hi))
    offline: dict[int, list[Interval]] = {}
    for cp_id in cps:
        first = first_connection.get(cp_id)
        since = max(lo, to_us(first)) if first is not None else hi
        offline[cp_id] = complement(union(online.get(cp_id, [])), since, hi) if since < hi else []
    return offline
