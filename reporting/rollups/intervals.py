"""The rollups' interval maths: instants as integer microseconds, stretches of time cut into UTC hours.

Why integers: a window's seconds are summed exactly per hour and rounded once, so any two windows that share
an hour agree on it to the second, and the sums over millions of intervals stay cheap. The union of
intervals and the status in force come from ``core.timeutil``, which counts integers as well as datetimes.
"""

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = 1_000_000
HOUR_US = 3600 * US
HOUR = timedelta(hours=1)

#: A half-open stretch of time [start, end) in microseconds since the epoch.
Interval = tuple[int, int]


def to_us(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def hour_index(us: int) -> int:
    """The UTC hour an instant falls in, counted from the epoch."""
    return us // HOUR_US


def hour_start(index: int) -> datetime:
    return from_us(index * HOUR_US)


def hour_floor(moment: datetime) -> datetime:
    return hour_start(hour_index(to_us(moment)))


def hour_ceil(moment: datetime) -> datetime:
    return from_us(-(-to_us(moment) // HOUR_US) * HOUR_US)


def floor_to(moment: datetime, step: timedelta) -> datetime:
    """``moment`` rounded down to a whole ``step`` since the epoch (an hour, a day)."""
    step_us = step // timedelta(microseconds=1)
    return from_us(to_us(moment) // step_us * step_us)


def rounded_seconds(us: int) -> int:
    """Microseconds as whole seconds, half up: each hour is rounded once, after its sums."""
    return (us + US // 2) // US


def hour_shares(disjoint: Iterable[Interval]) -> Iterator[tuple[int, int]]:
    """(hour index, microseconds) for each hour the intervals cover; pass disjoint ones (a union) to count each
    instant once."""
    for start, end in disjoint:
        hour = start // HOUR_US
        while start < end:
            edge = min(end, (hour + 1) * HOUR_US)
            yield hour, edge - start
            start, hour = edge, hour + 1


def hourly_peaks(intervals: Sequence[Interval]) -> dict[int, int]:
    """Hour index -> the most intervals covering one instant of it (half-open: one ending as another starts is 1)."""
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
