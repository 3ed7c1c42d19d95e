"""The reservation fee: one pure function, ``price_reservation``, with OCPI 2.2.1's reservation tariff elements.

An element whose restrictions name ``reservation`` (OCPI ``ReservationRestrictionType``) prices reserved time and
never charging; it may have a FLAT component (per reservation) and a TIME component (per hour reserved, in steps
of ``step_size`` seconds). Which elements count:

* a reservation that was used, or cancelled by the driver: the ``RESERVATION`` elements;
* one that expired unused: per component type, the first ``RESERVATION_EXPIRES`` element with it, else the first
  ``RESERVATION`` one (OCPI: RESERVATION describes what any reservation costs, RESERVATION_EXPIRES what an expired
  one costs instead when the tariff has it).

The first element (in order) whose time-of-day and day-of-week restrictions hold at the reservation's start (the
site's local time) and that has the type prices it. Money follows ``billing.pricing``: net unit prices, each line
rounded half-up to the currency's minor unit, VAT once on the net total. A tariff's ``min_price`` and
``max_price`` bound a charging session's price, not a reservation's. No database, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal
from zoneinfo import ZoneInfo

from billing.pricing import PricedLine, PricedSession
from billing.pricing_tariff import TariffSpec, compiled, instant_us, net_unit_price
from core import money

__all__ = ["RESERVATION", "RESERVATION_EXPIRES", "ReservationTimeline", "price_reservation"]

ReservationKind = Literal["RESERVATION", "RESERVATION_EXPIRES"]
RESERVATION: ReservationKind = "RESERVATION"
RESERVATION_EXPIRES: ReservationKind = "RESERVATION_EXPIRES"

_US_PER_S = 1_000_000
_US_PER_HOUR = Decimal(3_600_000_000)
_HOURS_QUANTUM = Decimal("0.0001")
_ZERO = Decimal(0)


@dataclass(frozen=True)
class ReservationTimeline:
    reserved_from: datetime  # aware: when the connector was held (the reservation was made)
    reserved_until: datetime  # aware: its start, its expiry or its cancel
    kind: ReservationKind  # RESERVATION (used, cancelled by the driver) or RESERVATION_EXPIRES (expired)


def has_reservation_elements(tariff: TariffSpec) -> bool:
    return any(element.restrictions.reservation for element in tariff.elements)


def price_reservation(tariff: TariffSpec, timeline: ReservationTimeline) -> PricedSession:
    """Price one reservation under one tariff (see the module's docstring); a tariff without reservation elements
    prices it at zero. ValueError for naive datetimes, an end before the start, an unknown kind or an invalid
    tariff."""
    if timeline.kind not in (RESERVATION, RESERVATION_EXPIRES):
        raise ValueError(f"unknown reservation kind {timeline.kind!r}")
    start_us, end_us = instant_us(timeline.reserved_from), instant_us(timeline.reserved_until)
    if end_us < start_us:
        raise ValueError("reserved_until is before reserved_from")
    compiled_tariff = compiled(tariff)  # checks the tariff as for a session
    local = timeline.reserved_from.astimezone(ZoneInfo(tariff.time_zone))
    kinds = (RESERVATION_EXPIRES, RESERVATION) if timeline.kind == RESERVATION_EXPIRES else (RESERVATION,)
    lines: list[PricedLine] = []
    for component_type in ("FLAT", "TIME"):
        found = _first(tariff, compiled_tariff.elements, kinds, component_type, local)
        if found is None:
            continue
        index, price, step_size = found
        unit_price = net_unit_price(Decimal(price), tariff)
        if component_type == "FLAT":
            quantity = Decimal(1)
        else:
            step_us = max(step_size, 1) * _US_PER_S
            reserved_us = end_us - start_us
            reserved_us += -reserved_us % step_us  # rounded up to whole steps
            if reserved_us == 0:
                continue
            quantity = (Decimal(reserved_us) / _US_PER_HOUR).quantize(_HOURS_QUANTUM, ROUND_HALF_UP)
        lines.append(
            PricedLine(
                component_type,
                index,
                timeline.reserved_from,
                timeline.reserved_until,
                quantity,
                unit_price,
                money.quantize(quantity * unit_price, tariff.currency),
            )
        )
    net_total = money.quantize(sum([line.net_amount for line in lines], _ZERO), tariff.currency)
    vat_rate = Decimal(tariff.vat_rate)
    vat_amount = money.vat_on_net(net_total, vat_rate, tariff.currency)
    return PricedSession(
        currency=tariff.currency,
        energy_wh=0,
        lines=tuple(lines),
        net_total=net_total,
        vat_rate=vat_rate,
        vat_amount=vat_amount,
        gross_total=net_total + vat_amount,
        adjustment=_ZERO,
    )


def _first(tariff, compiled_elements, kinds, component_type, local) -> tuple[int, Decimal, int] | None:
    """(element index, price, step size) of the component pricing ``component_type``: by kind in order, the first
    element of that kind whose time and day restrictions hold at ``local`` and that has the type."""
    for kind in kinds:
        for index, element in enumerate(tariff.elements):
            if element.restrictions.reservation != kind or not compiled_elements[index].allows_local(local):
                continue
            for component in element.components:
                if component.type == component_type:
                    if Decimal(component.price) < 0:
                        raise ValueError(f"element {index}: negative {component_type} price")
                    return index, component.price, component.step_size
    return None
