"""The pricing engine: one pure function, ``price_session``, modelled on the OCPI 2.2.1 ``Tariff`` object.

No Django model or database access here: the caller turns a tariff snapshot and a session's meter readings
into the dataclasses below and stores the ``PricedSession`` it gets back. Money is ``Decimal``, energy is
integer Wh, time arithmetic is done in integer microseconds since the Unix epoch (UTC); the site's local time
is only used to evaluate time-of-day and day-of-week restrictions. The tariff and its compiled form live in
``billing.pricing_tariff``; this module prices one session with it, in the steps ``price_session`` names.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from itertools import accumulate, groupby
from operator import attrgetter
from typing import NamedTuple

from billing.pricing_tariff import (
    COMPONENT_TYPES,
    CompiledComponent,
    CompiledTariff,
    ComponentType,
    DaySegment,
    PriceComponent,
    Restrictions,
    Slope,
    TariffElement,
    TariffSpec,
    as_duration,
    compiled,
    day_segments,
    duration_us,
    instant,
    instant_us,
    since_epoch,
)
from core import money
from core.timeutil import clip, complement, union

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
    "price_session",
]


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


_HOURS_QUANTUM = Decimal("0.0001")
_US_PER_HOUR = Decimal(3_600_000_000)
_ZERO = Decimal(0)
_ONE = Decimal(1)
_ONE_DAY = timedelta(days=1)
_LINE_ORDER = {component_type: order for order, component_type in enumerate(COMPONENT_TYPES)}
_METERED_TYPES: tuple[ComponentType, ...] = ("ENERGY", "TIME", "PARKING_TIME")
_energy_priced_by = attrgetter("energy_priced_by")
_time_priced_by = attrgetter("time_priced_by")
_energy_wh = attrgetter("energy_wh")
_ONE_US = timedelta(microseconds=1)
_NO_SLOPE = Slope(0, 1)  # no energy over no time: zero power
_NO_MORE_CHARGING = (2**63, 2**63)  # a charging stretch after every instant priced


# --------------------------------------------------------------------------------------------------------------
# The session as integers: instants, a monotone register, charging intervals.
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Register:
    """The energy register through the session: linear between readings, never falling, within the meter's
    start and stop values. ``since_epoch`` and ``wh`` are parallel: the session's start, each reading strictly
    inside it in time order, and its stop. (Times stay timedeltas: a session has many readings, and converting
    each to microseconds would cost more than converting the few that pricing looks at.)"""

    since_epoch: tuple[timedelta, ...]
    wh: tuple[int, ...]
    stop_us: int

    def at(self, at_us: int) -> int:
        """The register at ``at_us``, interpolated and rounded down to whole Wh."""
        times, wh = self.since_epoch, self.wh
        if at_us >= self.stop_us:
            return wh[-1]
        i = bisect_right(times, at_us * _ONE_US) - 1
        before = wh[i]
        rise = wh[i + 1] - before
        if rise == 0:
            return before
        reading_us = times[i] // _ONE_US
        return before + rise * (at_us - reading_us) // (times[i + 1] // _ONE_US - reading_us)

    def first_instant_reaching(self, register_wh: int) -> int:
        """The first instant the register is at ``register_wh`` or above, rounded up to the microsecond (it must
        be above the start value and not above the stop value)."""
        j = bisect_right(self.wh, register_wh - 1)  # the first point at or above it
        t0, e0 = duration_us(self.since_epoch[j - 1]), self.wh[j - 1]
        t1, e1 = duration_us(self.since_epoch[j]), self.wh[j]
        return t0 + -((-(register_wh - e0) * (t1 - t0)) // (e1 - e0))

    def slope_at(self, at_us: int) -> Slope:
        """The power between the readings on either side of ``at_us`` (none in a session of zero length)."""
        times, wh = self.since_epoch, self.wh
        i = min(bisect_right(times, as_duration(at_us)) - 1, len(times) - 2)
        if times[i + 1] > times[i]:
            return Slope(wh[i + 1] - wh[i], duration_us(times[i + 1] - times[i]))
        return _NO_SLOPE

    def reading_instants(self) -> list[int]:
        """The times of the readings inside the session, in microseconds."""
        return [duration_us(t) for t in self.since_epoch[1:-1]]


@dataclass(frozen=True, slots=True)
class _Session:
    """A session's timeline in integers, checked."""

    start_us: int
    stop_us: int
    meter_start_wh: int
    meter_stop_wh: int
    register: _Register
    charging: list[tuple[int, int]]  # (start, end) of each stretch of charging: clipped, sorted, disjoint

    @classmethod
    def of(cls, timeline: SessionTimeline) -> _Session:
        start, stop = instant_us(timeline.started_at), instant_us(timeline.stopped_at)
        if stop < start:
            raise ValueError("stopped_at is before started_at")
        if timeline.meter_stop_wh < timeline.meter_start_wh:
            raise ValueError("meter_stop_wh is below meter_start_wh")
        if timeline.charging is None:
            charging = [(start, stop)]
        else:
            charging = union(clip([(instant_us(a), instant_us(b)) for a, b in timeline.charging], start, stop))
        return cls(
            start, stop, timeline.meter_start_wh, timeline.meter_stop_wh, _register(timeline, start, stop), charging
        )


def _register(timeline: SessionTimeline, start_us: int, stop_us: int) -> _Register:
    """The register through the session's meter start and stop and the readings strictly inside it, in time
    order (equal times in the order given); each reading is raised to the highest before it and lowered to the
    meter's stop value, so the register never falls and ends where the meter stopped."""
    meter_start, meter_stop = timeline.meter_start_wh, timeline.meter_stop_wh
    start, stop = as_duration(start_us), as_duration(stop_us)
    times = since_epoch([r.at for r in timeline.readings])
    registers = [r.register_wh for r in timeline.readings]
    if times != sorted(times):
        order = sorted(range(len(times)), key=times.__getitem__)  # stable: equal times keep their order
        times = [times[i] for i in order]
        registers = [registers[i] for i in order]
    inside = slice(bisect_right(times, start), bisect_left(times, stop))
    wh = [meter_start, *registers[inside]]
    if wh != sorted(wh):
        wh = list(accumulate(wh, max))
    if wh[-1] > meter_stop:
        wh = [register if register < meter_stop else meter_stop for register in wh]
    wh.append(meter_stop)
    return _Register(since_epoch=(start, *times[inside], stop), wh=tuple(wh), stop_us=stop_us)


# --------------------------------------------------------------------------------------------------------------
# The steps of pricing one session.
# --------------------------------------------------------------------------------------------------------------


class _Period(NamedTuple):
    """A stretch of the session between two consecutive split points: nothing that prices it changes inside.

    (A NamedTuple rather than a frozen dataclass, like ``_Run``: one is made per period, and it is built about three
    times as fast; its fields are only ever read by name.)"""

    starts_us: int
    ends_us: int
    energy_wh: int  # the register's rise over the period
    open_elements: tuple[bool, ...]  # per tariff element: whether all its restrictions hold at the period's start
    energy_priced_by: CompiledComponent | None  # the first open element's ENERGY component
    time_priced_by: CompiledComponent | None  # its TIME while charging, PARKING_TIME once the grace is used up


class _Run(NamedTuple):
    """Consecutive periods priced by one component: one line."""

    component: CompiledComponent
    starts_us: int
    ends_us: int
    quantity: int  # Wh for ENERGY, microseconds for TIME and PARKING_TIME


def _local_segments(tariff: CompiledTariff, timeline: SessionTimeline, session: _Session) -> list[DaySegment]:
    """The segments of the local days the session touches (one open segment when no element has a time or day
    restriction)."""
    if not tariff.local_restricted:
        return [tariff.all_open(session.start_us)]
    zone = tariff.time_zone
    day = timeline.started_at.astimezone(zone).date()
    last_day = timeline.stopped_at.astimezone(zone).date()
    segments: list[DaySegment] = []
    while day <= last_day:
        segments.extend(day_segments(tariff, day))
        day += _ONE_DAY
    return segments


def _grace_end(session: _Session, grace_us: int) -> int | None:
    """The instant the idle time (outside charging) adds up to the parking grace; None: not within the session."""
    if grace_us == 0:
        return session.start_us
    idle = 0
    for idle_start, idle_end in complement(session.charging, session.start_us, session.stop_us):
        if idle + (idle_end - idle_start) >= grace_us:
            return idle_start + (grace_us - idle)
        idle += idle_end - idle_start
    return None


def _split_points(
    tariff: CompiledTariff, session: _Session, segments: list[DaySegment], grace_end: int | None
) -> list[int]:
    """The period boundaries, sorted: the session's start and stop and every instant inside it where the pricing
    may change (see ``price_session``). A session of zero length has one empty period."""
    start, stop = session.start_us, session.stop_us
    splits = {start, stop}
    splits.update(s.starts_us for s in segments if start < s.starts_us < stop)
    for charging_start, charging_end in session.charging:
        splits.add(charging_start)
        splits.add(charging_end)
    if grace_end is not None:
        splits.add(grace_end)
    if tariff.session_restricted:
        splits.update(_restriction_edges(tariff, session))
    bounds = sorted(splits)
    if len(bounds) == 1:
        bounds.append(stop)
    return bounds


def _restriction_edges(tariff: CompiledTariff, session: _Session) -> list[int]:
    """The instants inside the session where its duration or energy reaches an element's minimum or maximum, and
    the reading times when some element is restricted by power."""
    start, stop = session.start_us, session.stop_us
    edges = []
    for element in tariff.elements:
        for duration in (element.min_duration_us, element.max_duration_us):
            if duration is not None and start < start + duration < stop:
                edges.append(start + duration)
        for energy in (element.min_wh, element.max_wh):
            if energy is None or energy <= 0 or session.meter_start_wh + energy > session.meter_stop_wh:
                continue
            at = session.register.first_instant_reaching(session.meter_start_wh + energy)
            if start < at < stop:
                edges.append(at)
    if tariff.power_restricted:
        edges.extend(session.register.reading_instants())
    return edges


def _periods(
    tariff: CompiledTariff, session: _Session, bounds: list[int], segments: list[DaySegment], grace_end: int | None
) -> list[_Period]:
    """The periods between consecutive ``bounds``: their energy share, which elements hold, and the components
    that price their energy and their time (the first open element with one, OCPI)."""
    energy, time, parking = (tariff.components[t] for t in _METERED_TYPES)
    register_at = session.register.at
    periods = []
    segment, last_segment = 0, len(segments) - 1
    stretches = iter(session.charging)
    charging_start, charging_end = next(stretches, _NO_MORE_CHARGING)
    energy_before = session.meter_start_wh
    for a, b in zip(bounds, bounds[1:], strict=False):
        while segment < last_segment and segments[segment + 1].starts_us <= a:
            segment += 1
        open_elements = segments[segment].open_elements
        if tariff.session_restricted:
            open_elements = _open_so_far(tariff, session, a, energy_before - session.meter_start_wh, open_elements)
        while charging_end <= a:
            charging_start, charging_end = next(stretches, _NO_MORE_CHARGING)
        time_priced_by = None
        if charging_start <= a:
            time_priced_by = _first_open(time, open_elements)
        elif grace_end is not None and a >= grace_end:
            time_priced_by = _first_open(parking, open_elements)
        energy_after = register_at(b)
        periods.append(
            _Period(
                a, b, energy_after - energy_before, open_elements, _first_open(energy, open_elements), time_priced_by
            )
        )
        energy_before = energy_after
    return periods


def _open_so_far(
    tariff: CompiledTariff, session: _Session, at_us: int, energy_wh: int, open_locally: tuple[bool, ...]
) -> tuple[bool, ...]:
    """Which elements hold at ``at_us``: open at that local time, and with their energy, duration and power
    restrictions met by the session so far."""
    duration = at_us - session.start_us
    slope = session.register.slope_at(at_us) if tariff.power_restricted else _NO_SLOPE
    return tuple(
        is_open and (not element.session_restricted or element.allows_so_far(energy_wh, duration, slope))
        for is_open, element in zip(open_locally, tariff.elements, strict=True)
    )


def _runs(periods: list[_Period]) -> list[_Run]:
    """Consecutive periods whose energy (or time) is priced by the same component form one run: one line."""
    runs = []
    for component, group in groupby(periods, key=_energy_priced_by):
        if component is not None:
            stretch = list(group)
            runs.append(_Run(component, stretch[0].starts_us, stretch[-1].ends_us, sum(map(_energy_wh, stretch))))
    for component, group in groupby(periods, key=_time_priced_by):
        if component is not None:
            stretch = list(group)
            starts, ends = stretch[0].starts_us, stretch[-1].ends_us
            runs.append(_Run(component, starts, ends, ends - starts))
    return runs


def _first_open(candidates: tuple[CompiledComponent, ...], open_elements: tuple[bool, ...]) -> CompiledComponent | None:
    """The first of ``candidates`` (in element order) whose element holds: it prices its type (OCPI)."""
    for component in candidates:
        if open_elements[component.element]:
            return component
    return None


def _rounded_up_to_steps(runs: list[_Run]) -> list[_Run]:
    """Each component's total quantity rounded up to a multiple of its step; the extra goes to its last run."""
    total: dict[CompiledComponent, int] = {}
    last: dict[CompiledComponent, int] = {}  # the index of the component's last run
    for index, run in enumerate(runs):
        total[run.component] = total.get(run.component, 0) + run.quantity
        last[run.component] = index
    rounded = list(runs)
    for component, quantity in total.items():
        extra = -quantity % component.step
        if extra:
            run = rounded[last[component]]
            rounded[last[component]] = _Run(component, run.starts_us, run.ends_us, run.quantity + extra)
    return rounded


def _flat_line(tariff: CompiledTariff, timeline: SessionTimeline, first: _Period) -> list[PricedLine]:
    """The FLAT fee of the first element with one that holds at the start of the session, if any."""
    component = _first_open(tariff.components["FLAT"], first.open_elements)
    if component is None:
        return []
    price = component.unit_price
    return [
        PricedLine(
            "FLAT",
            component.element,
            timeline.started_at,
            timeline.stopped_at,
            _ONE,
            price,
            money.quantize(price, tariff.currency),
        )
    ]


def _metered_line(tariff: CompiledTariff, run: _Run) -> PricedLine:
    """A run as a line: kWh or hours times the net unit price, rounded to the currency's minor unit."""
    component = run.component
    if component.type == "ENERGY":
        quantity = Decimal(run.quantity).scaleb(-3)
    else:
        quantity = (Decimal(run.quantity) / _US_PER_HOUR).quantize(_HOURS_QUANTUM, ROUND_HALF_UP)
    amount = money.quantize(quantity * component.unit_price, tariff.currency)
    return PricedLine(
        component.type,
        component.element,
        instant(run.starts_us),
        instant(run.ends_us),
        quantity,
        component.unit_price,
        amount,
    )


def _line_order(run: _Run) -> tuple[int, int]:
    return run.starts_us, _LINE_ORDER[run.component.type]


def _priced(
    spec: TariffSpec, tariff: CompiledTariff, timeline: SessionTimeline, lines: list[PricedLine]
) -> PricedSession:
    """The totals: lines summed, bounded by min_price and max_price, VAT once on the net total."""
    summed = money.quantize(sum([line.net_amount for line in lines], _ZERO), tariff.currency)
    net_total = summed
    if tariff.min_price is not None and net_total < tariff.min_price:
        net_total = tariff.min_price
    if tariff.max_price is not None and net_total > tariff.max_price:
        net_total = tariff.max_price
    vat_rate = Decimal(spec.vat_rate)
    vat_amount = money.vat_on_net(net_total, vat_rate, tariff.currency)
    return PricedSession(
        currency=spec.currency,
        energy_wh=timeline.meter_stop_wh - timeline.meter_start_wh,
        lines=tuple(lines),
        net_total=net_total,
        vat_rate=vat_rate,
        vat_amount=vat_amount,
        gross_total=net_total + vat_amount,
        adjustment=net_total - summed,
    )


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
    compiled_tariff = compiled(tariff)
    session = _Session.of(timeline)
    segments = _local_segments(compiled_tariff, timeline, session)
    grace_end = _grace_end(session, compiled_tariff.parking_grace_us)
    bounds = _split_points(compiled_tariff, session, segments, grace_end)
    periods = _periods(compiled_tariff, session, bounds, segments, grace_end)
    runs = _rounded_up_to_steps(_runs(periods))
    lines = _flat_line(compiled_tariff, timeline, periods[0])
    lines += [_metered_line(compiled_tariff, run) for run in sorted(runs, key=_line_order) if run.quantity]
    return _priced(tariff, compiled_tariff, timeline, lines)
