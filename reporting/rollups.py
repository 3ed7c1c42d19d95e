"""Rollups: ConnectorHour, ConnectorDay, SiteHour and DriverDay recomputed from the raw rows.

Every rollup row is a pure function of the raw data and ``now`` (the end of what is open: running
sessions, the latest status, a charger offline since its last connection). ``rollups_recompute`` deletes
the rows of a window of hours and writes them again from sessions, prices, status events and connections,
so recomputing is idempotent and the incremental path (``rollups_session_completed``, ``rollups_refresh``)
gives the same rows as ``rollups_rebuild`` from scratch.

Columns, per connector and UTC hour (``reporting.models``):

- ``sessions`` / ``failed_starts``: sessions started in the hour, with auth status Accepted / any other;
- ``energy_wh``, ``revenue`` (the frozen SessionPrice.gross_total), ``zero_energy``: over the completed,
  accepted sessions started in the hour;
- ``occupied_s``: seconds of the hour inside a session ``[started_at, stopped_at or now)`` (any auth status;
  two sessions at once count each second once);
- ``charging_s``: seconds the connector's own last status was Charging; a status holds from its timestamp
  until the connector's next status event (the last one until now);
- ``outage_s``: seconds the connector's status, or its station's (connector 0: only Unavailable and Faulted
  apply to every connector), was Faulted or Unavailable;
- ``offline_s``: seconds between a ChargerConnection's end and the charger's next connection (after its last
  one, until now); never before its first connection;
- ``down_s``: the union of outage and offline (NEVI's outage: each second once).

SiteHour.peak_sessions: most sessions of the site's connectors running at one moment of the hour; its
``sessions`` and ``occupied_s`` are the hour's ConnectorHour rows of the site summed, ``local_weekday`` and
``local_hour`` where the hour falls in the site's week (the hour that repeats in autumn appears twice).
ConnectorDay: a connector's ConnectorHour rows summed per local day (site time; the operator's without a site),
plus ``idle_s`` (occupied less charging per hour, never below zero).
DriverDay: one row per (charge point, customer account, site-local date) with an accepted session started.
Seconds are summed in microseconds and rounded once per hour, so any two windows agree to the second.
"""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db import connection, models, transaction
from django.db.models import F, Max, Min, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Greatest, TruncDate
from django.utils import timezone

from accounts.models import AuthorizationStatus, Organization
from billing.models import SessionPrice
from billing.selectors import organization_time_zone
from reporting.models import ConnectorDay, ConnectorHour, DriverDay, RollupState, SiteHour
from sessions_app.models import (
    ChargePoint,
    ChargerConnection,
    ChargingSession,
    Connector,
    ConnectorStatus,
    StatusEvent,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = 1_000_000
HOUR_US = 3600 * US
HOUR = timedelta(hours=1)
OUTAGE = frozenset({ConnectorStatus.FAULTED, ConnectorStatus.UNAVAILABLE})
ACCEPTED = AuthorizationStatus.ACCEPTED
ZERO_MONEY = Decimal("0.00")
#: The refresh looks this far behind its last run: rows committed late (a long transaction) are still found.
REFRESH_OVERLAP = timedelta(minutes=5)
REFRESH_STATE = "refresh"

# Column positions in the per-hour accumulators.
_SESSIONS, _ENERGY, _REVENUE, _OCCUPIED, _CHARGING, _OUTAGE, _OFFLINE, _DOWN, _FAILED, _ZERO = range(10)


def _us(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def _at(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def hour_floor(moment: datetime) -> datetime:
    return _at(_us(moment) // HOUR_US * HOUR_US)


def hour_ceil(moment: datetime) -> datetime:
    return _at(-(-_us(moment) // HOUR_US) * HOUR_US)


def _seconds(us: int) -> int:
    return (us + US // 2) // US


# ---------------------------------------------------------------- interval arithmetic (microseconds)


def _merge(intervals: Iterable[tuple[int, int]]) -> list[list[int]]:
    """Sorted, disjoint, non-empty intervals covering the same instants."""
    merged: list[list[int]] = []
    for a, b in sorted(iv for iv in intervals if iv[1] > iv[0]):
        if merged and a <= merged[-1][1]:
            if b > merged[-1][1]:
                merged[-1][1] = b
        else:
            merged.append([a, b])
    return merged


def _per_hour(merged: list[list[int]], into: dict[int, list], column: int) -> None:
    """Add the microseconds of disjoint intervals to each hour they cover."""
    for a, b in merged:
        h = a // HOUR_US
        while a < b:
            edge = min(b, (h + 1) * HOUR_US)
            row = into.get(h)
            if row is None:
                row = into[h] = _blank()
            row[column] += edge - a
            a, h = edge, h + 1


def _blank() -> list:
    return [0, 0, ZERO_MONEY, 0, 0, 0, 0, 0, 0, 0]


def _complement(merged: list[list[int]], lo: int, hi: int) -> list[list[int]]:
    gaps, cursor = [], lo
    for a, b in merged:
        if a > cursor:
            gaps.append([cursor, min(a, hi)])
        cursor = max(cursor, b)
        if cursor >= hi:
            break
    if cursor < hi:
        gaps.append([cursor, hi])
    return [g for g in gaps if g[1] > g[0]]


def _status_intervals(previous: str | None, events: list[tuple[int, str]], lo: int, hi: int
                      ) -> dict[str, list[tuple[int, int]]]:
    """Each status from its event until the next (the last until ``hi``), clipped to [lo, hi)."""
    timeline = ([(lo, previous)] if previous else []) + events
    by_status: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for i, (t, status) in enumerate(timeline):
        nxt = timeline[i + 1][0] if i + 1 < len(timeline) else hi
        a, b = max(t, lo), min(nxt, hi)
        if b > a:
            by_status[status].append((a, b))
    return by_status


def _peaks(intervals: list[tuple[int, int]]) -> dict[int, int]:
    """Hour -> the most intervals covering one instant of it (half-open: one ending as another starts is 1)."""
    points = sorted([(a, 1) for a, b in intervals if b > a] + [(b, -1) for a, b in intervals if b > a])
    peaks: dict[int, int] = {}
    current, last = 0, None
    for t, delta in points:
        if current > 0 and last is not None and t > last:
            for h in range(last // HOUR_US, (t - 1) // HOUR_US + 1):  # [last, t): nothing changed
                peaks[h] = max(peaks.get(h, 0), current)
        current += delta
        if delta > 0:
            peaks[t // HOUR_US] = max(peaks.get(t // HOUR_US, 0), current)
        last = t
    return peaks


# ---------------------------------------------------------------- what a window covers


@dataclass(frozen=True)
class _Conn:
    id: int
    charge_point_id: int
    organization_id: int
    site_id: int | None


@dataclass
class _Plan:
    """The connectors whose hours are recomputed and the sites and charge points that come with them."""

    connectors: list[_Conn]
    site_connectors: dict[int, list[int]] = field(default_factory=dict)  # site -> all its connectors
    charge_points: dict[int, tuple[int, int | None, str]] = field(default_factory=dict)  # cp -> org, site, tz


def _plan(connector_filter: Q) -> _Plan:
    rows = list(Connector.objects.filter(connector_filter).order_by("pk").values_list(
        "pk", "charge_point_id", "charge_point__organization_id", "charge_point__site_id"))
    plan = _Plan([_Conn(*row) for row in rows])
    sites = {c.site_id for c in plan.connectors if c.site_id is not None}
    for pk, site_id in Connector.objects.filter(charge_point__site_id__in=sites).values_list(
            "pk", "charge_point__site_id"):
        plan.site_connectors.setdefault(site_id, []).append(pk)
    cps = {c.charge_point_id for c in plan.connectors}
    fallback: dict[int, str] = {}
    for cp_id, org_id, site_id, tz in ChargePoint.objects.filter(pk__in=cps).values_list(
            "pk", "organization_id", "site_id", "site__time_zone"):
        if tz is None:  # a charger without a site yet: its operator's time zone
            if org_id not in fallback:
                fallback[org_id] = organization_time_zone(Organization.objects.get(pk=org_id))
            tz = fallback[org_id]
        plan.charge_points[cp_id] = (org_id, site_id, tz)
    return plan


def _lock(plan: _Plan) -> None:
    """Serialize recomputes that touch the same site or charger (PostgreSQL; SQLite has one writer)."""
    if connection.vendor != "postgresql":
        return
    keys = sorted({(1, site) for site in plan.site_connectors}
                  | {(2, cp) for cp, (_, site, _) in plan.charge_points.items() if site is None})
    with connection.cursor() as cursor:
        for namespace, key in keys:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [7400 + namespace, key])


# ---------------------------------------------------------------- recompute


def rollups_recompute(*, connector_ids: Sequence[int] | None = None, start: datetime, end: datetime,
                      now: datetime | None = None, organization: Organization | None = None) -> int:
    """Recompute the rollups of the hours in [start, end) (widened to whole hours) from the raw rows.

    ``connector_ids`` None means every connector (of ``organization`` when given). The window's
    ConnectorHour rows of those connectors, the SiteHour rows of their sites, and their ConnectorDay and
    their charge points' DriverDay rows for the local days the window touches are deleted and written
    again, in one transaction. Returns how many ConnectorHour rows were written. A long window is worth splitting
    (``rollups_rebuild`` goes a month at a time).
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
        plan = _plan(connector_filter)
        if not plan.connectors:
            return 0
        _lock(plan)
        return _recompute(plan, start, end, now)


def _recompute(plan: _Plan, start: datetime, end: datetime, now: datetime) -> int:
    lo, hi_window = _us(start), _us(end)
    hi = min(hi_window, _us(now))  # what is open ends now
    selected = {c.id for c in plan.connectors}
    cps = set(plan.charge_points)
    session_connectors = selected.union(*plan.site_connectors.values())

    hours: dict[int, dict[int, list]] = {c: {} for c in selected}
    occupied: dict[int, list[tuple[int, int]]] = defaultdict(list)
    site_of_connector = {pk: site for site, pks in plan.site_connectors.items() for pk in pks}
    site_busy: dict[int, list[tuple[int, int]]] = defaultdict(list)

    sessions = ChargingSession.objects.filter(
        connector_id__in=session_connectors, started_at__lt=end,
    ).filter(Q(started_at__gte=start) | Q(stopped_at__gt=start) | Q(stopped_at__isnull=True)).values_list(
        "connector_id", "auth_status", "state", "started_at", "stopped_at", "energy_wh", "price__gross_total")
    now_us = _us(now)
    for connector_id, auth, state, started_at, stopped_at, energy_wh, gross in sessions.iterator(chunk_size=5000):
        a = _us(started_at)
        b = _us(stopped_at) if stopped_at is not None else now_us
        busy = (max(a, lo), min(b, hi))
        site = site_of_connector.get(connector_id)
        if site is not None and busy[1] > busy[0]:
            site_busy[site].append(busy)
        if connector_id not in selected:
            continue
        if busy[1] > busy[0]:
            occupied[connector_id].append(busy)
        if not lo <= a < hi_window:
            continue
        row = hours[connector_id].get(a // HOUR_US)
        if row is None:
            row = hours[connector_id][a // HOUR_US] = _blank()
        if auth != ACCEPTED:
            row[_FAILED] += 1
            continue
        row[_SESSIONS] += 1
        if state == ChargingSession.State.COMPLETED:
            row[_ENERGY] += energy_wh or 0
            row[_REVENUE] += gross or 0
            row[_ZERO] += energy_wh == 0
    for connector_id, intervals in occupied.items():
        _per_hour(_merge(intervals), hours[connector_id], _OCCUPIED)

    if hi > lo:
        _status_and_offline(plan, selected, cps, hours, lo, hi, start, _at(hi))

    rows = []
    for c in plan.connectors:
        for h, v in hours[c.id].items():
            seconds = [_seconds(v[i]) for i in (_OCCUPIED, _CHARGING, _OUTAGE, _OFFLINE, _DOWN)]
            if not (v[_SESSIONS] or v[_FAILED] or v[_ENERGY] or v[_REVENUE] or any(seconds)):
                continue
            rows.append((c.organization_id, c.site_id, c.charge_point_id, c.id, _at(h * HOUR_US), v[_SESSIONS],
                         v[_ENERGY], v[_REVENUE], *seconds, v[_FAILED], v[_ZERO]))
    ConnectorHour.objects.filter(connector_id__in=selected, hour__gte=start, hour__lt=end).delete()
    _insert(ConnectorHour, ["organization_id", "site_id", "charge_point_id", "connector_id", "hour", "sessions",
                            "energy_wh", "revenue", "occupied_s", "charging_s", "outage_s", "offline_s", "down_s",
                            "failed_starts", "zero_energy"], rows)

    peaks = {(site, h): peak for site, intervals in site_busy.items() for h, peak in _peaks(intervals).items()}
    _site_hours(plan, start, end, peaks)
    _connector_days(plan, start, end)
    _driver_days(plan, start, end)
    return len(rows)


def rollups_from_hours(*, connector_ids: Sequence[int], start: datetime, end: datetime,
                       peaks: dict[tuple[int, datetime], int] | None = None) -> None:
    """ConnectorDay and SiteHour written from the ConnectorHour rows as they stand (hours made by hand, as in
    tests): the connectors' local days the window touches and their sites' hours in it. ``peaks`` sets the
    sites' busiest moments, (site, hour) -> sessions at once; without it they are kept."""
    start, end = hour_floor(start), hour_ceil(end)
    with transaction.atomic():
        plan = _plan(Q(pk__in=list(connector_ids)))
        _site_hours(plan, start, end, None if peaks is None else {
            (site, _us(hour) // HOUR_US): peak for (site, hour), peak in peaks.items()})
        _connector_days(plan, start, end)


def _site_hours(plan: _Plan, start: datetime, end: datetime, peaks: dict[tuple[int, int], int] | None) -> None:
    """SiteHour of the plan's sites in the window: the peaks given ((site, hour index) -> peak; None keeps those
    written), the sums from ConnectorHour (all the site's connectors, as written), each hour placed in the
    site's week."""
    lo, hi = _us(start), _us(end)
    site_of = {site: (org, tz) for org, site, tz in plan.charge_points.values() if site is not None}
    if peaks is None:
        peaks = {(site, _us(hour) // HOUR_US): peak for site, hour, peak in SiteHour.objects.filter(
            site_id__in=list(site_of), hour__gte=start, hour__lt=end).values_list("site_id", "hour", "peak_sessions")}
    found: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0, 0])  # (site, hour) -> peak, started, busy
    for (site, h), peak in peaks.items():
        if site in site_of and lo <= h * HOUR_US < hi and peak:
            found[(site, h)][0] = peak
    for site, hour, started, occupied in ConnectorHour.objects.filter(
            site_id__in=list(site_of), hour__gte=start, hour__lt=end).values("site_id", "hour").annotate(
            started=Sum("sessions"), occupied=Sum("occupied_s")).values_list("site_id", "hour", "started", "occupied"):
        if started or occupied:
            found[(site, _us(hour) // HOUR_US)][1:] = [started or 0, occupied or 0]
    rows = []
    for (site, h), (peak, started, occupied) in sorted(found.items()):
        org, tz = site_of[site]
        local = _at(h * HOUR_US).astimezone(zoneinfo.ZoneInfo(tz))
        rows.append((org, site, _at(h * HOUR_US), peak, started, occupied, local.weekday(), local.hour))
    SiteHour.objects.filter(site_id__in=list(site_of), hour__gte=start, hour__lt=end).delete()
    _insert(SiteHour, ["organization_id", "site_id", "hour", "peak_sessions", "sessions", "occupied_s",
                       "local_weekday", "local_hour"], rows)


#: ConnectorDay's columns, summed from ConnectorHour (idle per hour, as the reports count it).
DAY_SUMS = {
    **{name: Sum(name) for name in ("sessions", "energy_wh", "revenue", "occupied_s", "charging_s", "outage_s",
                                    "offline_s", "down_s", "failed_starts", "zero_energy")},
    "idle_s": Sum(Greatest(F("occupied_s") - F("charging_s"), Value(0), output_field=models.IntegerField())),
}


def _connector_days(plan: _Plan, start: datetime, end: datetime) -> None:
    """ConnectorDay of the plan's connectors for every local day the window touches, from their ConnectorHour
    rows of those whole days (hours outside the window were written by earlier recomputes)."""
    by_zone: dict[str, list[_Conn]] = defaultdict(list)
    for c in plan.connectors:
        by_zone[plan.charge_points[c.charge_point_id][2]].append(c)
    for tz, connectors in by_zone.items():
        zone = zoneinfo.ZoneInfo(tz)
        first_day, last_day = start.astimezone(zone).date(), (end - timedelta(microseconds=1)).astimezone(zone).date()
        of = {c.id: c for c in connectors}
        sums = ConnectorHour.objects.filter(
            connector_id__in=list(of), hour__gte=datetime.combine(first_day, time(), zone),
            hour__lt=datetime.combine(last_day + timedelta(days=1), time(), zone),
        ).annotate(day=TruncDate("hour", tzinfo=zone)).values("connector_id", "day").annotate(
            **{f"sum_{name}": total for name, total in DAY_SUMS.items()}).order_by("day", "connector_id")
        rows = [(of[row["connector_id"]].organization_id, of[row["connector_id"]].site_id,
                 of[row["connector_id"]].charge_point_id, row["connector_id"], row["day"],
                 *(Decimal(row[f"sum_{name}"] or 0).quantize(ZERO_MONEY) if name == "revenue"
                   else row[f"sum_{name}"] or 0 for name in DAY_SUMS))
                for row in sums]
        ConnectorDay.objects.filter(connector_id__in=list(of), day__gte=first_day, day__lte=last_day).delete()
        _insert(ConnectorDay, ["organization_id", "site_id", "charge_point_id", "connector_id", "day", *DAY_SUMS],
                rows)


def _status_and_offline(plan: _Plan, selected: set[int], cps: set[int], hours: dict[int, dict[int, list]],
                        lo: int, hi: int, start: datetime, until: datetime) -> None:
    own: dict[int, list[tuple[int, str]]] = defaultdict(list)
    station: dict[int, list[tuple[int, str]]] = defaultdict(list)
    events = StatusEvent.objects.filter(charge_point_id__in=cps, timestamp__gte=start, timestamp__lt=until).filter(
        Q(connector_id__in=selected) | Q(connector__isnull=True),
    ).order_by("timestamp", "pk").values_list("connector_id", "charge_point_id", "timestamp", "status")
    for connector_id, cp_id, timestamp, status in events.iterator(chunk_size=10000):
        if connector_id is None:
            station[cp_id].append((_us(timestamp), status))
        else:
            own[connector_id].append((_us(timestamp), status))
    def latest(**match):  # the status in force as the window starts
        return Subquery(StatusEvent.objects.filter(timestamp__lt=start, **match).order_by("-timestamp", "-pk")
                        .values("status")[:1])

    own_before = dict(Connector.objects.filter(pk__in=selected).annotate(
        before=latest(connector_id=OuterRef("pk"))).values_list("pk", "before"))
    station_before = dict(ChargePoint.objects.filter(pk__in=cps).annotate(
        before=latest(charge_point_id=OuterRef("pk"), connector__isnull=True)).values_list("pk", "before"))

    station_outage: dict[int, list[tuple[int, int]]] = {}
    for cp_id in cps:
        by_status = _status_intervals(station_before.get(cp_id), station.get(cp_id, []), lo, hi)
        station_outage[cp_id] = [iv for status in OUTAGE for iv in by_status.get(status, [])]

    first_connection = dict(ChargerConnection.objects.filter(charge_point_id__in=cps).values(
        "charge_point_id").annotate(first=Min("connected_at")).values_list("charge_point_id", "first"))
    online: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for cp_id, connected_at, disconnected_at in ChargerConnection.objects.filter(
            charge_point_id__in=cps, connected_at__lt=until).filter(
            Q(disconnected_at__isnull=True) | Q(disconnected_at__gt=start)).values_list(
            "charge_point_id", "connected_at", "disconnected_at"):
        online[cp_id].append((_us(connected_at), _us(disconnected_at) if disconnected_at else hi))
    offline: dict[int, list[list[int]]] = {}
    for cp_id in cps:
        first = first_connection.get(cp_id)
        since = max(lo, _us(first)) if first is not None else hi
        offline[cp_id] = _complement(_merge(online.get(cp_id, [])), since, hi) if since < hi else []

    for c in plan.connectors:
        by_status = _status_intervals(own_before.get(c.id), own.get(c.id, []), lo, hi)
        into = hours[c.id]
        _per_hour(_merge(by_status.get(ConnectorStatus.CHARGING, [])), into, _CHARGING)
        outage = [iv for status in OUTAGE for iv in by_status.get(status, [])] + station_outage[c.charge_point_id]
        _per_hour(_merge(outage), into, _OUTAGE)
        _per_hour(offline[c.charge_point_id], into, _OFFLINE)
        _per_hour(_merge(outage + [tuple(iv) for iv in offline[c.charge_point_id]]), into, _DOWN)


def _driver_days(plan: _Plan, start: datetime, end: datetime) -> int:
    """DriverDay of the plan's charge points for every local day the window touches, from accepted sessions."""
    by_zone: dict[str, list[int]] = defaultdict(list)
    for cp_id, (_, _, tz) in plan.charge_points.items():
        by_zone[tz].append(cp_id)
    written = 0
    for tz, cp_ids in by_zone.items():
        zone = zoneinfo.ZoneInfo(tz)
        first_day, last_day = start.astimezone(zone).date(), (end - timedelta(microseconds=1)).astimezone(zone).date()
        days: set[tuple[int, int, date]] = set()
        for cp_id, account_id, started_at in ChargingSession.objects.filter(
                charge_point_id__in=cp_ids, auth_status=ACCEPTED, customer_account__isnull=False,
                started_at__gte=start - timedelta(days=2), started_at__lt=end + timedelta(days=2),
        ).values_list("charge_point_id", "customer_account_id", "started_at").iterator(chunk_size=5000):
            day = started_at.astimezone(zone).date()
            if first_day <= day <= last_day:
                days.add((cp_id, account_id, day))
        DriverDay.objects.filter(charge_point_id__in=cp_ids, day__gte=first_day, day__lte=last_day).delete()
        _insert(DriverDay, ["organization_id", "site_id", "charge_point_id", "customer_account_id", "day"],
                [(*plan.charge_points[cp][:2], cp, account, day) for cp, account, day in sorted(days)])
        written += len(days)
    return written


def _insert(model, columns: list[str], rows: list[tuple]) -> None:
    """Many rows at once: COPY on PostgreSQL, batched INSERTs elsewhere."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        names = ", ".join(model._meta.get_field(c).column for c in columns)
        with connection.cursor() as cursor, cursor.cursor.copy(
                f"COPY {model._meta.db_table} ({names}) FROM STDIN") as copy:  # noqa: S608 - our own names
            for row in rows:
                copy.write_row(row)
        return
    ops, adapters = connection.ops, []
    for name in columns:
        f = model._meta.get_field(name)
        if isinstance(f, models.DateTimeField):
            adapters.append(ops.adapt_datetimefield_value)
        elif isinstance(f, models.DateField):
            adapters.append(ops.adapt_datefield_value)
        elif isinstance(f, models.DecimalField):
            adapters.append(lambda v, f=f: ops.adapt_decimalfield_value(v, f.max_digits, f.decimal_places))
        else:
            adapters.append(None)
    sql = (f"INSERT INTO {ops.quote_name(model._meta.db_table)} "  # noqa: S608 - our own names
           f"({', '.join(ops.quote_name(model._meta.get_field(c).column) for c in columns)}) "
           f"VALUES ({', '.join(['%s'] * len(columns))})")
    with connection.cursor() as cursor:
        for i in range(0, len(rows), 5000):
            cursor.executemany(sql, [[a(v) if a and v is not None else v for a, v in zip(adapters, row, strict=True)]
                                     for row in rows[i:i + 5000]])


# ---------------------------------------------------------------- keeping them current


def rollups_session_completed(session_id: int, *, now: datetime | None = None) -> int:
    """The ``session_completed`` hook (after billing has priced it): the session's connector, start to now.

    Up to now, not only to its stop: while it ran, the refresh counted it as occupying until then.
    """
    session = ChargingSession.objects.filter(pk=session_id).values_list(
        "connector_id", "started_at", "stopped_at").first()
    if session is None or session[0] is None:
        return 0
    connector_id, started_at, stopped_at = session
    now = now or timezone.now()
    return rollups_recompute(connector_ids=[connector_id], start=min(started_at, stopped_at or started_at),
                             end=max(now, stopped_at or now, started_at + HOUR), now=now)


def rollups_refresh(*, now: datetime | None = None) -> int:
    """Bring the rollups up to ``now``: what arrived since the last run, and the hours still open.

    Every connector's hours from the last run's hour on are recomputed (running sessions, statuses and
    offline periods grow until now). Further back: from the earliest status event received, session
    received, or connection opened or closed since the last run (``REFRESH_OVERLAP`` before it, for rows
    committed late), per connector. Returns how many ConnectorHour rows were written.
    """
    now = now or timezone.now()
    RollupState.objects.get_or_create(key=REFRESH_STATE, defaults={"value": now - HOUR})
    with transaction.atomic():
        state = RollupState.objects.select_for_update().get(key=REFRESH_STATE)
        since = min(state.value, now) - REFRESH_OVERLAP
        connectors = dict(Connector.objects.values_list("pk", "charge_point_id"))
        of_charge_point: dict[int, list[int]] = defaultdict(list)
        for pk, cp_id in connectors.items():
            of_charge_point[cp_id].append(pk)
        recent = hour_floor(since)
        dirty = {pk: [recent, now] for pk in connectors}

        def touch(pks: Iterable[int], first: datetime | None, last: datetime | None = None) -> None:
            for pk in pks:
                if pk in dirty:
                    window = dirty[pk]
                    window[0] = min(window[0], first or window[0])
                    window[1] = max(window[1], last or window[1])

        for connector_id, cp_id, first in StatusEvent.objects.filter(received_at__gte=since).values(
                "connector_id", "charge_point_id").annotate(first=Min("timestamp")).values_list(
                "connector_id", "charge_point_id", "first"):
            touch([connector_id] if connector_id else of_charge_point[cp_id], first)
        for connector_id, first, last, last_stop in ChargingSession.objects.filter(
                created_at__gte=since, connector__isnull=False).values("connector_id").annotate(
                first=Min("started_at"), last=Max("started_at"), last_stop=Max("stopped_at")).values_list(
                "connector_id", "first", "last", "last_stop"):
            touch([connector_id], first, max(last + HOUR, last_stop or last))
        for connector_id, first, last in SessionPrice.objects.filter(
                priced_at__gte=since, session__connector__isnull=False).values("session__connector_id").annotate(
                first=Min("session__started_at"), last=Max("session__started_at")).values_list(
                "session__connector_id", "first", "last"):
            touch([connector_id], first, last + HOUR)
        previous_end = ChargerConnection.objects.filter(
            charge_point_id=OuterRef("charge_point_id"), connected_at__lt=OuterRef("connected_at"),
        ).order_by("-connected_at").values("disconnected_at")[:1]
        for cp_id, connected_at, disconnected_at, before in ChargerConnection.objects.filter(
                Q(connected_at__gte=since) | Q(disconnected_at__gte=since)).annotate(
                before=Subquery(previous_end)).values_list(
                "charge_point_id", "connected_at", "disconnected_at", "before"):
            touch(of_charge_point[cp_id], min(t for t in (connected_at, disconnected_at, before) if t))

        groups = _groups(dirty, recent, by=HOUR)
        if len(groups) > 24:  # much late data: fewer, longer windows
            groups = _groups(dirty, recent, by=timedelta(days=1))
        _lock(_plan(Q()))  # every site at once, in order: no deadlock with a rebuild taking them in order too
        written = 0
        for (first, last), pks in sorted(groups.items()):
            for month_start, month_end in _months(first, last):
                written += rollups_recompute(connector_ids=pks, start=month_start, end=month_end, now=now)
        state.value = max(state.value, now)
        state.save(update_fields=["value"])
    return written


def _groups(dirty: dict[int, list[datetime]], recent: datetime, *, by: timedelta
            ) -> dict[tuple[datetime, datetime], list[int]]:
    """Connectors by the window to recompute: from ``recent``, or from earlier (floored to ``by``) for late data."""
    groups: dict[tuple[datetime, datetime], list[int]] = defaultdict(list)
    for pk, (first, last) in dirty.items():
        if first < recent:
            first = _at(_us(first) // (by // timedelta(microseconds=1)) * (by // timedelta(microseconds=1)))
        groups[(min(first, recent), hour_floor(last) + HOUR)].append(pk)
    return groups


def _months(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """[start, end) cut at the first of each month (UTC)."""
    cuts, cursor = [], start
    while cursor < end:
        first = cursor.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        nxt = (first + timedelta(days=32)).replace(day=1)
        cuts.append((cursor, min(nxt, end)))
        cursor = min(nxt, end)
    return cuts


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


def rollups_rebuild(*, organization: Organization | None = None, since: datetime | None = None,
                    now: datetime | None = None,
                    progress: Callable[[Iterable, int], Iterable] | None = None) -> RebuildResult:
    """Rebuild the rollups from the raw rows, a month at a time (one transaction each).

    Without ``since`` every rollup row of the scope is deleted first and the whole history is recomputed;
    with it, the hours from ``since`` on. The refresh continues from ``now``.
    """
    now = now or timezone.now()
    scope = Q(charge_point__organization=organization) if organization is not None else Q()
    connector_ids = list(Connector.objects.filter(scope).values_list("pk", flat=True))
    cp_scope = Q(charge_point__organization=organization) if organization is not None else Q()
    raw_first = [
        ChargingSession.objects.filter(cp_scope, connector__isnull=False).aggregate(t=Min("started_at"))["t"],
        StatusEvent.objects.filter(cp_scope).aggregate(t=Min("timestamp"))["t"],
        ChargerConnection.objects.filter(cp_scope).aggregate(t=Min("connected_at"))["t"],
    ]
    raw_last = ChargingSession.objects.filter(cp_scope, connector__isnull=False).aggregate(
        a=Max("started_at"), b=Max("stopped_at"))
    firsts = [t for t in raw_first if t is not None]
    start = hour_floor(max(since, min(firsts)) if since and firsts else since or min(firsts, default=now))
    end = hour_ceil(max([now, *(t for t in raw_last.values() if t is not None)]) + timedelta(microseconds=1))
    if since is None:
        org_scope = Q(organization=organization) if organization is not None else Q()
        with transaction.atomic():
            ConnectorHour.objects.filter(org_scope).delete()
            ConnectorDay.objects.filter(org_scope).delete()
            SiteHour.objects.filter(org_scope).delete()
            DriverDay.objects.filter(org_scope).delete()
    months = _months(start, end) if connector_ids else []
    result = RebuildResult(start, end, len(connector_ids), 0, 0, 0, 0)
    for month_start, month_end in (progress(months, len(months)) if progress else months):
        result.connector_hours += rollups_recompute(start=month_start, end=month_end, now=now,
                                                    organization=organization)
    site_scope = Q(site__organization=organization) if organization is not None else Q()
    hour_scope = Q(hour__gte=start) if since is not None else Q()
    result.site_hours = SiteHour.objects.filter(site_scope, hour_scope).count()
    day_scope = Q(day__gte=start.date()) if since is not None else Q()
    result.connector_days = ConnectorDay.objects.filter(Q(organization=organization) if organization else Q(),
                                                        day_scope).count()
    result.driver_days = DriverDay.objects.filter(Q(organization=organization) if organization else Q(),
                                                  day_scope).count()
    if organization is None or not RollupState.objects.filter(key=REFRESH_STATE).exists():
        RollupState.objects.update_or_create(key=REFRESH_STATE, defaults={"value": now})
    return result

