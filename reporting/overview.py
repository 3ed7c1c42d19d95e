"""The operator overview: usage, demand, trends and call-outs for an organization, a site or a station.

Read only from the rollups (``ConnectorHour``, ``SiteHour``, ``DriverDay``) and the small tables of
sites, stations and connectors, never from raw sessions or meter values, so a month of a large
operator costs a handful of grouped queries.

Definitions (``reporting.models`` says what each rollup column holds):

- **capacity** = connectors x seconds in the period (the period in UTC, so a day with a
  daylight-saving change has 23 or 25 hours);
- **utilization** = occupied seconds / capacity; **charging share** = charging seconds / capacity;
- **idle** = occupied but not charging, per connector and hour (never below zero);
- **average duration** = occupied seconds / sessions started; **energy per session** = energy of the
  sessions started / sessions started;
- **unique drivers** = distinct customer accounts with a ``DriverDay`` in the period's local days;
- **demand heatmap** = sessions started per weekday and hour of day in each *site's* local time:
  each UTC hour is converted on its own, so the hour that does not exist in spring gets nothing
  and the hour that happens twice in autumn gets both;
- **trends** compare with the same number of local days just before; for a period not over yet
  (``Period.up_to``), only its elapsed part counts, to the last whole hour, and it is compared with the same
  elapsed part of the period before (the same number of local days and the same local time of day: Monday
  to Thursday 14:00 against Monday to Thursday 14:00 of the week before); days and hours still to come are
  left out of every figure, capacity and series. Unique drivers count whole local days (``DriverDay``), the
  day in progress included on both sides.

Call-outs (the expand / relocate decisions):

- a site **runs near full** when, in the period, its peak of simultaneous sessions reached at least
  90 % of the site's connectors, or its busiest hour of the week (local weekday and hour of day) was
  occupied more than 80 % of the connector time available in those hours;
- a station is **rarely used** when its utilization is below 5 %, unless it was mostly down: faulted,
  unavailable or offline (``down_s``, each second once) for half its connector time or more, which is
  a maintenance matter rather than a location one.
"""

import zoneinfo
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from django.db.models import Count, DecimalField, F, Max, QuerySet, Sum
from django.db.models.functions import ExtractHour, ExtractIsoWeekDay, TruncDate
from django.utils.translation import gettext_lazy as _

from accounts.models import Organization
from billing.selectors import organization_time_zone
from core import money
from core.exports import Table
from reporting.models import ConnectorDay, ConnectorHour, DriverDay, SiteHour
from reporting.rollups import DAY_SUMS
from sessions_app.models import ChargePoint, Connector, Site

NEAR_FULL_PEAK_SHARE = Decimal("0.90")  # peak simultaneous sessions / the site's connectors
NEAR_FULL_OCCUPANCY = Decimal("0.80")  # occupancy in the busiest hour of the week, above this
RARELY_USED_UTILIZATION = Decimal("0.05")  # utilization below this
MOSTLY_DOWN_SHARE = Decimal("0.50")  # down this share of the period or more: not "rarely used"

WEEKDAYS = [_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun")]
HOURS = [f"{hour:02d}" for hour in range(24)]
RANKINGS = {
    "top_utilization": _("Most used"),
    "bottom_utilization": _("Least used"),
    "top_energy": _("Most energy"),
    "bottom_energy": _("Least energy"),
}
CALLOUT_KINDS = {"near_full": _("Runs near full: expand?"), "rarely_used": _("Rarely used: relocate?")}

_ONE_DECIMAL = Decimal("0.1")


def percent(part: int | Decimal, whole: int | Decimal) -> Decimal | None:
    """``part`` as a percentage of ``whole``, to one decimal; None when there is no whole."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(_ONE_DECIMAL, ROUND_HALF_UP)


def change_percent(current, previous) -> Decimal | None:
    """Percent change from the previous value (ints, Decimals or exact Fractions), to one decimal; None when
    there was nothing before to compare with."""
    if current is None or previous is None or previous == 0:
        return None
    change = (Fraction(current) - Fraction(previous)) * 100 / Fraction(previous)
    return (Decimal(change.numerator) / Decimal(change.denominator)).quantize(_ONE_DECIMAL, ROUND_HALF_UP)


def _ratio(part: int, whole: int) -> Fraction | None:
    return Fraction(part, whole) if whole else None


def kwh(energy_wh: int) -> Decimal:
    return (Decimal(energy_wh) / 1000).quantize(Decimal("0.001"))


def hours(seconds: int) -> Decimal:
    return (Decimal(seconds) / 3600).quantize(Decimal("0.01"), ROUND_HALF_UP)


@dataclass(frozen=True)
class Period:
    """Whole local days ``first`` to ``last`` (inclusive) in ``time_zone``, and their UTC bounds.

    ``as_of`` (UTC, within the period) when the period is not over: only ``start`` to ``as_of`` is counted.
    """

    first: date
    last: date
    time_zone: str
    as_of: datetime | None = None

    def up_to(self, now: datetime) -> "Period":
        """This period as far as it has gone at ``now``: itself when it is over, else cut at the last whole hour
        (the rollups' grain; the hour in progress would compare a part with a whole)."""
        if now >= self.end:
            return Period(self.first, self.last, self.time_zone)
        cut = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        return Period(self.first, self.last, self.time_zone, as_of=min(max(cut, self.start), self.end))

    @property
    def in_progress(self) -> bool:
        return self.as_of is not None

    @property
    def until(self) -> datetime:
        """The end of what is counted: ``as_of`` for a period in progress, else the period's end."""
        return self.as_of if self.as_of is not None else self.end

    @property
    def counted_last(self) -> date:
        """The last local day with counted time (the day before ``first`` when nothing is counted yet)."""
        return (self.until - timedelta(microseconds=1)).astimezone(zoneinfo.ZoneInfo(self.time_zone)).date()

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time.min, tzinfo=zoneinfo.ZoneInfo(self.time_zone)).astimezone(UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(
            self.last + timedelta(days=1), time.min, tzinfo=zoneinfo.ZoneInfo(self.time_zone)
        ).astimezone(UTC)

    @property
    def seconds(self) -> int:
        """Seconds counted: the whole period, or its elapsed part."""
        return int((self.until - self.start).total_seconds())

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def previous(self) -> "Period":
        """The same number of local days just before; for a period in progress, cut at the same elapsed part
        (the same number of local days, then the same local time of day)."""
        before = Period(self.first - timedelta(days=self.days), self.first - timedelta(days=1), self.time_zone)
        if self.as_of is None:
            return before
        zone = zoneinfo.ZoneInfo(self.time_zone)
        local = self.as_of.astimezone(zone)
        day = before.first + (local.date() - self.first)
        cut = datetime.combine(day, local.time().replace(tzinfo=None), tzinfo=zone).astimezone(UTC)
        return Period(before.first, before.last, self.time_zone, as_of=min(max(cut, before.start), before.end))


@dataclass(frozen=True)
class Scope:
    """An organization, optionally narrowed to one site or one station."""

    organization: Organization
    site: Site | None = None
    charge_point: ChargePoint | None = None

    def narrow(self, queryset: QuerySet, *, site_field: str = "site", charge_point_field: str = "charge_point"):
        queryset = queryset.filter(organization=self.organization)
        if self.site is not None:
            queryset = queryset.filter(**{site_field: self.site.pk})
        if self.charge_point is not None:
            queryset = queryset.filter(**{charge_point_field: self.charge_point.pk})
        return queryset

    def stations(self) -> QuerySet:
        """The stations in service (those with a site), each with its number of connectors."""
        return (
            self.narrow(ChargePoint.objects.filter(site__isnull=False), charge_point_field="pk")
            .select_related("site")
            .annotate(connector_count=Count("connectors"))
            .order_by("site__name", "ocpp_id")
        )

    def sites(self) -> QuerySet:
        sites = Site.objects.filter(organization=self.organization)
        if self.site is not None:
            sites = sites.filter(pk=self.site.pk)
        if self.charge_point is not None:
            sites = sites.filter(charge_points=self.charge_point)
        return sites.order_by("name")


def _sums() -> dict:
    """The rollup columns summed over ConnectorHour (as ``sum_<column>``), idle time per connector and hour."""
    return {f"sum_{name}": total for name, total in DAY_SUMS.items()}


def _day_sums() -> dict:
    """The same sums over ConnectorDay rows (idle is summed per hour there already)."""
    return {f"sum_{name}": Sum(name) for name in DAY_SUMS}


_COUNTED = (
    "sessions",
    "energy_wh",
    "occupied_s",
    "charging_s",
    "outage_s",
    "offline_s",
    "failed_starts",
    "zero_energy",
    "idle_s",
    "down_s",
)


@dataclass
class Usage:
    """Sums over some connectors and hours, and the figures derived from them."""

    label: str = ""
    connectors: int = 0
    capacity_s: int = 0
    sessions: int = 0
    energy_wh: int = 0
    revenue: Decimal = Decimal("0.00")
    occupied_s: int = 0
    charging_s: int = 0
    outage_s: int = 0
    offline_s: int = 0
    failed_starts: int = 0
    zero_energy: int = 0
    idle_s: int = 0
    down_s: int = 0
    unique_drivers: int | None = None
    key: int | None = None  # the connector's, station's or site's pk
    site_label: str = ""

    def add(self, sums: dict) -> None:
        for name in _COUNTED:
            setattr(self, name, getattr(self, name) + int(sums.get(f"sum_{name}") or 0))
        # (SQLite sums decimals as floats: back to cents, as the column stores them.)
        self.revenue += money.stored_amount(sums.get("sum_revenue"))

    @property
    def energy_kwh(self) -> Decimal:
        return kwh(self.energy_wh)

    @property
    def utilization(self) -> Decimal | None:
        return percent(self.occupied_s, self.capacity_s)

    @property
    def charging_share(self) -> Decimal | None:
        return percent(self.charging_s, self.capacity_s)

    @property
    def down_share(self) -> Decimal | None:
        return percent(min(self.down_s, self.capacity_s), self.capacity_s)

    @property
    def idle_hours(self) -> Decimal:
        return hours(self.idle_s)

    @property
    def occupied_hours(self) -> Decimal:
        return hours(self.occupied_s)

    @property
    def average_duration_min(self) -> Decimal | None:
        if not self.sessions:
            return None
        return (Decimal(self.occupied_s) / 60 / self.sessions).quantize(_ONE_DECIMAL, ROUND_HALF_UP)

    @property
    def energy_per_session_kwh(self) -> Decimal | None:
        if not self.sessions:
            return None
        return (Decimal(self.energy_wh) / 1000 / self.sessions).quantize(Decimal("0.001"), ROUND_HALF_UP)

    @property
    def rarely_used(self) -> bool:
        """Below 5 % utilization and not mostly down (compared exactly, before any rounding)."""
        if not self.capacity_s:
            return False
        mostly_down = Decimal(min(self.down_s, self.capacity_s)) >= MOSTLY_DOWN_SHARE * self.capacity_s
        return not mostly_down and Decimal(self.occupied_s) < RARELY_USED_UTILIZATION * self.capacity_s


@dataclass
class SiteDemand:
    """A site's peak and its busiest hour of the week."""

    site: Site
    connectors: int  # all the site's connectors in service (the peak is the whole site's)
    scope_connectors: int  # those in the chosen scope (the occupancy below is theirs)
    peak_sessions: int = 0
    busiest_weekday: int | None = None  # 0 = Monday
    busiest_hour: int | None = None
    busiest_occupied_s: int = 0
    busiest_capacity_s: int = 0

    @property
    def peak_share(self) -> Decimal | None:
        return percent(self.peak_sessions, self.connectors)

    @property
    def busiest_occupancy(self) -> Decimal | None:
        return percent(self.busiest_occupied_s, self.busiest_capacity_s)

    @property
    def busiest_label(self) -> str:
        if self.busiest_weekday is None:
            return ""
        return f"{WEEKDAYS[self.busiest_weekday]} {self.busiest_hour:02d}:00"

    @property
    def near_full_by_peak(self) -> bool:
        return self.connectors > 0 and Decimal(self.peak_sessions) >= NEAR_FULL_PEAK_SHARE * self.connectors

    @property
    def near_full_by_occupancy(self) -> bool:
        return (
            self.busiest_capacity_s > 0
            and Decimal(self.busiest_occupied_s) > NEAR_FULL_OCCUPANCY * self.busiest_capacity_s
        )

    @property
    def near_full(self) -> bool:
        return self.near_full_by_peak or self.near_full_by_occupancy


@dataclass
class Callout:
    kind: str  # "near_full" or "rarely_used"
    subject: str
    reason: str


@dataclass
class Trend:
    """A figure now and in the previous period; the change is computed from the exact values, not the
    rounded ones shown."""

    key: str
    label: str
    current: object
    previous: object
    exact_current: object = None
    exact_previous: object = None

    @property
    def change(self) -> Decimal | None:
        if self.exact_current is not None or self.exact_previous is not None:
            return change_percent(self.exact_current, self.exact_previous)
        return change_percent(self.current, self.previous)


@dataclass
class Overview:
    scope: Scope
    period: Period
    previous_period: Period
    currency: str
    totals: Usage
    previous: Usage
    trends: list[Trend]
    sites: list[Usage]
    stations: list[Usage]
    connectors: list[Usage]
    demand: list[SiteDemand]
    heatmap: list[list[int]]  # 7 weekdays (Monday first) x 24 hours, sessions started
    series: list[tuple[str, int, int, Decimal]]  # (label, sessions, energy Wh, revenue) per day or hour
    series_by_hour: bool
    top_bottom: dict[str, list[Usage]] = field(default_factory=dict)
    callouts: list[Callout] = field(default_factory=list)


def _unique_drivers(scope: Scope, period: Period) -> int:
    days = scope.narrow(DriverDay.objects.filter(day__gte=period.first, day__lte=period.counted_last))
    return days.values("customer_account_id").distinct().count()


def _hours(scope: Scope, period: Period) -> QuerySet:
    return scope.narrow(ConnectorHour.objects.filter(hour__gte=period.start, hour__lt=period.until))


def _days(scope: Scope, period: Period) -> QuerySet:
    return scope.narrow(ConnectorDay.objects.filter(day__gte=period.first, day__lte=period.last))


def _whole_days(scope: Scope, period: Period, sites: list[Site]) -> bool:
    """Whether the period's days are the ConnectorDay days of everything in scope: every site (and, for the
    whole operator, stations without a site, counted in the operator's zone) keeps the period's time zone.
    Then sums over days equal sums over the period's hours; otherwise the hours are read. (A period in progress
    reads its whole days by days and the day in progress by hours: ``_parts``.)"""
    zones = {site.time_zone for site in sites}
    if scope.charge_point is not None:
        if scope.charge_point.site_id is None:
            return False
    elif scope.site is None:
        zones.add(organization_time_zone(scope.organization))
    return zones <= {period.time_zone}


def _parts(period: Period, whole_days: bool) -> tuple[Period | None, Period | None]:
    """The part read from ConnectorDay and the part read from ConnectorHour: all by days when whole days can be
    read and the period is over; for a period in progress its days before ``as_of``'s local day by days and
    that day up to ``as_of`` by hours; otherwise all by hours."""
    if not whole_days:
        return None, period
    if period.as_of is None:
        return period, None
    today = period.as_of.astimezone(zoneinfo.ZoneInfo(period.time_zone)).date()
    days = Period(period.first, today - timedelta(days=1), period.time_zone) if today > period.first else None
    return days, Period(today, today, period.time_zone, as_of=period.as_of)


def _per_connector(scope: Scope, period: Period, whole_days: bool) -> list[dict]:
    """Sums per connector (grouped by the connector alone: PostgreSQL then hashes its few groups in memory); a
    connector may have a row from the days and one from the hours (``Usage.add`` adds them up)."""
    by_days, by_hours = _parts(period, whole_days)
    rows: list[dict] = []
    if by_days is not None:
        rows += _days(scope, by_days).values("connector_id").annotate(**_day_sums())
    if by_hours is not None:
        rows += _hours(scope, by_hours).values("connector_id").annotate(**_sums())
    return rows


def _in_all(scope: Scope, period: Period, whole_days: bool) -> list[dict]:
    by_days, by_hours = _parts(period, whole_days)
    sums = []
    if by_days is not None:
        sums.append(_days(scope, by_days).aggregate(**_day_sums()))
    if by_hours is not None:
        sums.append(_hours(scope, by_hours).aggregate(**_sums()))
    return sums


def _zone_slots(period: Period, zone: str) -> Counter:
    """How many times each local (weekday, hour) occurs in the period: 0, 1 or 2 around DST changes.

    A local day of 24 hours counts its 24 slots at once; the hours of other days (a daylight-saving change,
    a first or last day the period only partly covers in this zone) are placed one by one.
    """
    tz = zoneinfo.ZoneInfo(zone)
    slots: Counter = Counter()
    whole_days: Counter = Counter()  # weekday -> plain days
    hour, end = period.start, period.until
    while hour < end:
        local = hour.astimezone(tz)
        if local.hour == 0 and local.minute == 0:
            midnight = datetime.combine(local.date() + timedelta(days=1), time.min, tzinfo=tz).astimezone(UTC)
            if midnight - hour == timedelta(hours=24) and midnight <= end:
                whole_days[local.weekday()] += 1
                hour = midnight
                continue
        slots[(local.weekday(), local.hour)] += 1
        hour += timedelta(hours=1)
    for weekday, days in whole_days.items():
        for local_hour in range(24):
            slots[(weekday, local_hour)] += days
    return slots


def _week_hours(scope: Scope, period: Period, sites: list[Site], operator_zone: str) -> tuple[dict, dict]:
    """Sessions started and occupied seconds per (site, local weekday, local hour), and each site's peak of
    sessions at once (the whole site's, whatever the scope).

    For a site or the whole operator, from SiteHour, whose hours carry their place in the site's week
    (so the result is right on both sides of a daylight-saving change without converting a row), peaks in
    the same pass; hours of stations without a site count in the operator's zone, under site None. For one
    station, from its ConnectorHour rows, converted by the database.
    """
    found: dict = defaultdict(lambda: [0, 0])
    site_hours = SiteHour.objects.filter(
        organization=scope.organization, site__in=[s.pk for s in sites], hour__gte=period.start, hour__lt=period.until
    )
    if scope.charge_point is None:
        peaks: dict = {}
        for site_id, weekday, hour, started, occupied, peak in (
            site_hours.values("site_id", "local_weekday", "local_hour")
            .annotate(started=Sum("sessions"), occupied=Sum("occupied_s"), peak=Max("peak_sessions"))
            .values_list("site_id", "local_weekday", "local_hour", "started", "occupied", "peak")
        ):
            cell = found[(site_id, weekday, hour)]
            cell[0] += started or 0
            cell[1] += occupied or 0
            peaks[site_id] = max(peaks.get(site_id, 0), peak or 0)
        if scope.site is not None:
            return found, peaks
        hours, zone = _hours(scope, period).filter(site__isnull=True), zoneinfo.ZoneInfo(operator_zone)
    else:
        peaks = dict(site_hours.values_list("site_id").annotate(peak=Max("peak_sessions")))
        station_site = sites[0] if sites else None
        hours = _hours(scope, period)
        zone = zoneinfo.ZoneInfo(station_site.time_zone if station_site else operator_zone)
    rows = (
        hours.annotate(
            weekday=ExtractIsoWeekDay("hour", tzinfo=zone),
            local_hour=ExtractHour("hour", tzinfo=zone),
        )
        .values("site_id", "weekday", "local_hour")
        .annotate(started=Sum("sessions"), occupied=Sum("occupied_s"))
    )
    for row in rows:
        cell = found[(row["site_id"], row["weekday"] - 1, row["local_hour"])]
        cell[0] += row["started"] or 0
        cell[1] += row["occupied"] or 0
    return found, peaks


def _series(scope: Scope, period: Period, whole_days: bool) -> tuple[list[tuple[str, int, int, Decimal]], bool]:
    """Sessions, energy and revenue per local day; per local hour of day for a one-day period. Days and hours
    still to come (a period in progress) are left out, not drawn as zero."""
    tz = zoneinfo.ZoneInfo(period.time_zone)
    by_hour = period.days == 1
    by_days, by_hours = _parts(period, whole_days and not by_hour)
    parts = []
    if by_days is not None:
        parts.append(_days(scope, by_days).annotate(bucket=F("day")))
    if by_hours is not None:
        parts.append(
            _hours(scope, by_hours).annotate(
                bucket=ExtractHour("hour", tzinfo=tz) if by_hour else TruncDate("hour", tzinfo=tz)
            )
        )
    found = {}  # the parts never share a bucket: days before the day in progress, then that day
    for rows in parts:
        for row in rows.values("bucket").annotate(
            started=Sum("sessions"),
            energy=Sum("energy_wh"),
            money=Sum("revenue", output_field=DecimalField(max_digits=16, decimal_places=money.STORED_DECIMAL_PLACES)),
        ):
            found[row["bucket"]] = row
    if by_hour:
        hours_counted = 24
        if period.in_progress:
            hours_counted = 0 if period.until <= period.start else period.until.astimezone(tz).hour or 24
        buckets: list[tuple[object, str]] = [(hour, f"{hour:02d}:00") for hour in range(hours_counted)]
    else:
        days_counted = (period.counted_last - period.first).days + 1
        buckets = [(day, day.isoformat()) for day in (period.first + timedelta(days=n) for n in range(days_counted))]
    series = []
    for key, label in buckets:
        row = found.get(key, {})
        series.append(
            (label, int(row.get("started") or 0), int(row.get("energy") or 0), money.stored_amount(row.get("money")))
        )
    return series, by_hour


def _trends(current: Usage, previous: Usage) -> list[Trend]:
    figures = [
        ("sessions", _("Sessions"), lambda u: u.sessions, None),
        ("energy_kwh", _("Energy (kWh)"), lambda u: u.energy_kwh, lambda u: u.energy_wh),
        ("revenue", _("Revenue incl. VAT"), lambda u: u.revenue, None),
        ("unique_drivers", _("Unique drivers"), lambda u: u.unique_drivers, None),
        (
            "average_duration_min",
            _("Average duration (min)"),
            lambda u: u.average_duration_min,
            lambda u: _ratio(u.occupied_s, u.sessions),
        ),
        (
            "energy_per_session_kwh",
            _("Energy per session (kWh)"),
            lambda u: u.energy_per_session_kwh,
            lambda u: _ratio(u.energy_wh, u.sessions),
        ),
        ("utilization", _("Utilization (%)"), lambda u: u.utilization, lambda u: _ratio(u.occupied_s, u.capacity_s)),
        (
            "charging_share",
            _("Charging (% of time)"),
            lambda u: u.charging_share,
            lambda u: _ratio(u.charging_s, u.capacity_s),
        ),
        ("idle_hours", _("Idle, plugged in but not charging (h)"), lambda u: u.idle_hours, lambda u: u.idle_s),
    ]
    trends = []
    for key, label, shown, exact in figures:
        trend = Trend(key, str(label), shown(current), shown(previous))
        if exact is not None:
            trend.exact_current, trend.exact_previous = exact(current), exact(previous)
        trends.append(trend)
    return trends


def _ranked(stations: list[Usage], top: int) -> dict[str, list[Usage]]:
    def by_utilization(usage: Usage):
        return (usage.occupied_s / usage.capacity_s) if usage.capacity_s else 0

    rankable = [usage for usage in stations if usage.capacity_s]
    return {
        "top_utilization": sorted(rankable, key=lambda u: (-by_utilization(u), u.label))[:top],
        "bottom_utilization": sorted(rankable, key=lambda u: (by_utilization(u), u.label))[:top],
        "top_energy": sorted(stations, key=lambda u: (-u.energy_wh, u.label))[:top],
        "bottom_energy": sorted(stations, key=lambda u: (u.energy_wh, u.label))[:top],
    }


def _callouts(demand: list[SiteDemand], stations: list[Usage]) -> list[Callout]:
    callouts = []
    for site in demand:
        reasons = []
        if site.near_full_by_peak:
            reasons.append(
                str(
                    _("%(peak)s sessions at once on %(connectors)s connectors")
                    % {"peak": site.peak_sessions, "connectors": site.connectors}
                )
            )
        if site.near_full_by_occupancy:
            reasons.append(
                str(
                    _("%(share)s %% occupied at its busiest hour (%(when)s)")
                    % {"share": site.busiest_occupancy, "when": site.busiest_label}
                )
            )
        if reasons:
            callouts.append(Callout("near_full", str(site.site), "; ".join(reasons)))
    for station in stations:
        if station.rarely_used:
            callouts.append(
                Callout(
                    "rarely_used", station.label, str(_("%(share)s %% utilization") % {"share": station.utilization})
                )
            )
    return callouts


def operator_overview(
    *,
    organization: Organization,
    period: Period,
    site: Site | None = None,
    charge_point: ChargePoint | None = None,
    top: int = 5,
) -> Overview:
    """Every figure of the overview page for the scope and period (reads rollups only)."""
    scope = Scope(organization, site, charge_point)
    seconds = period.seconds
    stations = list(scope.stations())
    connector_rows = list(
        Connector.objects.filter(charge_point__in=[s.pk for s in stations])
        .order_by("charge_point__ocpp_id", "number")
        .values("pk", "number", "charge_point_id")
    )
    station_by_pk = {station.pk: station for station in stations}

    connectors = {
        row["pk"]: Usage(
            label=f"{station_by_pk[row['charge_point_id']]} #{row['number']}",
            connectors=1,
            capacity_s=seconds,
            key=row["pk"],
            site_label=str(station_by_pk[row["charge_point_id"]].site),
        )
        for row in connector_rows
    }
    station_usage = {
        station.pk: Usage(
            label=str(station),
            connectors=station.connector_count,
            capacity_s=station.connector_count * seconds,
            key=station.pk,
            site_label=str(station.site),
        )
        for station in stations
    }
    site_list = list(scope.sites())
    site_usage = {s.pk: Usage(label=str(s), key=s.pk) for s in site_list}
    for station in stations:
        if station.site_id not in site_usage:
            continue
        site_usage[station.site_id].connectors += station.connector_count
        site_usage[station.site_id].capacity_s += station.connector_count * seconds
    totals = Usage(
        label=str(organization),
        connectors=sum(s.connector_count for s in stations),
        capacity_s=sum(s.connector_count for s in stations) * seconds,
    )

    whole_days = _whole_days(scope, period, site_list)
    station_of = {row["pk"]: station_by_pk[row["charge_point_id"]] for row in connector_rows}
    for row in _per_connector(scope, period, whole_days):
        totals.add(row)
        station = station_of.get(row["connector_id"])
        if station is None:  # a station without a site: in the totals only
            continue
        connectors[row["connector_id"]].add(row)
        station_usage[station.pk].add(row)
        if station.site_id in site_usage:
            site_usage[station.site_id].add(row)
    totals.unique_drivers = _unique_drivers(scope, period)

    previous_period = period.previous()
    previous = Usage(connectors=totals.connectors, capacity_s=totals.connectors * previous_period.seconds)
    for sums in _in_all(scope, previous_period, whole_days):
        previous.add(sums)
    previous.unique_drivers = _unique_drivers(scope, previous_period)

    # Peaks are the whole site's, against all of its connectors in service.
    site_connectors = dict(
        Connector.objects.filter(charge_point__site__in=site_list, charge_point__organization=organization)
        .values_list("charge_point__site_id")
        .annotate(n=Count("pk"))
    )
    operator_zone = period.time_zone
    zones = {s.time_zone for s in site_list}
    week_hours, peaks = _week_hours(scope, period, site_list, operator_zone)
    slots = {zone: _zone_slots(period, zone) for zone in zones | {operator_zone}}

    heatmap = [[0] * 24 for _day in range(7)]
    busiest: dict = {}
    zone_of = {s.pk: s.time_zone for s in site_list}
    for (site_id, weekday, hour), (started, occupied) in sorted(
        week_hours.items(), key=lambda item: (item[0][0] or 0, *item[0][1:])
    ):
        heatmap[weekday][hour] += started
        if site_id not in site_usage:
            continue
        capacity = site_usage[site_id].connectors * 3600 * slots[zone_of[site_id]][(weekday, hour)]
        if capacity and (site_id not in busiest or occupied * busiest[site_id][3] > busiest[site_id][2] * capacity):
            busiest[site_id] = (weekday, hour, occupied, capacity)

    demand = []
    for s in site_list:
        item = SiteDemand(
            site=s,
            connectors=site_connectors.get(s.pk, 0),
            scope_connectors=site_usage[s.pk].connectors,
            peak_sessions=peaks.get(s.pk, 0) or 0,
        )
        if s.pk in busiest:
            item.busiest_weekday, item.busiest_hour, item.busiest_occupied_s, item.busiest_capacity_s = busiest[s.pk]
        demand.append(item)

    station_list = list(station_usage.values())
    series, series_by_hour = _series(scope, period, whole_days)
    return Overview(
        scope=scope,
        period=period,
        previous_period=previous_period,
        currency=organization.currency,
        totals=totals,
        previous=previous,
        trends=_trends(totals, previous),
        sites=list(site_usage.values()),
        stations=station_list,
        connectors=list(connectors.values()),
        demand=demand,
        heatmap=heatmap,
        series=series,
        series_by_hour=series_by_hour,
        top_bottom=_ranked(station_list, top),
        callouts=_callouts(demand, station_list),
    )


def overview_tables(overview: Overview) -> dict[str, Table]:
    """Every table of the overview, as the page shows it and its CSV / XLSX downloads hold it."""
    currency = overview.currency
    demand: dict[int | None, SiteDemand] = {item.site.pk: item for item in overview.demand}
    tables = [
        Table(
            "trends",
            str(_("Key figures")),
            [_("Figure"), _("This period"), _("Previous period"), _("Change (%)")],
            [[trend.label, trend.current, trend.previous, trend.change] for trend in overview.trends],
        ),
        Table(
            "series",
            str(_("Per hour") if overview.series_by_hour else _("Per day")),
            [
                _("Hour") if overview.series_by_hour else _("Day"),
                _("Sessions"),
                _("Energy (kWh)"),
                _("Revenue (%(currency)s)") % {"currency": currency},
            ],
            [[label, sessions, kwh(energy_wh), revenue] for label, sessions, energy_wh, revenue in overview.series],
        ),
        Table(
            "sites",
            str(_("Sites")),
            [
                _("Site"),
                _("Connectors"),
                _("Sessions"),
                _("Energy (kWh)"),
                _("Revenue (%(currency)s)") % {"currency": currency},
                _("Utilization (%)"),
                _("Charging (%)"),
                _("Idle (h)"),
                _("Peak sessions at once"),
                _("Peak (% of connectors)"),
                _("Busiest hour of the week"),
                _("Occupancy at the busiest hour (%)"),
            ],
            [
                [
                    u.label,
                    u.connectors,
                    u.sessions,
                    u.energy_kwh,
                    u.revenue,
                    u.utilization,
                    u.charging_share,
                    u.idle_hours,
                    demand[u.key].peak_sessions,
                    demand[u.key].peak_share,
                    demand[u.key].busiest_label,
                    demand[u.key].busiest_occupancy,
                ]
                for u in overview.sites
            ],
        ),
        Table(
            "stations",
            str(_("Stations")),
            [
                _("Station"),
                _("Site"),
                _("Connectors"),
                _("Sessions"),
                _("Energy (kWh)"),
                _("Revenue (%(currency)s)") % {"currency": currency},
                _("Average duration (min)"),
                _("Energy per session (kWh)"),
                _("Utilization (%)"),
                _("Charging (%)"),
                _("Idle (h)"),
                _("Down (% of time)"),
                _("Refused starts"),
            ],
            [
                [
                    u.label,
                    u.site_label,
                    u.connectors,
                    u.sessions,
                    u.energy_kwh,
                    u.revenue,
                    u.average_duration_min,
                    u.energy_per_session_kwh,
                    u.utilization,
                    u.charging_share,
                    u.idle_hours,
                    u.down_share,
                    u.failed_starts,
                ]
                for u in overview.stations
            ],
        ),
        Table(
            "connectors",
            str(_("Connectors")),
            [
                _("Connector"),
                _("Site"),
                _("Sessions"),
                _("Energy (kWh)"),
                _("Utilization (%)"),
                _("Charging (%)"),
                _("Idle (h)"),
            ],
            [
                [u.label, u.site_label, u.sessions, u.energy_kwh, u.utilization, u.charging_share, u.idle_hours]
                for u in overview.connectors
            ],
        ),
        Table(
            "heatmap",
            str(_("Sessions started by weekday and hour")),
            [_("Weekday"), *HOURS],
            [[str(day), *row] for day, row in zip(WEEKDAYS, overview.heatmap, strict=True)],
        ),
        Table(
            "ranking",
            str(_("Top and bottom stations")),
            [_("Ranking"), _("Position"), _("Station"), _("Utilization (%)"), _("Energy (kWh)")],
            [
                [str(RANKINGS[name]), position, u.label, u.utilization, u.energy_kwh]
                for name, ranked in overview.top_bottom.items()
                for position, u in enumerate(ranked, start=1)
            ],
        ),
        Table(
            "callouts",
            str(_("Call-outs")),
            [_("Call-out"), _("Site or station"), _("Why")],
            [[str(CALLOUT_KINDS[c.kind]), c.subject, c.reason] for c in overview.callouts],
        ),
    ]
    return {table.key: table for table in tables}
