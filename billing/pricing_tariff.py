"""A tariff as the pricing engine reads it (OCPI 2.2.1 ``Tariff``), and the same tariff compiled for pricing.

``TariffSpec`` and its parts are the engine's input; ``billing.pricing`` re-exports them. Compiling checks a
tariff once and turns it into what pricing many sessions needs fast: net unit prices, restrictions as integers
(Wh, microseconds, power as an exact ratio) and, per local day, the segments in which no time-of-day or
day-of-week restriction can change. Instants are integer microseconds since the Unix epoch (UTC).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from core import money

ComponentType = Literal["ENERGY", "TIME", "PARKING_TIME", "FLAT"]
#: The order of a session's lines that start at the same instant.
COMPONENT_TYPES: tuple[ComponentType, ...] = ("FLAT", "ENERGY", "TIME", "PARKING_TIME")
UNIT_PRICE_DECIMALS = 6
_UNIT_PRICE_QUANTUM = Decimal(1).scaleb(-UNIT_PRICE_DECIMALS)
_US_PER_S = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_MIDNIGHT = time(0)
_ONE_DAY = timedelta(days=1)
_CACHED_DAYS = 4096  # local days of segments kept over all tariffs: a year of days for about eleven tariffs


# --------------------------------------------------------------------------------------------------------------
# The tariff as entered.
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PriceComponent:
    type: ComponentType
    price: Decimal  # per kWh (ENERGY), per hour (TIME, PARKING_TIME), per session (FLAT); see prices_include_vat
    step_size: int = 1  # Wh for ENERGY, seconds for TIME/PARKING_TIME; ignored for FLAT


@dataclass(frozen=True)
class Restrictions:
    start_time: time | None = None  # local time of day at the site; start_time > end_time wraps midnight
    end_time: time | None = None
    days_of_week: frozenset[int] | None = None  # 0 = Monday ... 6 = Sunday, local
    min_kwh: Decimal | None = None  # session energy so far (OCPI semantics)
    max_kwh: Decimal | None = None
    min_duration: timedelta | None = None  # session duration so far
    max_duration: timedelta | None = None
    min_power_kw: Decimal | None = None
    max_power_kw: Decimal | None = None
    #: OCPI 2.2.1 ReservationRestrictionType: "RESERVATION" or "RESERVATION_EXPIRES" for an element that prices
    #: reserved time (``billing.pricing_reservation``) and never charging; None for a charging element.
    reservation: str | None = None


@dataclass(frozen=True)
class TariffElement:
    components: tuple[PriceComponent, ...]
    restrictions: Restrictions = Restrictions()


@dataclass(frozen=True)
class TariffSpec:
    currency: str  # ISO 4217, e.g. "SEK"
    vat_rate: Decimal  # 0.25 for 25 %
    prices_include_vat: bool
    elements: tuple[TariffElement, ...]
    time_zone: str = "Europe/Stockholm"  # the site's IANA zone, for time-of-day and day-of-week restrictions
    parking_grace: timedelta = timedelta(0)  # PARKING_TIME starts counting only after this much idle time in total
    min_price: Decimal | None = None  # bounds on the net (excl. VAT) total
    max_price: Decimal | None = None


# --------------------------------------------------------------------------------------------------------------
# Instants and durations as integer microseconds: exact, and much faster to compare and add than datetimes.
# --------------------------------------------------------------------------------------------------------------


def since_epoch(moments: Sequence[datetime]) -> list[timedelta]:
    """The time since the Unix epoch of aware datetimes: exact, and cheap (a session has many readings)."""
    try:
        return [moment - _EPOCH for moment in moments]
    except TypeError:  # a naive datetime cannot be subtracted from an aware one
        raise _naive(moments) from None


def instant_us(moment: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime."""
    try:
        return (moment - _EPOCH) // _ONE_US
    except TypeError:
        raise _naive((moment,)) from None


def _naive(moments: Sequence[datetime]) -> ValueError:
    naive = next(moment for moment in moments if moment.utcoffset() is None)
    return ValueError(f"naive datetime {naive!r}: the pricing engine needs aware datetimes")


def instant(us: int) -> datetime:
    """The aware UTC datetime ``us`` microseconds after the Unix epoch."""
    return _EPOCH + us * _ONE_US


def duration_us(duration: timedelta) -> int:
    return duration // _ONE_US


def as_duration(us: int) -> timedelta:
    return us * _ONE_US


# --------------------------------------------------------------------------------------------------------------
# The tariff compiled.
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Slope:
    """Energy delivered over a time: the power between two register readings."""

    wh: int
    us: int


@dataclass(frozen=True, slots=True)
class Power:
    """A power in kW as an exact ratio of integers, so it is compared with a slope without rounding."""

    numerator: int
    denominator: int

    @classmethod
    def of(cls, kw: Decimal) -> Power:
        numerator, denominator = kw.as_integer_ratio()
        return cls(numerator, denominator)

    def reached_by(self, slope: Slope) -> bool:
        """Whether ``slope`` is at least this power (kW = Wh * 3,600,000 / microseconds)."""
        return slope.wh * 3_600_000 * self.denominator >= self.numerator * slope.us


@dataclass(frozen=True, slots=True)
class CompiledElement:
    """One element's restrictions as integers: whether it may price a period that starts at a given moment."""

    start_time: time | None
    end_time: time | None
    days_of_week: frozenset[int] | None
    min_wh: int | None  # session energy so far, rounded up to whole Wh (registers hold whole Wh)
    max_wh: int | None
    min_duration_us: int | None  # session duration so far
    max_duration_us: int | None
    min_power: Power | None
    max_power: Power | None
    local_restricted: bool  # by time of day or day of week
    session_restricted: bool  # by energy, duration or power so far

    def allows_local(self, local: datetime) -> bool:
        """Whether the time-of-day and day-of-week restrictions hold at the site's local time ``local``."""
        if self.days_of_week is not None and local.weekday() not in self.days_of_week:
            return False
        start, end = self.start_time, self.end_time
        time_of_day = local.time()
        if start is not None and end is not None:
            if start < end:
                return start <= time_of_day < end
            if start > end:  # wraps midnight
                return time_of_day >= start or time_of_day < end
            return True  # start == end: the whole day
        if start is not None:
            return time_of_day >= start
        if end is not None:
            return time_of_day < end
        return True

    def allows_so_far(self, energy_wh: int, duration_us: int, slope: Slope) -> bool:
        """Whether the energy, duration and power restrictions hold for a session that is this far along."""
        return not (
            (self.min_wh is not None and energy_wh < self.min_wh)
            or (self.max_wh is not None and energy_wh >= self.max_wh)
            or (self.min_duration_us is not None and duration_us < self.min_duration_us)
            or (self.max_duration_us is not None and duration_us >= self.max_duration_us)
            or (self.min_power is not None and not self.min_power.reached_by(slope))
            or (self.max_power is not None and self.max_power.reached_by(slope))
        )


@dataclass(frozen=True, eq=False, slots=True)
class CompiledComponent:
    """One element's price for one component type (compared by identity: each is one line's key)."""

    type: ComponentType
    element: int  # index in TariffSpec.elements
    unit_price: Decimal  # excl. VAT
    step: int  # Wh for ENERGY, microseconds for TIME and PARKING_TIME, 1 for FLAT


@dataclass(frozen=True, slots=True)
class DaySegment:
    """A stretch of a local day in which no time-of-day or day-of-week restriction changes."""

    starts_us: int
    open_elements: tuple[bool, ...]  # per tariff element: whether its time and day restrictions hold


@dataclass(frozen=True, eq=False, slots=True)
class CompiledTariff:
    """A checked tariff in the form pricing reads fast (compared by identity, so it keys the day cache)."""

    currency: str
    time_zone: ZoneInfo
    elements: tuple[CompiledElement, ...]
    components: dict[ComponentType, tuple[CompiledComponent, ...]]  # per type, in element order: the first open wins
    times_of_day: tuple[time, ...]  # every restriction's time of day, and midnight
    local_restricted: bool  # some element is restricted by time of day or day of week
    session_restricted: bool  # some element is restricted by energy, duration or power so far
    power_restricted: bool
    parking_grace_us: int
    min_price: Decimal | None  # net, in the currency's minor unit
    max_price: Decimal | None

    def all_open(self, starts_us: int) -> DaySegment:
        """The one segment of a tariff without time or day restrictions."""
        return DaySegment(starts_us, (True,) * len(self.elements))


def _element(index: int, restrictions: Restrictions) -> CompiledElement:
    r = restrictions
    for moment in (r.start_time, r.end_time):
        if moment is not None and moment.tzinfo is not None:
            raise ValueError("restriction times are local times of day, without a time zone")
    for low, high, what in (
        (r.min_kwh, r.max_kwh, "kwh"),
        (r.min_duration, r.max_duration, "duration"),
        (r.min_power_kw, r.max_power_kw, "power_kw"),
    ):
        if low is not None and high is not None and low > high:  # type: ignore[operator]
            raise ValueError(f"element {index}: min_{what} is above max_{what}")
    return CompiledElement(
        start_time=r.start_time,
        end_time=r.end_time,
        days_of_week=frozenset(r.days_of_week) if r.days_of_week is not None else None,
        min_wh=_ceil_wh(r.min_kwh) if r.min_kwh is not None else None,
        max_wh=_ceil_wh(r.max_kwh) if r.max_kwh is not None else None,
        min_duration_us=duration_us(r.min_duration) if r.min_duration is not None else None,
        max_duration_us=duration_us(r.max_duration) if r.max_duration is not None else None,
        min_power=Power.of(r.min_power_kw) if r.min_power_kw is not None else None,
        max_power=Power.of(r.max_power_kw) if r.max_power_kw is not None else None,
        local_restricted=r.start_time is not None or r.end_time is not None or r.days_of_week is not None,
        session_restricted=any(
            v is not None
            for v in (r.min_kwh, r.max_kwh, r.min_duration, r.max_duration, r.min_power_kw, r.max_power_kw)
        ),
    )


def _ceil_wh(kwh: Decimal) -> int:
    """The smallest integer number of Wh that is >= ``kwh`` kWh (register values are integers)."""
    return int((kwh * 1000).to_integral_value(rounding=ROUND_CEILING))


def _components(index: int, element: TariffElement, tariff: TariffSpec) -> list[CompiledComponent]:
    """The element's components, one per type (OCPI: the first one counts), with net unit prices."""
    by_type: dict[ComponentType, CompiledComponent] = {}
    for c in element.components:
        if c.type not in COMPONENT_TYPES:
            raise ValueError(f"element {index}: unknown component type {c.type!r}")
        if c.type in by_type:
            continue
        price = Decimal(c.price)
        if price < 0:
            raise ValueError(f"element {index}: negative {c.type} price")
        if c.step_size < 1:
            raise ValueError(f"element {index}: {c.type} step_size must be at least 1")
        price = net_unit_price(price, tariff)
        step = 1 if c.type == "FLAT" else c.step_size * (1 if c.type == "ENERGY" else _US_PER_S)
        by_type[c.type] = CompiledComponent(c.type, index, price, step)
    return list(by_type.values())


def net_unit_price(price: Decimal, tariff: TariffSpec) -> Decimal:
    """A component's price excl. VAT: as entered, or (entered incl. VAT) divided by 1 + VAT, half-up to 6 decimals."""
    if tariff.prices_include_vat:
        return (price / (1 + Decimal(tariff.vat_rate))).quantize(_UNIT_PRICE_QUANTUM, ROUND_HALF_UP)
    return price


def _money_bound(amount: Decimal | None, currency: str) -> Decimal | None:
    return money.quantize(amount, currency) if amount is not None else None


def compile_tariff(tariff: TariffSpec) -> CompiledTariff:
    """Check ``tariff`` (ValueError when it cannot be priced with) and compile it."""
    if not tariff.elements:
        raise ValueError("a tariff needs at least one element")
    if Decimal(tariff.vat_rate) < 0:
        raise ValueError("vat_rate must not be negative")
    elements: list[CompiledElement] = []
    components: dict[ComponentType, list[CompiledComponent]] = {t: [] for t in COMPONENT_TYPES}
    for index, element in enumerate(tariff.elements):
        elements.append(_element(index, element.restrictions))
        if element.restrictions.reservation:
            continue  # it prices reserved time, never charging
        for component in _components(index, element, tariff):
            components[component.type].append(component)
    min_price = _money_bound(tariff.min_price, tariff.currency)
    max_price = _money_bound(tariff.max_price, tariff.currency)
    if (min_price is not None and min_price < 0) or (max_price is not None and max_price < 0):
        raise ValueError("min_price and max_price must not be negative")
    if min_price is not None and max_price is not None and min_price > max_price:
        raise ValueError("min_price is above max_price")
    if tariff.parking_grace < timedelta(0):
        raise ValueError("parking_grace must not be negative")
    times_of_day = {_MIDNIGHT}
    times_of_day.update(m for e in elements for m in (e.start_time, e.end_time) if m is not None)
    return CompiledTariff(
        currency=tariff.currency,
        time_zone=ZoneInfo(tariff.time_zone),
        elements=tuple(elements),
        components={t: tuple(v) for t, v in components.items()},
        times_of_day=tuple(sorted(times_of_day)),
        local_restricted=any(e.local_restricted for e in elements),
        session_restricted=any(e.session_restricted for e in elements),
        power_restricted=any(e.min_power is not None or e.max_power is not None for e in elements),
        parking_grace_us=duration_us(tariff.parking_grace),
        min_price=min_price,
        max_price=max_price,
    )


@lru_cache(maxsize=512)
def compiled(tariff: TariffSpec) -> CompiledTariff:
    """``tariff`` compiled, once for each of the tariffs priced with lately."""
    return compile_tariff(tariff)


# --------------------------------------------------------------------------------------------------------------
# Local days.
# --------------------------------------------------------------------------------------------------------------


@lru_cache(maxsize=_CACHED_DAYS)
def day_segments(tariff: CompiledTariff, day: date) -> tuple[DaySegment, ...]:
    """The segments of one local day at the tariff's site, sorted; cached (bounded) per tariff and day.

    A segment starts at local midnight, at each restriction's time of day (both folds, so a repeated hour in
    autumn counts twice; a time that does not exist in spring yields a harmless extra boundary) and at a DST
    transition. Restrictions of time and day cannot change inside a segment, so they are evaluated once, at
    its start.
    """
    zone = tariff.time_zone
    day_start = instant_us(datetime.combine(day, _MIDNIGHT, tzinfo=zone))
    day_end = instant_us(datetime.combine(day + _ONE_DAY, _MIDNIGHT, tzinfo=zone))
    starts = {day_start}
    for time_of_day in tariff.times_of_day:
        for fold in (0, 1):
            at = instant_us(datetime.combine(day, time_of_day, tzinfo=zone).replace(fold=fold))
            if day_start < at < day_end:
                starts.add(at)
    boundaries = sorted(starts | {day_end})
    starts.update(_offset_changes(zone, boundaries))
    segments = []
    for at in sorted(starts):
        local = instant(at).astimezone(zone)
        segments.append(DaySegment(at, tuple(e.allows_local(local) for e in tariff.elements)))
    return tuple(segments)


def _offset_changes(zone: ZoneInfo, boundaries: list[int]) -> list[int]:
    """The DST transitions between consecutive ``boundaries``, found by bisecting on whole seconds."""

    def offset(at_us: int) -> timedelta | None:
        return instant(at_us).astimezone(zone).utcoffset()

    changes = []
    for low, high in zip(boundaries, boundaries[1:], strict=False):
        before = offset(low)
        if offset(high - 1) == before:
            continue
        low_s, high_s = low // _US_PER_S, (high - 1) // _US_PER_S + 1
        while high_s - low_s > 1:
            middle = (low_s + high_s) // 2
            if offset(middle * _US_PER_S) == before:
                low_s = middle
            else:
                high_s = middle
        changes.append(high_s * _US_PER_S)
    return changes
