"""Time rules every app shares: stretches of time, the status in force at a moment, local calendar months.

Intervals are half-open ``(start, end)`` pairs, of aware datetimes or of integer instants (the pricing engine
and the rollups count microseconds): ``union`` is the one place overlapping or touching time is counted once.

A status (or any reported state) holds from its event until the next event of the same thing, the last one
until the end of what is looked at; of two events at the same time the one stored last wins. ``stretches``
and ``held`` read that from events in Python, ``in_force`` from the database.

Months are local calendar months in an IANA time zone, returned as aware UTC instants: a month in
Europe/Stockholm starts at 23:00 or 22:00 UTC the day before and March is an hour shorter than 31 days.
"""

import zoneinfo
from bisect import bisect_right
from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import TypeVar

from django.db.models import Model, OuterRef, Q, QuerySet

#: An instant: an aware datetime, or an integer count (microseconds) where speed needs it.
Instant = TypeVar("Instant", int, datetime)
Status = TypeVar("Status")
M = TypeVar("M", bound=Model)


# --- intervals -------------------------------------------------------------------------------------------------


def union(intervals: Iterable[tuple[Instant, Instant]]) -> list[tuple[Instant, Instant]]:
    """Sorted, disjoint, non-empty intervals covering the same time: overlapping or touching ones become one."""
    merged: list[tuple[Instant, Instant]] = []
    for start, end in sorted(interval for interval in intervals if interval[1] > interval[0]):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def clip(intervals: Iterable[tuple[Instant, Instant]], start: Instant, end: Instant) -> list[tuple[Instant, Instant]]:
    """The part of each interval inside [start, end); those with nothing inside are dropped."""
    return [(max(a, start), min(b, end)) for a, b in intervals if min(b, end) > max(a, start)]


def intersection(
    left: Sequence[tuple[Instant, Instant]], right: Sequence[tuple[Instant, Instant]]
) -> list[tuple[Instant, Instant]]:
    """The time in both; each side sorted and disjoint (as ``union`` returns)."""
    result: list[tuple[Instant, Instant]] = []
    i = j = 0
    while i < len(left) and j < len(right):
        start, end = max(left[i][0], right[j][0]), min(left[i][1], right[j][1])
        if end > start:
            result.append((start, end))
        if left[i][1] < right[j][1]:
            i += 1
        else:
            j += 1
    return result


def complement(
    covered: Iterable[tuple[Instant, Instant]], start: Instant, end: Instant
) -> list[tuple[Instant, Instant]]:
    """The time in [start, end) that ``covered`` (sorted and disjoint, as ``union`` returns) leaves out."""
    gaps: list[tuple[Instant, Instant]] = []
    cursor = start
    for a, b in covered:
        if a > cursor:
            gaps.append((cursor, min(a, end)))
        cursor = max(cursor, b)
        if cursor >= end:
            break
    if cursor < end:
        gaps.append((cursor, end))
    return [(a, b) for a, b in gaps if b > a]


def seconds(intervals: Iterable[tuple[datetime, datetime]]) -> int:
    """Their total length in whole seconds (summed exactly, rounded once); overlaps count twice: pass a union."""
    return round(sum((b - a for a, b in intervals), timedelta()).total_seconds())


# --- the status in force -----------------------------------------------------------------------------------------


def status_at(events: Sequence[tuple[Instant, Status]], at: Instant, *, before: Status | None = None) -> Status | None:
    """The status in force at ``at``: that of the last event at or before it (``events`` sorted by time),
    else ``before`` (the one in force when ``events`` begin)."""
    index = bisect_right(events, at, key=lambda event: event[0])
    return events[index - 1][1] if index else before


def stretches(
    events: Iterable[tuple[Instant, Status]], start: Instant, end: Instant, *, before: Status | None = None
) -> list[tuple[Instant, Instant, Status]]:
    """[start, end) split into the stretches each status held, in order.

    ``events`` are (time, status), sorted by time (equal times in the order stored); each holds from its time
    until the next event, the last one until ``end``. ``before`` is the status in force at ``start`` (None:
    nothing known, the time until the first event is in no stretch).
    """
    result: list[tuple[Instant, Instant, Status]] = []
    since, status = start, before
    for at, next_status in events:
        if status is not None and min(at, end) > max(since, start):
            result.append((max(since, start), min(at, end), status))
        since, status = at, next_status
    if status is not None and end > max(since, start):
        result.append((max(since, start), end, status))
    return result


def held(
    events: Iterable[tuple[Instant, Status]],
    start: Instant,
    end: Instant,
    statuses: Collection[Status],
    *,
    before: Status | None = None,
) -> list[tuple[Instant, Instant]]:
    """When one of ``statuses`` was in force in [start, end) (see ``stretches``), as a union."""
    return union((a, b) for a, b, status in stretches(events, start, end, before=before) if status in statuses)


def in_force(
    events: QuerySet[M], *, at: datetime | None = None, inclusive: bool = False, field: str = "timestamp"
) -> QuerySet[M]:
    """``events`` (of one connector, station, ...) ordered so the first is the one in force at ``at``.

    That is the latest begun before ``at`` (at or before it with ``inclusive``; without ``at``, the latest);
    of equal times the last stored.
    """
    if at is not None:
        events = events.filter(**{f"{field}__{'lte' if inclusive else 'lt'}": at})
    return events.order_by(f"-{field}", "-pk")


def neighbour(events: QuerySet[M], *, before: bool, field: str = "timestamp") -> QuerySet[M]:
    """For a subquery: ``events`` (narrowed to the outer row's connector, station, ...) just before the outer row
    in that order (``before``), or just after it, the nearest first; the outer row itself is left out.

    ``field >= outer`` as well lets an index on (holder, field) bound the scan.
    """
    outer_time, outer_pk = OuterRef(field), OuterRef("pk")
    if before:
        return events.filter(
            Q(**{f"{field}__lt": outer_time}) | Q(pk__lt=outer_pk), **{f"{field}__lte": outer_time}
        ).order_by(f"-{field}", "-pk")
    return events.filter(
        Q(**{f"{field}__gt": outer_time}) | Q(pk__gt=outer_pk), **{f"{field}__gte": outer_time}
    ).order_by(field, "pk")


# --- local months ------------------------------------------------------------------------------------------------


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    """The first day of the month after the one ``month`` falls in."""
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def months_back(today: date, count: int) -> list[date]:
    """The first days of ``today``'s month and the ``count - 1`` before it, latest first."""
    return [
        date(today.year + (today.month - 1 - back) // 12, (today.month - 1 - back) % 12 + 1, 1) for back in range(count)
    ]


def months_between(first: date, last: date) -> list[date]:
    """The first days of the months from ``first``'s to ``last``'s, both included."""
    months, month = [], month_start(first)
    while month <= last:
        months.append(month)
        month = next_month(month)
    return months


def month_period(month: date, time_zone: str) -> tuple[datetime, datetime]:
    """The UTC instants the calendar month of ``month`` starts and ends at in ``time_zone`` (DST-safe)."""
    zone = zoneinfo.ZoneInfo(time_zone)
    return (
        datetime.combine(month_start(month), time(), zone).astimezone(UTC),
        datetime.combine(next_month(month), time(), zone).astimezone(UTC),
    )


def local_month(moment: datetime, time_zone: str) -> date:
    """The first day of the month ``moment`` falls in, in ``time_zone``."""
    return month_start(moment.astimezone(zoneinfo.ZoneInfo(time_zone)).date())


def previous_month(moment: datetime, time_zone: str) -> date:
    """The first day of the month before the one ``moment`` falls in, in ``time_zone``."""
    return months_back(local_month(moment, time_zone), 2)[1]


def utc_months(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """[start, end) cut at the first of each UTC month."""
    cuts: list[tuple[datetime, datetime]] = []
    cursor = start
    while cursor < end:
        following = datetime.combine(next_month(cursor.astimezone(UTC).date()), time(), UTC)
        cuts.append((cursor, min(following, end)))
        cursor = min(following, end)
    return cuts


def utc_text(moment: datetime) -> str:
    """An aware moment as OCPP (and OCPI) write it: ISO 8601 in UTC with a ``Z``."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
