"""Reads for the operator's page of a load group (issue 17): the limit now, the live shares, the site's power.

The site's power is the group's connectors' energy register readings (and each session's meter at start and
stop) spread evenly between readings and summed per 15 minutes, as average kW: the figure a power-based grid
tariff bills the monthly peak of. Limits are in the group's unit; the windows' hours and days are the site's
local time, the arithmetic UTC.
"""

import itertools
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection
from django.db.models import Q, QuerySet, prefetch_related_objects

from core.timeutil import month_period
from reporting.history import measurand_readings
from reporting.rollups.intervals import US, to_us
from sessions_app.load_management import (
    METER_FRESH,
    load_group_charge_points,
    load_group_limit_w,
    load_other_loads_w,
    sessions_drawing_w,
    window_applies,
)
from sessions_app.models import (
    ChargingSession,
    Connector,
    ConnectorAllocation,
    LoadGroup,
    LoadLimitWindow,
    MeterValue,
    SiteMeterReading,
)
from sessions_app.services import ENERGY_REGISTER

#: The length of the intervals the site's power is averaged over (a grid tariff's peak is of such averages).
INTERVAL = timedelta(minutes=15)
#: Readings this long before or after a span are read too, so the energy between them and the span's own is
#: spread into it.
READING_GAP = timedelta(hours=1)
_KW = Decimal("0.01")


def group_connectors(group: LoadGroup) -> QuerySet[Connector]:
    """The connectors of the charge points the group manages (``load_management.load_group_charge_points``)."""
    return (
        Connector.objects.filter(charge_point__in=load_group_charge_points(group))
        .select_related("charge_point")
        .order_by("charge_point__ocpp_id", "number")
    )


@dataclass(frozen=True)
class LimitNow:
    """The limit in force at a moment, in the group's unit and in kW, and the window it comes from (if any)."""

    limit: Decimal
    kw: Decimal
    window: LoadLimitWindow | None


def limit_at(group: LoadGroup, at: datetime) -> LimitNow:
    """The limit load management shares at ``at`` (``load_management.load_group_limit_w``: the lowest window
    holding then in the site's time zone, else the group's own), with that window. Prefetch the group's windows
    to ask about many moments."""
    local = at.astimezone(group.site.tzinfo)
    window = min(
        (window for window in group.windows.all() if window_applies(window, local)),
        key=lambda window: window.limit,
        default=None,
    )
    return LimitNow(window.limit if window is not None else group.limit, _kw(load_group_limit_w(group, at)), window)


@dataclass(frozen=True)
class OtherLoads:
    """What the limit keeps for the site's other loads now: the site meter's recent reading, or the margin."""

    kw: Decimal
    reading: SiteMeterReading | None


def other_loads(group: LoadGroup, *, now: datetime) -> OtherLoads:
    """``load_management.load_other_loads_w``, with the reading it comes from when it is the meter's."""
    reading = None
    if group.site_meter:
        reading = group.meter_readings.filter(measured_at__gt=now - METER_FRESH).order_by("-measured_at").first()
    return OtherLoads(_kw(load_other_loads_w(group, now)), reading)


def _kw(watts: int | Decimal) -> Decimal:
    return (Decimal(watts) / 1000).quantize(_KW, ROUND_HALF_UP)


@dataclass(frozen=True)
class AllocationRow:
    """A managed connector's share now and what its car draws."""

    connector: Connector
    allocation: ConnectorAllocation | None
    session: ChargingSession | None
    draw_w: int | None


@dataclass(frozen=True)
class GroupLive:
    limit: LimitNow
    other: OtherLoads
    rows: list[AllocationRow]

    @property
    def waiting(self) -> int:
        """Sessions waiting for their turn: the limit cannot give every car the minimum, so they take turns."""
        waiting = ConnectorAllocation.Status.WAITING
        return sum(1 for row in self.rows if row.allocation and row.allocation.status == waiting)

    @property
    def allocated_w(self) -> int:
        return sum(row.allocation.limit_w for row in self.rows if row.allocation)

    @property
    def draw_w(self) -> int:
        return sum(row.draw_w for row in self.rows if row.draw_w is not None)


def group_live(group: LoadGroup, *, now: datetime) -> GroupLive:
    """The limit now, the other loads and each connector's share, session and current draw."""
    connectors = list(group_connectors(group))
    allocations = {
        allocation.connector_id: allocation
        for allocation in ConnectorAllocation.objects.filter(connector__in=connectors).select_related("session")
    }
    running = {
        session.connector_id: session
        for session in ChargingSession.objects.filter(
            connector__in=connectors, state=ChargingSession.State.ACTIVE
        ).select_related("customer_account")
    }
    drawing = sessions_drawing_w([session.pk for session in running.values()], now)
    rows = []
    for connector in connectors:
        session = running.get(connector.pk)
        draw = drawing.get(session.pk) if session is not None else None
        rows.append(AllocationRow(connector, allocations.get(connector.pk), session, draw))
    return GroupLive(limit_at(group, now), other_loads(group, now=now), rows)


# --- the site's power over a day and a month ---------------------------------------------------------------------

#: In SQL, an instant as integer microseconds since the epoch (``rollups.intervals.to_us``), and the interval it is
#: in, counted from an origin (both parameters: its seconds since the epoch, and the interval's seconds); it is never
#: after the instant. SQLite keeps times as text, "YYYY-MM-DD HH:MM:SS[.ffffff]" in UTC; PostgreSQL's date_part is a
#: double, exact to the microsecond for centuries.
_SQL_TIME = {
    "postgresql": {
        "us": "round(date_part('epoch', {column}) * 1000000)::bigint",
        "interval": "floor((date_part('epoch', {column}) - %s) / %s)::bigint",
    },
    "sqlite": {
        "us": (
            "(CAST(strftime('%%s', {column}) AS INTEGER) * 1000000"
            " + CAST(substr({column} || '.000000', 21, 6) AS INTEGER))"
        ),
        "interval": "((CAST(strftime('%%s', {column}) AS INTEGER) - %s) / %s)",
    },
}

#: Per session and interval: its first and last register reading (time in microseconds, Wh) and the rises between
#: its consecutive readings, summed by the database in one pass over the readings; ``odd`` marks readings that are
#: not plain Wh totals at distinct times.
_INTERVAL_SQL = """
SELECT session_id, bucket, {first_us}, {last_us}, first_wh, last_wh, within, odd
FROM (
    SELECT session_id, bucket, MIN(at) AS first_at, MAX(at) AS last_at,
           MAX(CASE WHEN previous_bucket IS NULL OR previous_bucket <> bucket THEN wh END) AS first_wh,
           MAX(CASE WHEN next_bucket IS NULL OR next_bucket <> bucket THEN wh END) AS last_wh,
           SUM(CASE WHEN previous_bucket = bucket AND wh > previous_wh THEN wh - previous_wh ELSE 0 END) AS within,
           MAX(odd) AS odd
    FROM (
        SELECT session_id, at, wh, bucket,
               LAG(wh) OVER w AS previous_wh, LAG(bucket) OVER w AS previous_bucket,
               LEAD(bucket) OVER w AS next_bucket,
               CASE WHEN plain = 0 OR at = LAG(at) OVER w THEN 1 ELSE 0 END AS odd
        FROM (
            SELECT {session} AS session_id, {timestamp} AS at, {bucket} AS bucket, {value} AS wh,
                   CASE WHEN {phase} = '' AND {unit} = 'Wh' THEN 1 ELSE 0 END AS plain
            FROM {table}
            WHERE {measurand} = %s AND {timestamp} >= %s AND {timestamp} < %s AND {session} IN ({sessions})
        ) readings
        WINDOW w AS (PARTITION BY session_id ORDER BY at)
    ) pairs
    GROUP BY session_id, bucket
) intervals
"""


@dataclass(frozen=True)
class _Meter:
    """A session's meter at start and at stop (None: not stopped, or no meter at stop), times in microseconds from
    the first interval's start."""

    start_us: int
    start_wh: float
    stop_us: int | None
    stop_wh: float | None


def _spread(energy: list[float], step: int, a: int, b: int, wh: float) -> None:
    """Add the energy ``wh`` between two points at ``a`` and ``b`` (microseconds from the first interval's start)
    evenly over the time between them to the intervals it falls in; nothing when the register did not rise."""
    count = len(energy)
    if wh <= 0 or b <= max(a, 0) or a >= count * step:
        return
    first, last = a // step, (b - 1) // step
    if first == last:  # most pairs: within one interval
        energy[first] += wh
        return
    per_us = wh / (b - a)
    for index in range(max(first, 0), min(last, count - 1) + 1):
        energy[index] += per_us * (min(b, (index + 1) * step) - max(a, index * step))


def _meters(sessions: QuerySet[ChargingSession], origin: int) -> dict[int, _Meter]:
    return {
        pk: _Meter(
            to_us(started_at) - origin,
            float(meter_start),
            to_us(stopped_at) - origin if stopped_at else None,
            float(meter_stop) if stopped_at and meter_stop is not None else None,
        )
        for pk, started_at, meter_start, stopped_at, meter_stop in sessions.values_list(
            "pk", "started_at", "meter_start_wh", "stopped_at", "meter_stop_wh"
        )
    }


def _add_per_reading(energy: list[float], meters: dict[int, _Meter], start: datetime, end: datetime) -> None:
    """Each session's energy from each of its register readings around [start, end) and its meter at start and stop
    (a reading at the start or stop: the meter's), spread between consecutive points."""
    step, origin = INTERVAL // timedelta(microseconds=1), to_us(start)
    rows: dict[int, list[tuple]] = defaultdict(list)
    readings = MeterValue.objects.filter(
        session_id__in=list(meters),
        measurand=ENERGY_REGISTER,
        timestamp__gte=start - READING_GAP,
        timestamp__lt=end + READING_GAP,
    ).order_by("timestamp", "pk")  # of two readings at one time the first stored counts, as in a session's curve
    for session_id, *row in readings.values_list(
        "session_id", "measurand", "timestamp", "phase", "value", "unit"
    ).iterator(chunk_size=5000):
        rows[session_id].append(tuple(row))
    for pk, meter in meters.items():
        by_time = {meter.start_us: meter.start_wh}
        if meter.stop_us is not None and meter.stop_wh is not None:
            by_time[meter.stop_us] = meter.stop_wh
        by_time.update((to_us(at) - origin, float(wh)) for at, wh in measurand_readings(ENERGY_REGISTER, rows[pk]))
        for (a, before), (b, after) in itertools.pairwise(sorted(by_time.items())):
            _spread(energy, step, a, b, after - before)


def _add_summed(
    energy: list[float], sessions: QuerySet[ChargingSession], meters: dict[int, _Meter], start: datetime, end: datetime
) -> set[int]:
    """``_add_per_reading`` from the database's sums per interval (``_INTERVAL_SQL``): the rises within an interval
    added whole, those from one interval's last reading to the next one's first and from the meter at start and to
    the one at stop spread. Returns the sessions it left to ``_add_per_reading``: odd readings (phases, kWh, two at
    one time) or readings before the session's start or after its stop."""
    step, origin = INTERVAL // timedelta(microseconds=1), to_us(start)
    shift = READING_GAP // INTERVAL  # the intervals counted from the first reading read, so never negative
    quote, time_sql = connection.ops.quote_name, _SQL_TIME[connection.vendor]
    sessions_sql, sessions_params = sessions.order_by().values("pk").query.sql_with_params()
    sql = _INTERVAL_SQL.format(
        first_us=time_sql["us"].format(column="first_at"),
        last_us=time_sql["us"].format(column="last_at"),
        bucket=time_sql["interval"].format(column=quote("timestamp")),
        table=quote(MeterValue._meta.db_table),
        sessions=sessions_sql,
        **{name: quote(name) for name in ("phase", "unit", "value", "measurand", "timestamp")},
        session=quote("session_id"),
    )
    since = start - READING_GAP
    params = (to_us(since) // US, INTERVAL // timedelta(seconds=1), ENERGY_REGISTER, since, end + READING_GAP)
    by_session: dict[int, list[tuple]] = defaultdict(list)
    with connection.cursor() as cursor:
        cursor.execute(sql, (*params, *sessions_params))
        for session_id, *row in cursor.fetchall():
            by_session[session_id].append(tuple(row))
    left = set()
    for pk, meter in meters.items():
        intervals = sorted(by_session.get(pk, ()))
        if (
            any(odd for *_row, odd in intervals)
            or (meter.stop_us is not None and meter.stop_us < meter.start_us)
            or (intervals and intervals[0][1] - origin < meter.start_us)
            or (intervals and meter.stop_us is not None and intervals[-1][2] - origin > meter.stop_us)
        ):
            left.add(pk)
            continue
        previous: tuple[int, float] | None = (meter.start_us, meter.start_wh)
        if intervals and intervals[0][1] - origin == meter.start_us:
            previous = None  # a reading at the start: the meter's
        for bucket, first_us, last_us, first_wh, last_wh, within, _odd in intervals:
            if previous is not None:
                _spread(energy, step, previous[0], first_us - origin, float(first_wh) - previous[1])
            if 0 <= bucket - shift < len(energy):
                energy[bucket - shift] += float(within)
            previous = (last_us - origin, float(last_wh))
        if meter.stop_us is not None and meter.stop_wh is not None and previous is not None:
            _spread(energy, step, previous[0], meter.stop_us, meter.stop_wh - previous[1])  # (a reading at the stop: 0)
    return left


def _power(group: LoadGroup, start: datetime, end: datetime, *, per_reading: bool) -> list[Decimal]:
    count = (end - start) // INTERVAL
    energy = [0.0] * count
    sessions = ChargingSession.objects.filter(
        connector_id__in=group_connectors(group).values("pk"), started_at__lt=end
    ).filter(Q(stopped_at__isnull=True) | Q(stopped_at__gt=start))
    meters = _meters(sessions, to_us(start))
    left = meters if per_reading else _add_summed(energy, sessions, meters, start, end)
    _add_per_reading(energy, {pk: meters[pk] for pk in left}, start, end)
    per_kw = Decimal(INTERVAL.total_seconds()) / 3600 * 1000  # Wh in an interval at 1 kW
    return [(Decimal(wh) / per_kw).quantize(_KW, ROUND_HALF_UP) for wh in energy]


def site_power(group: LoadGroup, start: datetime, end: datetime) -> list[Decimal]:
    """Average kW of the group's connectors in each ``INTERVAL`` from ``start`` to ``end`` (UTC, whole intervals
    apart): the energy between two readings of a session counted evenly over the time between them.

    The database sums the rises between a session's readings within each interval (a month of minute readings of
    20 connectors is about a million); Python spreads only those between intervals, in microseconds and float Wh,
    and reads the few sessions with odd readings one by one (``site_power_per_reading``, the same figures). The
    averages are rounded to 0.01 kW once, at the end."""
    return _power(group, start, end, per_reading=False)


def site_power_per_reading(group: LoadGroup, start: datetime, end: datetime) -> list[Decimal]:
    """``site_power`` from every reading, in Python: the figures its sums must equal."""
    return _power(group, start, end, per_reading=True)


@dataclass(frozen=True)
class PowerPoint:
    """One interval (a day's 15 minutes, or a month's day): the power (the day's peak for a month) and the limit
    in force then, in kW; ``at`` is the site-local start (for a month's day: of its peak interval)."""

    at: datetime
    power_kw: Decimal
    limit_kw: Decimal


@dataclass(frozen=True)
class PowerCurve:
    points: list[PowerPoint]

    @property
    def peak(self) -> PowerPoint | None:
        """The highest power (the first of equal ones); None when nothing was drawn."""
        best = max(self.points, key=lambda point: point.power_kw, default=None)
        return best if best is not None and best.power_kw > 0 else None

    @property
    def over_limit(self) -> list[PowerPoint]:
        return [point for point in self.points if point.power_kw > point.limit_kw]


def _local_midnight(day: date, group: LoadGroup) -> datetime:
    return datetime.combine(day, time(), group.site.tzinfo).astimezone(UTC)


def _intervals(group: LoadGroup, start: datetime, end: datetime) -> list[PowerPoint]:
    prefetch_related_objects([group], "windows")
    zone = group.site.tzinfo
    return [
        PowerPoint((start + INTERVAL * i).astimezone(zone), power, limit_at(group, start + INTERVAL * i).kw)
        for i, power in enumerate(site_power(group, start, end))
    ]


def day_curve(group: LoadGroup, day: date) -> PowerCurve:
    """The site-local ``day`` in 15-minute averages (92 or 100 of them on a daylight-saving change)."""
    return PowerCurve(_intervals(group, _local_midnight(day, group), _local_midnight(day + timedelta(days=1), group)))


def month_curve(group: LoadGroup, day: date) -> PowerCurve:
    """Each site-local day of ``day``'s month: its highest 15-minute average and the limit in force then."""
    start, end = month_period(day, group.site.time_zone)
    by_day: dict[date, list[PowerPoint]] = defaultdict(list)
    for point in _intervals(group, start, end):
        by_day[point.at.date()].append(point)
    return PowerCurve([max(points, key=lambda point: point.power_kw) for _day, points in sorted(by_day.items())])
