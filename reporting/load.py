"""Reads for the operator's page of a load group (issue 17): the limit now, the live shares, the site's power.

The site's power is the group's connectors' energy register readings (and each session's meter at start and
stop) spread evenly between readings and summed per 15 minutes, as average kW: the figure a power-based grid
tariff bills the monthly peak of. Limits are in the group's unit; the windows' hours and days are the site's
local time, the arithmetic UTC.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Q, QuerySet, prefetch_related_objects

from core.timeutil import month_period
from reporting.history import measurand_readings
from reporting.rollups.intervals import to_us
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


def _session_points(
    connector_ids: Iterable[int], start: datetime, end: datetime
) -> list[list[tuple[datetime, Decimal]]]:
    """Each session's (time, register Wh) from its readings around [start, end) and its meter at start and stop."""
    sessions = ChargingSession.objects.filter(connector_id__in=connector_ids, started_at__lt=end).filter(
        Q(stopped_at__isnull=True) | Q(stopped_at__gt=start)
    )
    known = {
        pk: [(started_at, Decimal(meter_start))]
        + ([(stopped_at, Decimal(meter_stop))] if stopped_at and meter_stop is not None else [])
        for pk, started_at, meter_start, stopped_at, meter_stop in sessions.values_list(
            "pk", "started_at", "meter_start_wh", "stopped_at", "meter_stop_wh"
        )
    }
    rows: dict[int, list[tuple]] = defaultdict(list)
    readings = MeterValue.objects.filter(
        session_id__in=known,
        measurand=ENERGY_REGISTER,
        timestamp__gte=start - READING_GAP,
        timestamp__lt=end + READING_GAP,
    ).values_list("session_id", "measurand", "timestamp", "phase", "value", "unit")
    for session_id, *row in readings.iterator(chunk_size=5000):
        rows[session_id].append(tuple(row))
    points = []
    for pk, ends in known.items():
        by_time = dict(ends)
        by_time.update(measurand_readings(ENERGY_REGISTER, rows[pk]))  # a reading at the start or stop: the meter's
        points.append(sorted(by_time.items()))
    return points


def site_power(group: LoadGroup, start: datetime, end: datetime) -> list[Decimal]:
    """Average kW of the group's connectors in each ``INTERVAL`` from ``start`` to ``end`` (UTC, whole intervals
    apart): the energy between two readings of a session counted evenly over the time between them.

    In microseconds and float Wh (a month of minute readings of 20 connectors is about a million pairs); the
    averages are rounded to 0.01 kW once, at the end."""
    step, origin = INTERVAL // timedelta(microseconds=1), to_us(start)
    count = (end - start) // INTERVAL
    energy = [0.0] * count
    connector_ids = list(group_connectors(group).values_list("pk", flat=True))
    for points in _session_points(connector_ids, start, end):
        times = [to_us(at) - origin for at, _wh in points]
        registers = [float(wh) for _at, wh in points]
        for i in range(1, len(points)):
            a, b, wh = times[i - 1], times[i], registers[i] - registers[i - 1]
            if wh <= 0 or b <= max(a, 0) or a >= count * step:
                continue
            first, last = a // step, (b - 1) // step
            if first == last:  # most pairs: within one interval
                energy[first] += wh
                continue
            per_us = wh / (b - a)
            for index in range(max(first, 0), min(last, count - 1) + 1):
                energy[index] += per_us * (min(b, (index + 1) * step) - max(a, index * step))
    per_kw = Decimal(INTERVAL.total_seconds()) / 3600 * 1000  # Wh in an interval at 1 kW
    return [(Decimal(wh) / per_kw).quantize(_KW, ROUND_HALF_UP) for wh in energy]


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
