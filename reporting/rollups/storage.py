"""Writing the rollup rows: a window's rows of each table deleted and written again, in bulk.

Every writer here replaces whole windows (the caller's transaction makes delete and insert one change for
readers). ConnectorDay and SiteHour's sums are read back from the ConnectorHour rows as stored, so rows
written by hand (tests) and by a recompute are summed alike.
"""

import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, cast

from django.db import connection, models
from django.db.models import F, Q, Sum, Value
from django.db.models.functions import Greatest, TruncDate

from accounts.models import AuthorizationStatus
from core import money
from reporting.models import ConnectorDay, ConnectorHour, DriverDay, SiteHour
from reporting.rollups.intervals import HOUR_US, hour_index, hour_start, to_us
from reporting.rollups.scope import ConnectorRef, Plan
from sessions_app.models import ChargingSession

ZERO_MONEY = Decimal("0.00")
#: What each ConnectorHour counts (summed into days, sites and reports).
HOUR_SUMS = (
    "sessions",
    "energy_wh",
    "revenue",
    "occupied_s",
    "charging_s",
    "outage_s",
    "offline_s",
    "down_s",
    "failed_starts",
    "zero_energy",
)
CONNECTOR_HOUR_COLUMNS = ["organization_id", "site_id", "charge_point_id", "connector_id", "hour", *HOUR_SUMS]
#: ConnectorDay's columns, summed from ConnectorHour (idle per hour, as the reports count it).
DAY_SUMS: dict[str, Sum] = {
    **{name: Sum(name) for name in HOUR_SUMS},
    "idle_s": Sum(Greatest(F("occupied_s") - F("charging_s"), Value(0), output_field=models.IntegerField())),
}
#: Site peaks by (site, hour index).
Peaks = dict[tuple[int, int], int]


def bulk_insert(model: type[models.Model], columns: list[str], rows: Sequence[tuple[Any, ...]]) -> None:
    """Many rows at once: COPY on PostgreSQL, batched INSERTs elsewhere."""
    if not rows:
        return
    fields = [cast("models.Field[Any, Any]", model._meta.get_field(name)) for name in columns]  # concrete columns only
    table = model._meta.db_table
    if connection.vendor == "postgresql":
        names = ", ".join(str(f.column) for f in fields)
        with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:  # noqa: S608 - our own names
            for row in rows:
                copy.write_row(row)
        return
    adapters = [_adapter(f) for f in fields]
    ops = connection.ops
    sql = (
        f"INSERT INTO {ops.quote_name(table)} "  # noqa: S608 - our own names
        f"({', '.join(ops.quote_name(str(f.column)) for f in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))})"
    )
    with connection.cursor() as cursor:
        for i in range(0, len(rows), 5000):
            cursor.executemany(
                sql,
                [
                    [a(v) if a and v is not None else v for a, v in zip(adapters, row, strict=True)]
                    for row in rows[i : i + 5000]
                ],
            )


def _adapter(f: "models.Field[Any, Any]") -> Callable[[Any], Any] | None:
    ops = connection.ops
    if isinstance(f, models.DateTimeField):
        return ops.adapt_datetimefield_value
    if isinstance(f, models.DateField):
        return ops.adapt_datefield_value
    if isinstance(f, models.DecimalField):
        return lambda v: ops.adapt_decimalfield_value(v, f.max_digits, f.decimal_places)
    return None


def connector_hours_replace(
    connector_ids: set[int], start: datetime, end: datetime, rows: Sequence[tuple[Any, ...]]
) -> None:
    """The connectors' ConnectorHour rows in [start, end) become ``rows`` (in CONNECTOR_HOUR_COLUMNS order)."""
    ConnectorHour.objects.filter(connector_id__in=connector_ids, hour__gte=start, hour__lt=end).delete()
    bulk_insert(ConnectorHour, CONNECTOR_HOUR_COLUMNS, rows)


def site_hours_write(plan: Plan, start: datetime, end: datetime, peaks: Peaks | None) -> None:
    """SiteHour of the plan's sites in the window: the peaks given (None keeps those written), the sums from
    ConnectorHour (all the site's connectors, as written), each hour placed in the site's week."""
    lo, hi = to_us(start), to_us(end)
    site_of = {ref.site_id: ref for ref in plan.charge_points.values() if ref.site_id is not None}
    in_window = SiteHour.objects.filter(site_id__in=list(site_of), hour__gte=start, hour__lt=end)
    if peaks is None:
        peaks = {
            (site, hour_index(to_us(hour))): peak
            for site, hour, peak in in_window.values_list("site_id", "hour", "peak_sessions")
        }
    found: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0, 0])  # (site, hour) -> peak, started, busy
    for (site, h), peak in peaks.items():
        if site in site_of and lo <= h * HOUR_US < hi and peak:
            found[(site, h)][0] = peak
    for site, hour, started, occupied in (
        ConnectorHour.objects.filter(site_id__in=list(site_of), hour__gte=start, hour__lt=end)
        .values("site_id", "hour")
        .annotate(started=Sum("sessions"), occupied=Sum("occupied_s"))
        .values_list("site_id", "hour", "started", "occupied")
    ):
        if started or occupied:
            found[(site, hour_index(to_us(hour)))][1:] = [started or 0, occupied or 0]
    rows = []
    for (site, h), (peak, started, occupied) in sorted(found.items()):
        ref = site_of[site]
        local = hour_start(h).astimezone(zoneinfo.ZoneInfo(ref.time_zone))
        rows.append((ref.organization_id, site, hour_start(h), peak, started, occupied, local.weekday(), local.hour))
    in_window.delete()
    bulk_insert(
        SiteHour,
        [
            "organization_id",
            "site_id",
            "hour",
            "peak_sessions",
            "sessions",
            "occupied_s",
            "local_weekday",
            "local_hour",
        ],
        rows,
    )


def _local_days(start: datetime, end: datetime, zone: zoneinfo.ZoneInfo) -> tuple[date, date]:
    """The first and last local day that [start, end) touches."""
    return start.astimezone(zone).date(), (end - timedelta(microseconds=1)).astimezone(zone).date()


def connector_days_write(plan: Plan, start: datetime, end: datetime) -> None:
    """ConnectorDay of the plan's connectors for every local day the window touches, from their ConnectorHour
    rows of those whole days (hours outside the window were written by earlier recomputes)."""
    by_zone: dict[str, list[ConnectorRef]] = defaultdict(list)
    for c in plan.connectors:
        by_zone[plan.charge_points[c.charge_point_id].time_zone].append(c)
    for tz, connectors in by_zone.items():
        zone = zoneinfo.ZoneInfo(tz)
        first_day, last_day = _local_days(start, end, zone)
        of = {c.id: c for c in connectors}
        sums = (
            ConnectorHour.objects.filter(
                connector_id__in=list(of),
                hour__gte=datetime.combine(first_day, time(), zone),
                hour__lt=datetime.combine(last_day + timedelta(days=1), time(), zone),
            )
            .annotate(day=TruncDate("hour", tzinfo=zone))
            .values("connector_id", "day")
            .annotate(**{f"sum_{name}": total for name, total in DAY_SUMS.items()})
            .order_by("day", "connector_id")
            .values_list("connector_id", "day", *(f"sum_{name}" for name in DAY_SUMS))
        )
        rows = [
            (
                of[pk].organization_id,
                of[pk].site_id,
                of[pk].charge_point_id,
                pk,
                day,
                *(
                    money.stored_amount(total) if name == "revenue" else total or 0
                    for name, total in zip(DAY_SUMS, totals, strict=True)
                ),
            )
            for pk, day, *totals in sums
        ]
        ConnectorDay.objects.filter(connector_id__in=list(of), day__gte=first_day, day__lte=last_day).delete()
        bulk_insert(
            ConnectorDay, ["organization_id", "site_id", "charge_point_id", "connector_id", "day", *DAY_SUMS], rows
        )


def driver_days_write(plan: Plan, start: datetime, end: datetime) -> int:
    """DriverDay of the plan's charge points for every local day the window touches, from accepted sessions."""
    by_zone: dict[str, list[int]] = defaultdict(list)
    for cp_id, ref in plan.charge_points.items():
        by_zone[ref.time_zone].append(cp_id)
    written = 0
    for tz, cp_ids in by_zone.items():
        zone = zoneinfo.ZoneInfo(tz)
        first_day, last_day = _local_days(start, end, zone)
        days: set[tuple[int, int, date]] = set()
        for cp_id, account_id, started_at in (
            ChargingSession.objects.filter(
                charge_point_id__in=cp_ids,
                auth_status=AuthorizationStatus.ACCEPTED,
                customer_account__isnull=False,
                started_at__gte=start - timedelta(days=2),
                started_at__lt=end + timedelta(days=2),
            )
            .values_list("charge_point_id", "customer_account_id", "started_at")
            .iterator(chunk_size=5000)
        ):
            day = started_at.astimezone(zone).date()
            if first_day <= day <= last_day:
                days.add((cp_id, account_id, day))
        DriverDay.objects.filter(charge_point_id__in=cp_ids, day__gte=first_day, day__lte=last_day).delete()
        bulk_insert(
            DriverDay,
            ["organization_id", "site_id", "charge_point_id", "customer_account_id", "day"],
            [
                (plan.charge_points[cp].organization_id, plan.charge_points[cp].site_id, cp, account, day)
                for cp, account, day in sorted(days)
            ],
        )
        written += len(days)
    return written


def scope_clear(organization_ids: list[int], start: datetime | None, end: datetime | None) -> None:
    """Delete the operators' rows of every table in [start, end) (None: no bound); days by their UTC date.

    A rebuild clears its scope a month at a time, inside the month's transaction, so rows a recompute no
    longer writes (a charger moved to another operator, a site left without connectors) go too.
    """
    hours, days = Q(organization_id__in=organization_ids), Q(organization_id__in=organization_ids)
    if start is not None:
        hours &= Q(hour__gte=start)
        days &= Q(day__gte=_first_midnight(start))
    if end is not None:
        hours &= Q(hour__lt=end)
        days &= Q(day__lt=end.date())
    for hourly in (ConnectorHour, SiteHour):
        hourly.objects.filter(hours).delete()
    for daily in (ConnectorDay, DriverDay):
        daily.objects.filter(days).delete()


def _first_midnight(moment: datetime) -> date:
    """The first UTC date starting at or after ``moment``: every local day from it on that begins before the
    window's end overlaps the window (offsets are within 14 hours), so the recompute writes it again."""
    day = moment.date()
    return day if moment == datetime.combine(day, time(), moment.tzinfo) else day + timedelta(days=1)
