"""Uptime per connector by the NEVI rule (23 CFR 680.116), per month in the site's time zone.

    uptime = (minutes in period - (outage minutes - excluded minutes)) / minutes in period, target 97 %

Outage is the time the connector could not charge for any of these reasons, each second counted once
when several apply at the same moment:

- the connector's own status was Faulted or Unavailable (a status holds from its event until the
  connector's next status event; the last one holds until now);
- its station's status (connector 0, a StatusEvent without connector) was Faulted or Unavailable, from
  that event until the station's next status event;
- the station was offline: after its first connection ever, a time no ChargerConnection covers (an open
  connection counts as online).

Excluded minutes are the outage minutes inside an ``OutageExclusion`` of the station (or of this
connector): an exclusion over a time the connector was up excludes nothing.

How it is computed, exactly and fast:

- the outage of a period is the sum of the rollups' ``ConnectorHour.down_s`` over its hours: the
  rollups keep, per connector and hour, the union of faulted/unavailable and offline time (adding
  ``outage_s`` and ``offline_s`` would count a minute twice when a faulted connector's station is also
  offline). Local months start and end on whole UTC hours in zones with whole-hour offsets (all of
  Europe), so the sum is exact there; the running month counts up to the rollups' last refresh;
- the excluded part is computed from the raw rows, and only inside the exclusion windows
  (``connector_downtime``): the union of the intervals above intersected with the windows. It reads
  only the Faulted/Unavailable events, each with the time of the next event on its connector (one
  index probe), the event in force when the window starts, and the connections overlapping it;
- ``connector_downtime`` is also the reference the tests hold the rollups to.

Seconds are summed and the uptime is computed from seconds; the pages show whole minutes. The running
month counts up to now; a month that has not started is not listed.
"""

import zoneinfo
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import cast

from django.db.models import Max, Min, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from accounts.models import Organization
from core.timeutil import (
    clip,
    complement,
    in_force,
    intersection,
    month_period,
    months_between,
    neighbour,
    seconds,
    union,
)
from reporting.models import ConnectorHour, OutageExclusion
from sessions_app.models import ChargePoint, ChargerConnection, Connector, ConnectorStatus, Site, StatusEvent

TARGET = Decimal("97")
DOWN_STATUSES = (ConnectorStatus.FAULTED, ConnectorStatus.UNAVAILABLE)

Interval = tuple[datetime, datetime]


# --- raw rows to intervals ----------------------------------------------------------------------


def status_neighbour(*, station: bool, before: bool) -> QuerySet[StatusEvent]:
    """For a subquery: the outer status event's connector's (or station's, connector 0) events just before or
    just after it, the nearest first."""
    if station:
        events = StatusEvent.objects.filter(charge_point_id=OuterRef("charge_point_id"), connector__isnull=True)
    else:
        events = StatusEvent.objects.filter(connector_id=OuterRef("connector_id"))
    return neighbour(events, before=before)


def _status_down(
    *, charge_point_ids: list[int], start: datetime, end: datetime, now: datetime
) -> tuple[dict[int, list[Interval]], dict[int, list[Interval]]]:
    """Faulted/Unavailable time in [start, end): per connector id (own status) and per charge point (station's)."""
    in_force_before = {
        "connector": in_force(StatusEvent.objects.filter(connector_id=OuterRef("pk")), at=start).values("pk")[:1],
        "station": in_force(
            StatusEvent.objects.filter(charge_point_id=OuterRef("pk"), connector__isnull=True), at=start
        ).values("pk")[:1],
    }
    first_ids = [
        *Connector.objects.filter(charge_point_id__in=charge_point_ids)
        .annotate(event_id=Subquery(in_force_before["connector"]))
        .values_list("event_id", flat=True),
        *ChargePoint.objects.filter(pk__in=charge_point_ids)
        .annotate(event_id=Subquery(in_force_before["station"]))
        .values_list("event_id", flat=True),
    ]
    events = StatusEvent.objects.filter(
        Q(pk__in=[pk for pk in first_ids if pk is not None]) | Q(timestamp__gte=start, timestamp__lt=end),
        charge_point_id__in=charge_point_ids,
        status__in=DOWN_STATUSES,
    )
    own: dict[int, list[Interval]] = defaultdict(list)
    station: dict[int, list[Interval]] = defaultdict(list)
    for is_station, target in ((False, own), (True, station)):
        rows = (
            events.filter(connector__isnull=is_station)
            .annotate(until=Subquery(status_neighbour(station=is_station, before=False).values("timestamp")[:1]))
            .values_list("connector_id", "charge_point_id", "timestamp", "until")
        )
        for connector_id, charge_point_id, at, until in rows:
            target[charge_point_id if is_station else connector_id].append((at, until or now))
    clip_end = min(end, now)
    return (
        {key: union(clip(value, start, clip_end)) for key, value in own.items()},
        {key: union(clip(value, start, clip_end)) for key, value in station.items()},
    )


def _offline(
    *, charge_point_ids: list[int], start: datetime, end: datetime, now: datetime
) -> dict[int, list[Interval]]:
    """Per charge point: the time in [start, end) after its first connection that no connection covers."""
    first = dict(
        ChargerConnection.objects.filter(charge_point_id__in=charge_point_ids)
        .values("charge_point_id")
        .annotate(first=Min("connected_at"))
        .values_list("charge_point_id", "first")
    )
    covered: dict[int, list[Interval]] = defaultdict(list)
    for charge_point_id, connected_at, disconnected_at in ChargerConnection.objects.filter(
        Q(disconnected_at__isnull=True) | Q(disconnected_at__gt=start),
        charge_point_id__in=charge_point_ids,
        connected_at__lt=end,
    ).values_list("charge_point_id", "connected_at", "disconnected_at"):
        covered[charge_point_id].append((connected_at, disconnected_at or max(now, end)))
    clip_end = min(end, now)
    return {
        charge_point_id: complement(union(covered[charge_point_id]), max(start, since), clip_end)
        for charge_point_id, since in first.items()
        if since < clip_end
    }


def _exclusions(
    *, charge_point_ids: list[int], start: datetime, end: datetime
) -> tuple[dict[int, list[Interval]], dict[int, list[Interval]]]:
    """Excluded windows per charge point (whole station) and per connector id."""
    per_station: dict[int, list[Interval]] = defaultdict(list)
    per_connector: dict[int, list[Interval]] = defaultdict(list)
    for charge_point_id, connector_id, a, b in OutageExclusion.objects.filter(
        charge_point_id__in=charge_point_ids,
        start__lt=end,
        end__gt=start,
    ).values_list("charge_point_id", "connector_id", "start", "end"):
        if connector_id is None:
            per_station[charge_point_id].append((a, b))
        else:
            per_connector[connector_id].append((a, b))
    return per_station, per_connector


@dataclass(frozen=True)
class Downtime:
    """A connector's outage and excluded time over one stretch of time (already within that stretch)."""

    outage: list[Interval]
    excluded: list[Interval]


def connector_downtime(
    *, connectors: list[Connector], start: datetime, end: datetime, now: datetime | None = None
) -> dict[int, Downtime]:
    """Per connector id: the outage intervals in [start, min(end, now)) and the excluded part of them."""
    now = now or timezone.now()
    charge_point_ids = sorted({connector.charge_point_id for connector in connectors})
    own, station = _status_down(charge_point_ids=charge_point_ids, start=start, end=end, now=now)
    offline = _offline(charge_point_ids=charge_point_ids, start=start, end=end, now=now)
    excluded_station, excluded_connector = _exclusions(charge_point_ids=charge_point_ids, start=start, end=end)
    result = {}
    for connector in connectors:
        cp = connector.charge_point_id
        outage = union([*own.get(connector.pk, []), *station.get(cp, []), *offline.get(cp, [])])
        windows = union([*excluded_station.get(cp, []), *excluded_connector.get(connector.pk, [])])
        result[connector.pk] = Downtime(outage=outage, excluded=intersection(outage, windows))
    return result


# --- figures --------------------------------------------------------------------------------------


def _minutes(seconds: int) -> int:
    return int((Decimal(seconds) / 60).quantize(Decimal(1), ROUND_HALF_UP))


@dataclass(frozen=True)
class Uptime:
    """One connector over one period (a local month, or any stretch for the attention list)."""

    connector: Connector
    start: datetime
    end: datetime  # the period's end, or now for the running month
    month: date | None
    period_s: int
    outage_s: int
    excluded_s: int

    @property
    def counted_s(self) -> int:
        return self.outage_s - self.excluded_s

    @property
    def uptime(self) -> Decimal:
        """Percent, two decimals."""
        ratio = Decimal(self.period_s - self.counted_s) / Decimal(self.period_s) * 100
        return ratio.quantize(Decimal("0.01"), ROUND_HALF_UP)

    @property
    def below_target(self) -> bool:
        return Decimal(self.period_s - self.counted_s) * 100 < TARGET * self.period_s

    @property
    def period_minutes(self) -> int:
        return _minutes(self.period_s)

    @property
    def outage_minutes(self) -> int:
        return _minutes(self.outage_s)

    @property
    def excluded_minutes(self) -> int:
        return _minutes(self.excluded_s)

    @property
    def counted_minutes(self) -> int:
        return _minutes(self.counted_s)


def _connectors(organization: Organization, charge_point: ChargePoint | None = None) -> list[Connector]:
    connectors = Connector.objects.filter(charge_point__organization=organization, charge_point__site__isnull=False)
    if charge_point is not None:
        connectors = connectors.filter(charge_point=charge_point)
    return list(connectors.select_related("charge_point__site").order_by("charge_point__ocpp_id", "number"))


def _time_zone(connector: Connector) -> str:
    """The time zone of the connector's site: uptime is reported for connectors on a site only."""
    return cast(Site, connector.charge_point.site).time_zone


Key = tuple[int, date | None]  # (connector id, first day of the local month, or None for any period)


def _outage_by_month(connectors: list[Connector], start: datetime, end: datetime) -> dict[Key, int]:
    """Down seconds per connector and local month of its site, summed by the database."""
    by_zone: dict[str, list[int]] = defaultdict(list)
    for connector in connectors:
        by_zone[_time_zone(connector)].append(connector.pk)
    outage: dict[Key, int] = {}
    for zone, ids in by_zone.items():
        for connector_id, month, down in (
            ConnectorHour.objects.filter(connector_id__in=ids, hour__gte=start, hour__lt=end, down_s__gt=0)
            .annotate(month=TruncMonth("hour", tzinfo=zoneinfo.ZoneInfo(zone)))
            .values("connector_id", "month")
            .annotate(down=Sum("down_s"))
            .values_list("connector_id", "month", "down")
        ):
            outage[(connector_id, month.date() if isinstance(month, datetime) else month)] = down
    return outage


def _outage_over(connectors: list[Connector], start: datetime, end: datetime) -> dict[Key, int]:
    return {
        (connector_id, None): down
        for connector_id, down in ConnectorHour.objects.filter(
            connector_id__in=[c.pk for c in connectors], hour__gte=start, hour__lt=end, down_s__gt=0
        )
        .values("connector_id")
        .annotate(down=Sum("down_s"))
        .values_list("connector_id", "down")
    }


def _figures(
    connectors: list[Connector], periods: dict[Key, tuple[datetime, datetime]], outage: dict[Key, int], now: datetime
) -> dict[Key, Uptime]:
    """Uptime of each (connector id, key) period: outage from the rollups, the excluded part from raw rows."""
    if not periods:
        return {}
    span_start = min(start for start, _end in periods.values())
    span_end = max(end for _start, end in periods.values())
    of_connector: dict[int, list[tuple[date | None, datetime, datetime]]] = defaultdict(list)
    for (connector_id, key), (start, end) in periods.items():
        of_connector[connector_id].append((key, start, end))
    excluded: dict[Key, int] = defaultdict(int)
    windows = OutageExclusion.objects.filter(
        charge_point__in={c.charge_point_id for c in connectors}, start__lt=span_end, end__gt=span_start
    )
    hull = windows.aggregate(first=Min("start"), last=Max("end"))
    if hull["first"] is not None:
        stations = set(windows.values_list("charge_point_id", flat=True))
        affected = [connector for connector in connectors if connector.charge_point_id in stations]
        downtime = connector_downtime(
            connectors=affected, start=max(span_start, hull["first"]), end=min(span_end, hull["last"]), now=now
        )
        for connector in affected:
            for key, start, end in of_connector[connector.pk]:
                excluded_s = seconds(clip(downtime[connector.pk].excluded, start, end))
                # Never more than the outage the rollups hold (they may trail the raw rows by a refresh).
                excluded[(connector.pk, key)] = min(excluded_s, outage.get((connector.pk, key), 0))
    by_id = {connector.pk: connector for connector in connectors}
    return {
        (connector_id, key): Uptime(
            connector=by_id[connector_id],
            start=start,
            end=end,
            month=key,
            period_s=round((end - start).total_seconds()),
            outage_s=outage.get((connector_id, key), 0),
            excluded_s=excluded[(connector_id, key)],
        )
        for (connector_id, key), (start, end) in periods.items()
    }


def uptime_by_month(
    *,
    organization: Organization,
    first_month: date,
    last_month: date,
    charge_point: ChargePoint | None = None,
    now: datetime | None = None,
) -> list[Uptime]:
    """Every connector of the organization's sites x every month from ``first_month`` to ``last_month``.

    Months are the site's local calendar months (DST-safe: March has 743 hours in Stockholm, October
    745). Rows are ordered by station, connector and month; months not yet begun are left out.
    """
    now = now or timezone.now()
    connectors = _connectors(organization, charge_point)
    periods: dict[Key, tuple[datetime, datetime]] = {}
    for connector in connectors:
        for month in months_between(first_month, last_month):
            start, end = month_period(month, _time_zone(connector))
            if start < now:
                periods[(connector.pk, month)] = (start, min(end, now))
    if not periods:
        return []
    span = (min(start for start, _end in periods.values()), max(end for _start, end in periods.values()))
    figures = _figures(connectors, periods, _outage_by_month(connectors, *span), now)
    return [
        figures[key]
        for key in sorted(
            periods,
            key=lambda key: (figures[key].connector.charge_point.ocpp_id, figures[key].connector.number, key[1]),
        )
    ]


def uptime_over(
    *, connectors: list[Connector], start: datetime, end: datetime, now: datetime | None = None
) -> dict[int, Uptime]:
    """Per connector id, the uptime over any stretch of whole hours (the attention list's period)."""
    now = now or timezone.now()
    # In UTC: subtracting two datetimes of the same zone would give wall-clock time across a DST change.
    start, end = start.astimezone(UTC), min(end, now).astimezone(UTC)
    if end <= start or not connectors:
        return {}
    figures = _figures(
        connectors,
        {(connector.pk, None): (start, end) for connector in connectors},
        _outage_over(connectors, start, end),
        now,
    )
    return {connector_id: figure for (connector_id, _key), figure in figures.items()}
