"""The pricing engine: one pure function, ``price_session``, modelled on the OCPI 2.2.1 ``Tariff`` object.

No Django model or database access here: the caller turns a tariff snapshot and a session's meter readings
into the dataclasses below and stores the ``PricedSession`` it gets back. Money is ``Decimal``, energy is
integer Wh, time arithmetic is done in integer microseconds since the Unix epoch (UTC); the site's local time
is only used to evaluate time-of-day and day-of-week restrictions.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

__all__ = [
    "ComponentType",
    "MeterReading",
    "PriceComponent",
    "PricedLine",
    "PricedSession",
    "Restrictions",
    "SessionTimeline",
    "TariffElement",
    "TariffSpec",
    "minor_unit",
    "price_session",
]

ComponentType = Literal["ENERGY", "TIME", "PARKING_TIME", "FLAT"]


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


@dataclass(frozen=True)
class MeterReading:
    at: datetime  # aware
    register_wh: int  # the energy register (Energy.Active.Import.Register)


@dataclass(frozen=True)
class SessionTimeline:
    started_at: datetime
    stopped_at: datetime
    meter_start_wh: int
    meter_stop_wh: int
    readings: tuple[MeterReading, ...] = ()  # register readings in between (any order; may be empty)
    charging: tuple[tuple[datetime, datetime], ...] | None = None  # intervals the car was charging; None = all


@dataclass(frozen=True)
class PricedLine:
    component: ComponentType
    element: int  # index in TariffSpec.elements
    starts_at: datetime
    ends_at: datetime
    quantity: Decimal  # kWh (3 decimals), hours (4 decimals), or 1 for FLAT
    unit_price: Decimal  # excl. VAT
    net_amount: Decimal  # excl. VAT, rounded to the currency's minor unit


@dataclass(frozen=True)
class PricedSession:
    currency: str
    energy_wh: int
    lines: tuple[PricedLine, ...]
    net_total: Decimal
    vat_rate: Decimal
    vat_amount: Decimal
    gross_total: Decimal
    adjustment: Decimal  # net change made by min_price/max_price (0 when none)


# ISO 4217 currencies whose minor unit is not 2 decimals; every other code has 2.
_MINOR_UNITS = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0, "RWF": 0,
    "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    "CLF": 4, "UYW": 4,
}  # fmt: skip

UNIT_PRICE_DECIMALS = 6
_UNIT_PRICE_QUANTUM = Decimal(1).scaleb(-UNIT_PRICE_DECIMALS)
_HOURS_QUANTUM = Decimal("0.0001")
_KWH_QUANTUM = Decimal("0.001")
_US_PER_S = 1_000_000
_US_PER_H = 3_600 * _US_PER_S
_D_US_PER_H = Decimal(_US_PER_H)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ZERO = Decimal(0)
_ONE = Decimal(1)
_MIDNIGHT = time(0)
_PERIOD_TYPES: tuple[ComponentType, ...] = ("ENERGY", "TIME", "PARKING_TIME")
_TYPE_ORDER = {"FLAT": 0, "ENERGY": 1, "TIME": 2, "PARKING_TIME": 3}


def minor_unit(currency: str) -> int:
    """The number of decimals of ``currency``'s minor unit (ISO 4217), 2 unless listed otherwise."""
    return _MINOR_UNITS.get(currency.upper(), 2)


def _us(dt: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"naive datetime {dt!r}: the pricing engine needs aware datetimes")
    d = dt - _EPOCH
    return (d.days * 86_400 + d.seconds) * _US_PER_S + d.microseconds


def _dt(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _td_us(td: timedelta) -> int:
    return (td.days * 86_400 + td.seconds) * _US_PER_S + td.microseconds


def _ceil_wh(kwh: Decimal) -> int:
    """The smallest integer number of Wh that is >= ``kwh`` kWh (register values are integers)."""
    return int((kwh * 1000).to_integral_value(rounding="ROUND_CEILING"))


def _ratio(value: Decimal) -> tuple[int, int]:
    num, den = value.as_integer_ratio()
    return num, den


# --------------------------------------------------------------------------------------------------------------
# The tariff, compiled once: integer thresholds, net unit prices, and a cache of local-day segments.
# --------------------------------------------------------------------------------------------------------------


@dataclass(eq=False)
class _Element:
    start_time: time | None
    end_time: time | None
    days: frozenset[int] | None
    min_wh: int | None
    max_wh: int | None
    min_dur: int | None  # microseconds
    max_dur: int | None
    min_pw: tuple[int, int] | None  # kW as an integer ratio
    max_pw: tuple[int, int] | None
    has_time_of_day: bool
    has_other: bool  # any restriction besides time of day / day of week

    def local_ok(self, local: datetime) -> bool:
        if self.days is not None and local.weekday() not in self.days:
            return False
        s, e = self.start_time, self.end_time
        if s is None and e is None:
            return True
        tod = local.time()
        if s is not None and e is not None:
            if s < e:
                return s <= tod < e
            if s > e:  # wraps midnight
                return tod >= s or tod < e
            return True  # start == end: the whole day
        if s is not None:
            return tod >= s
        return tod < e  # type: ignore[operator]


@dataclass(eq=False)
class _Compiled:
    tz: ZoneInfo
    elements: list[_Element]
    time_restricted: bool  # any element restricted by time of day or day of week
    tods: tuple[time, ...]  # every time-of-day boundary, with midnight
    by_type: dict[str, tuple[int, ...]]  # component type -> indices of the elements that have it, in order
    flat: tuple[int, ...]
    unit: dict[tuple[int, str], Decimal]  # (element, type) -> net unit price
    step: dict[tuple[int, str], int]  # (element, type) -> step in Wh or microseconds
    has_other: bool
    has_power: bool
    grace_us: int
    quantum: Decimal
    min_price: Decimal | None
    max_price: Decimal | None
    days: dict[int, list[tuple[int, tuple[bool, ...]]]] = field(default_factory=dict)

    def day_segments(self, day: date) -> list[tuple[int, tuple[bool, ...]]]:
        """Segments of one local day: (UTC start in microseconds, time/day mask per element), sorted.

        A segment starts at local midnight, at each restriction's time of day (both folds, so a repeated hour
        in autumn counts twice; a time that does not exist in spring yields a harmless extra boundary) and at a
        DST transition. Restrictions of time and day cannot change inside a segment, so they are evaluated
        once, at its start, and cached per local day.
        """
        key = day.toordinal()
        cached = self.days.get(key)
        if cached is not None:
            return cached
        tz = self.tz
        day_start = _us(datetime.combine(day, _MIDNIGHT, tzinfo=tz))
        day_end = _us(datetime.combine(day + timedelta(days=1), _MIDNIGHT, tzinfo=tz))
        points = {day_start}
        for tod in self.tods:
            for fold in (0, 1):
                u = _us(datetime.combine(day, tod, tzinfo=tz).replace(fold=fold))
                if day_start < u < day_end:
                    points.add(u)
        # DST transitions: bisect on whole seconds between two instants with different UTC offsets.
        sorted_points = sorted(points | {day_end})
        for lo, hi in zip(sorted_points, sorted_points[1:], strict=False):
            off_lo = _dt(lo).astimezone(tz).utcoffset()
            if _dt(hi - 1).astimezone(tz).utcoffset() == off_lo:
                continue
            lo_s, hi_s = lo // _US_PER_S, (hi - 1) // _US_PER_S + 1
            while hi_s - lo_s > 1:
                mid = (lo_s + hi_s) // 2
                if _dt(mid * _US_PER_S).astimezone(tz).utcoffset() == off_lo:
                    lo_s = mid
                else:
                    hi_s = mid
            points.add(hi_s * _US_PER_S)
        segments = []
        for u in sorted(points):
            local = _dt(u).astimezone(tz)
            segments.append((u, tuple(el.local_ok(local) for el in self.elements)))
        self.days[key] = segments
        return segments


def _compile(tariff: TariffSpec) -> _Compiled:
    if not tariff.elements:
        raise ValueError("a tariff needs at least one element")
    vat = Decimal(tariff.vat_rate)
    if vat < 0:
        raise ValueError("vat_rate must not be negative")
    divisor = _ONE + vat
    elements: list[_Element] = []
    by_type: dict[str, list[int]] = {t: [] for t in _PERIOD_TYPES}
    flat: list[int] = []
    unit: dict[tuple[int, str], Decimal] = {}
    step: dict[tuple[int, str], int] = {}
    tods = {_MIDNIGHT}
    for i, element in enumerate(tariff.elements):
        r = element.restrictions
        for t in (r.start_time, r.end_time):
            if t is not None:
                if t.tzinfo is not None:
                    raise ValueError("restriction times are local times of day, without a time zone")
                tods.add(t)
        for lo, hi, what in (
            (r.min_kwh, r.max_kwh, "kwh"),
            (r.min_duration, r.max_duration, "duration"),
            (r.min_power_kw, r.max_power_kw, "power_kw"),
        ):
            if lo is not None and hi is not None and lo > hi:
                raise ValueError(f"element {i}: min_{what} is above max_{what}")
        el = _Element(
            start_time=r.start_time,
            end_time=r.end_time,
            days=frozenset(r.days_of_week) if r.days_of_week is not None else None,
            min_wh=_ceil_wh(r.min_kwh) if r.min_kwh is not None else None,
            max_wh=_ceil_wh(r.max_kwh) if r.max_kwh is not None else None,
            min_dur=_td_us(r.min_duration) if r.min_duration is not None else None,
            max_dur=_td_us(r.max_duration) if r.max_duration is not None else None,
            min_pw=_ratio(r.min_power_kw) if r.min_power_kw is not None else None,
            max_pw=_ratio(r.max_power_kw) if r.max_power_kw is not None else None,
            has_time_of_day=r.start_time is not None or r.end_time is not None or r.days_of_week is not None,
            has_other=any(
                v is not None
                for v in (r.min_kwh, r.max_kwh, r.min_duration, r.max_duration, r.min_power_kw, r.max_power_kw)
            ),
        )
        elements.append(el)
        seen: set[str] = set()
        for c in element.components:
            if c.type not in _TYPE_ORDER:
                raise ValueError(f"element {i}: unknown component type {c.type!r}")
            if c.type in seen:  # OCPI: one component per type per element; the first one counts
                continue
            seen.add(c.type)
            price = Decimal(c.price)
            if price < 0:
                raise ValueError(f"element {i}: negative {c.type} price")
            if c.step_size < 1:
                raise ValueError(f"element {i}: {c.type} step_size must be at least 1")
            net = (price / divisor).quantize(_UNIT_PRICE_QUANTUM, ROUND_HALF_UP) if tariff.prices_include_vat else price
            unit[(i, c.type)] = net
            if c.type == "FLAT":
                flat.append(i)
            else:
                by_type[c.type].append(i)
                step[(i, c.type)] = c.step_size * (_US_PER_S if c.type != "ENERGY" else 1)
    places = minor_unit(tariff.currency)
    quantum = Decimal(1).scaleb(-places)
    min_price = Decimal(tariff.min_price).quantize(quantum, ROUND_HALF_UP) if tariff.min_price is not None else None
    max_price = Decimal(tariff.max_price).quantize(quantum, ROUND_HALF_UP) if tariff.max_price is not None else None
    if (min_price is not None and min_price < 0) or (max_price is not None and max_price < 0):
        raise ValueError("min_price and max_price must not be negative")
    if min_price is not None and max_price is not None and min_price > max_price:
        raise ValueError("min_price is above max_price")
    if tariff.parking_grace < timedelta(0):
        raise ValueError("parking_grace must not be negative")
    return _Compiled(
        tz=ZoneInfo(tariff.time_zone),
        elements=elements,
        time_restricted=any(el.has_time_of_day for el in elements),
        tods=tuple(sorted(tods)),
        by_type={t: tuple(v) for t, v in by_type.items()},
        flat=tuple(flat),
        unit=unit,
        step=step,
        has_other=any(el.has_other for el in elements),
        has_power=any(el.min_pw is not None or el.max_pw is not None for el in elements),
        grace_us=_td_us(tariff.parking_grace),
        quantum=quantum,
        min_price=min_price,
        max_price=max_price,
    )


@lru_cache(maxsize=512)
def _compiled(tariff: TariffSpec) -> _Compiled:
    return _compile(tariff)


# --------------------------------------------------------------------------------------------------------------
# The timeline: integer instants, a monotone register, charging intervals.
# --------------------------------------------------------------------------------------------------------------


def _merge(intervals: list[tuple[int, int]], lo: int, hi: int) -> list[tuple[int, int]]:
    """Clip intervals to [lo, hi], drop empty ones, sort and merge overlapping or touching ones."""
    out: list[tuple[int, int]] = []
    for a, b in sorted((max(a, lo), min(b, hi)) for a, b in intervals):
        if a >= b:
            continue
        if out and a <= out[-1][1]:
            if b > out[-1][1]:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def price_session(tariff: TariffSpec, timeline: SessionTimeline) -> PricedSession:
    """Price one charging session under one tariff (OCPI 2.2.1 semantics). Pure: no database, no clock.

    Periods. The session [started_at, stopped_at) is split into periods at every local time-of-day boundary
    of any element's restrictions, at local midnight (day of week), at DST transitions (arithmetic is done on
    UTC instants; local time is computed only to evaluate restrictions), at the instants where ``charging``
    starts or stops, where the parking grace runs out, where the session duration reaches an element's
    min/max_duration and where the session energy reaches an element's min/max_kwh, and at reading times.
    (Readings only change the outcome through power restrictions; when no element has one, periods between
    two readings with the same outcome are not split, which gives the same lines.)

    Energy. The register is a piecewise-linear function through (started_at, meter_start_wh), the readings
    strictly inside the session (sorted by time; a register below the previous one is raised to it, one above
    meter_stop_wh lowered to it) and (stopped_at, meter_stop_wh); it is evaluated at period boundaries in whole
    Wh, rounding down. A period's energy is the difference at its two ends, so the periods' energy sums
    exactly to meter_stop_wh - meter_start_wh. Power in a period is the slope between its neighbouring readings.

    Restrictions are evaluated at the start of each period: local time of day in [start_time, end_time)
    (wrapping midnight when start_time > end_time, the whole day when equal), local day of week,
    min_kwh <= energy so far < max_kwh, min_duration <= duration so far < max_duration,
    min_power_kw <= power < max_power_kw. Every restriction given must hold.

    Components. In each period, for each of ENERGY, TIME and PARKING_TIME, the first element (in order) whose
    restrictions all hold and that has a component of that type prices that type; if none does, that
    quantity is free in that period. ENERGY counts the period's energy; TIME counts time inside the
    ``charging`` intervals (all of the session when ``charging`` is None); PARKING_TIME counts time outside
    them once ``parking_grace`` of such idle time has passed in total. FLAT is charged once per session, by the
    first element with a FLAT component whose restrictions hold at the start of the session. Consecutive
    periods priced by the same element for the same type form one line.

    Steps. Per component type and element, the session's total quantity (Wh, or seconds of time) is rounded
    up to a multiple of that component's step_size; the extra is added to the last line of that type and
    element. Lines with a zero quantity are left out.

    Money. Unit prices entered incl. VAT become net unit prices price / (1 + vat_rate), rounded half-up to
    6 decimals; prices entered excl. VAT are used as entered. Line quantity: kWh to 3 decimals (exact), hours
    rounded half-up to 4 decimals, 1 for FLAT. Line net_amount = quantity * unit_price, rounded half-up to the
    currency's minor unit (ISO 4217: 2 decimals, 0 for JPY/ISK/KRW..., 3 for BHD/KWD...). Net total = sum of
    the lines, then raised to min_price or lowered to max_price (both net amounts; the change is
    ``adjustment``). VAT (EN 16931) = net_total * vat_rate rounded half-up once, on the total; gross_total =
    net_total + VAT exactly.

    Prices entered incl. VAT. The driver expects the entered prices times the quantities. The rule used is the
    one above, unchanged: net unit prices at 6 decimals, net lines rounded half-up, VAT once on the net total.
    The gross then equals the driver's figure sum(quantity * entered price) except for these roundings: per
    line at most half a minor unit of net (times 1 + vat_rate in gross), plus half a minor unit for the VAT,
    plus quantity * 0.0000005 * (1 + vat_rate) from the unit price; e.g. a one-line session is at most one
    öre/cent away from the rounded expected amount, and exact whenever quantity * net unit price has no more
    decimals than the currency. (Making the gross always exact would need line amounts that are not the
    half-up rounding of quantity * unit price, which EN 16931 invoices are checked against.)

    Totals are never negative: prices, min/max prices and VAT rates are validated to be non-negative.
    Zero-energy sessions still pay FLAT, TIME and PARKING_TIME as applicable. ValueError is raised for naive
    datetimes, stopped_at before started_at, meter_stop_wh below meter_start_wh, or an invalid tariff.
    """
    ct = _compiled(tariff)
    start = _us(timeline.started_at)
    stop = _us(timeline.stopped_at)
    if stop < start:
        raise ValueError("stopped_at is before started_at")
    m0, m1 = timeline.meter_start_wh, timeline.meter_stop_wh
    if m1 < m0:
        raise ValueError("meter_stop_wh is below meter_start_wh")

    # The register: points strictly inside the session, monotone and within [m0, m1].
    pt = [start]
    pe = [m0]
    if timeline.readings:
        last = m0
        for r in sorted(timeline.readings, key=_reading_at):
            u = _us(r.at)
            if u <= start or u >= stop:
                continue
            e = r.register_wh
            if e < last:
                e = last
            elif e > m1:
                e = m1
            pt.append(u)
            pe.append(e)
            last = e
    pt.append(stop)
    pe.append(m1)
    n_points = len(pt)

    def energy_at(u: int) -> int:
        i = bisect_right(pt, u) - 1
        if i >= n_points - 1:
            return m1
        t0 = pt[i]
        e0 = pe[i]
        de = pe[i + 1] - e0
        if de == 0 or u == t0:
            return e0
        return e0 + de * (u - t0) // (pt[i + 1] - t0)

    # Split points.
    splits = {start, stop}
    if ct.time_restricted:
        tz = ct.tz
        d0 = timeline.started_at.astimezone(tz).date()
        d1 = timeline.stopped_at.astimezone(tz).date()
        segments: list[tuple[int, tuple[bool, ...]]] = []
        d = d0
        while d <= d1:
            segments.extend(ct.day_segments(d))
            d += timedelta(days=1)
        seg_starts = [s[0] for s in segments]
        for u in seg_starts:
            if start < u < stop:
                splits.add(u)
    else:
        segments = [(start, (True,) * len(ct.elements))]
        seg_starts = [start]

    if timeline.charging is None:
        charging = [(start, stop)]
    else:
        charging = _merge([(_us(a), _us(b)) for a, b in timeline.charging], start, stop)
    for a, b in charging:
        splits.add(a)
        splits.add(b)

    # The instant the parking grace is used up (None: never within the session).
    grace = ct.grace_us
    grace_end: int | None = start
    if grace > 0:
        grace_end = None
        idle_so_far = 0
        cursor = start
        for a, b in [*charging, (stop, stop)]:
            gap = a - cursor
            if gap > 0:
                if idle_so_far + gap >= grace:
                    grace_end = cursor + (grace - idle_so_far)
                    break
                idle_so_far += gap
            cursor = b
        if grace_end is not None:
            splits.add(grace_end)

    if ct.has_other:
        for el in ct.elements:
            for dur in (el.min_dur, el.max_dur):
                if dur is not None and start < start + dur < stop:
                    splits.add(start + dur)
            for rel in (el.min_wh, el.max_wh):
                if rel is None or rel <= 0 or m0 + rel > m1:
                    continue
                th = m0 + rel  # the register value at which the session energy reaches the threshold
                j = bisect_right(pe, th - 1)  # first point with register >= th
                t0, e0 = pt[j - 1], pe[j - 1]
                t1, e1 = pt[j], pe[j]
                u = t0 + -((-(th - e0) * (t1 - t0)) // (e1 - e0))  # ceil: the first instant with energy >= th
                if start < u < stop:
                    splits.add(u)
        if ct.has_power:
            splits.update(pt[1:-1])

    bounds = sorted(splits)
    if len(bounds) == 1:  # a session of zero length: one empty period, which still carries any energy
        bounds.append(stop)

    # Periods.
    by_energy = ct.by_type["ENERGY"]
    by_time = ct.by_type["TIME"]
    by_parking = ct.by_type["PARKING_TIME"]
    elements = ct.elements
    n_el = len(elements)
    has_other = ct.has_other
    has_power = ct.has_power
    lines: list[list] = []  # [type, element, starts, ends, quantity]
    open_run: dict[str, list] = {}
    seg_i = 0
    n_seg = len(segments)
    ch_i = 0
    n_ch = len(charging)
    e_a = m0
    flat_mask: tuple[bool, ...] | None = None

    def active_mask(a: int, b: int, e_a: int, mask: tuple[bool, ...]) -> tuple[bool, ...]:
        dur = a - start
        if has_power:
            i = bisect_right(pt, a) - 1
            if i >= n_points - 1:
                i = n_points - 2
            dw, dt_ = (pe[i + 1] - pe[i], pt[i + 1] - pt[i]) if n_points > 1 and pt[i + 1] > pt[i] else (0, 1)
        out = []
        for k in range(n_el):
            ok = mask[k]
            el = elements[k]
            if ok and el.has_other:
                if el.min_wh is not None and e_a < el.min_wh:
                    ok = False
                elif el.max_wh is not None and e_a >= el.max_wh:
                    ok = False
                elif el.min_dur is not None and dur < el.min_dur:
                    ok = False
                elif el.max_dur is not None and dur >= el.max_dur:
                    ok = False
                elif el.min_pw is not None and dw * 3_600_000 * el.min_pw[1] < el.min_pw[0] * dt_:
                    ok = False
                elif el.max_pw is not None and dw * 3_600_000 * el.max_pw[1] >= el.max_pw[0] * dt_:
                    ok = False
            out.append(ok)
        return tuple(out)

    def add(kind: str, el: int, a: int, b: int, qty: int) -> None:
        run = open_run.get(kind)
        if run is not None and run[1] == el and run[3] == a:
            run[3] = b
            run[4] += qty
        else:
            run = [kind, el, a, b, qty]
            lines.append(run)
            open_run[kind] = run

    for p in range(len(bounds) - 1):
        a = bounds[p]
        b = bounds[p + 1]
        while seg_i + 1 < n_seg and seg_starts[seg_i + 1] <= a:
            seg_i += 1
        mask = segments[seg_i][1]
        e_b = energy_at(b)
        if has_other:
            mask = active_mask(a, b, e_a - m0, mask)
        if flat_mask is None:
            flat_mask = mask
        # ENERGY
        for k in by_energy:
            if mask[k]:
                add("ENERGY", k, a, b, e_b - e_a)
                break
        # TIME / PARKING_TIME
        while ch_i < n_ch and charging[ch_i][1] <= a:
            ch_i += 1
        if ch_i < n_ch and charging[ch_i][0] <= a:
            for k in by_time:
                if mask[k]:
                    add("TIME", k, a, b, b - a)
                    break
        elif grace_end is not None and a >= grace_end:
            for k in by_parking:
                if mask[k]:
                    add("PARKING_TIME", k, a, b, b - a)
                    break
        e_a = e_b

    # Steps: the total per (type, element) rounded up; the extra goes to the last line of that type and element.
    last_line: dict[tuple[str, int], list] = {}
    totals: dict[tuple[str, int], int] = {}
    for line in lines:
        key = (line[0], line[1])
        totals[key] = totals.get(key, 0) + line[4]
        last_line[key] = line
    step = ct.step
    for key, total in totals.items():
        s = step[(key[1], key[0])]
        if s > 1:
            extra = -total % s
            if extra:
                last_line[key][4] += extra

    # Money.
    unit = ct.unit
    quantum = ct.quantum
    out: list[PricedLine] = []
    net_total = _ZERO
    for k in ct.flat:
        if flat_mask is not None and flat_mask[k]:
            price = unit[(k, "FLAT")]
            amount = price.quantize(quantum, ROUND_HALF_UP)
            out.append(PricedLine("FLAT", k, timeline.started_at, timeline.stopped_at, _ONE, price, amount))
            net_total += amount
            break
    lines.sort(key=_line_order)
    for kind, k, a, b, qty in lines:
        if qty == 0:
            continue
        if kind == "ENERGY":
            quantity = Decimal(qty).scaleb(-3)
        else:
            quantity = (Decimal(qty) / _D_US_PER_H).quantize(_HOURS_QUANTUM, ROUND_HALF_UP)
        price = unit[(k, kind)]
        amount = (quantity * price).quantize(quantum, ROUND_HALF_UP)
        out.append(PricedLine(kind, k, _dt(a), _dt(b), quantity, price, amount))  # type: ignore[arg-type]
        net_total += amount

    net_total = net_total.quantize(quantum)
    bounded = net_total
    if ct.min_price is not None and bounded < ct.min_price:
        bounded = ct.min_price
    if ct.max_price is not None and bounded > ct.max_price:
        bounded = ct.max_price
    adjustment = bounded - net_total
    vat_rate = Decimal(tariff.vat_rate)
    vat_amount = (bounded * vat_rate).quantize(quantum, ROUND_HALF_UP)
    return PricedSession(
        currency=tariff.currency,
        energy_wh=m1 - m0,
        lines=tuple(out),
        net_total=bounded,
        vat_rate=vat_rate,
        vat_amount=vat_amount,
        gross_total=bounded + vat_amount,
        adjustment=adjustment,
    )


def _reading_at(r: MeterReading) -> datetime:
    return r.at


def _line_order(line: list) -> tuple[int, int]:
    return line[2], _TYPE_ORDER[line[0]]
