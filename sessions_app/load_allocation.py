"""The site load allocator (issue 17): how a site's power limit is shared among the sessions charging there.

A pure function of its arguments (no Django, no database, no clock of its own), so the same inputs always give
the same shares and hypothesis can check its rules (tests/sessions_app/test_load_allocation.py):

- a share is never above its connector's maximum, and a session that charges never gets less than the IEC 61851
  minimum, ``MIN_AMPERES`` per phase; the shares add up to at most ``available_w``;
- priority is strict: the sessions of a higher priority get their minimum, then their water-filled share up to
  their caps, before a lower priority gets anything; within one priority the shares are equal (water-filling: a
  session at its cap or at its minimum leaves the rest to the others);
- a car drawing clearly less than its share (``drawing_w`` below 90 % of it) is capped just above its draw
  (+10 %, at least 1 A per phase, never below the minimum) and its rest goes to the others. The caller passes
  ``drawing_w=None`` while the draw says nothing about the car: just started, or drawing about the limit it was
  last given (then the car is held back by that limit, not slow, and must be free to take a bigger share);
- when a priority's minimums do not all fit, its sessions take turns: the turn index is
  ``floor((now - epoch) / turn)``, the priority's sessions in the order they started (then connector) are rotated
  by that index and admitted in that order while their minimum fits. Over as many consecutive turns as there are
  sessions, each one comes first once, so each charges in its turn. Those not admitted wait: ``charging=False``
  and a zero limit. Lower priorities only get what the admitted ones cannot use.

Rounding: ``limit_a`` is the share per phase rounded down to 0.1 A and ``limit_w`` is recomputed from it, rounded
down to the watt, so whether a charger is given amps or watts its limit stays within its share and the sum within
``available_w``.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import groupby

MIN_AMPERES = Decimal(6)  # IEC 61851: below 6 A per phase a car may not charge at all
_SLOW_PERCENT = 90  # a car drawing less than this share of its allocation is "clearly less"
_HEADROOM_PERCENT = 10  # a slow car's cap: its draw plus this much (at least 1 A per phase)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Demand:
    """A running session asking for power on one connector."""

    connector_id: int
    max_w: int  # the connector's maximum, W over all its phases
    phases: int  # 1 or 3
    drawing_w: int | None  # the latest measured draw, W; None: not known or says nothing (see the module doc)
    priority: int  # higher first
    started_at: datetime  # aware
    session_id: int


@dataclass(frozen=True)
class Share:
    """One connector's limit; ``charging=False`` means waiting its turn (both limits 0)."""

    connector_id: int
    limit_w: int
    limit_a: Decimal  # per phase, one decimal
    charging: bool


def allocate(
    *, available_w: int, voltage: int, demands: Sequence[Demand], now: datetime, turn: timedelta
) -> list[Share]:
    """Each demand's share of ``available_w`` (below 0 counts as 0), one per demand, ordered by connector.

    ``available_w`` is what the limit leaves after other loads and after the connectors the caller counts at their
    maximum; ``voltage`` is the phase voltage; ``turn`` the length of a turn when not everyone can charge."""
    if voltage <= 0:
        raise ValueError("voltage must be positive")
    if turn <= timedelta(0):
        raise ValueError("turn must be positive")
    if any(demand.phases < 1 for demand in demands):
        raise ValueError("a connector has at least one phase")
    if len({demand.connector_id for demand in demands}) != len(demands):
        raise ValueError("one demand per connector")
    turn_index = (now - _EPOCH) // turn
    remaining = max(available_w, 0)
    shares_w: dict[int, int] = {}
    by_priority = sorted(demands, key=lambda demand: (-demand.priority, demand.started_at, demand.connector_id))
    for _priority, level in groupby(by_priority, key=lambda demand: demand.priority):
        admitted = _admitted(list(level), remaining, voltage, turn_index)
        level_shares = _level_shares(admitted, remaining, voltage)
        shares_w.update(level_shares)
        remaining -= sum(level_shares.values())
    return [
        _share(demand, shares_w.get(demand.connector_id, 0), voltage)
        for demand in sorted(demands, key=lambda demand: demand.connector_id)
    ]


def _per_ampere_w(demand: Demand, voltage: int) -> int:
    """Watts per ampere per phase on the demand's connector."""
    return demand.phases * voltage


def _min_w(demand: Demand, voltage: int) -> int:
    return int(MIN_AMPERES * _per_ampere_w(demand, voltage))


def _admitted(level: list[Demand], remaining: int, voltage: int, turn_index: int) -> list[Demand]:
    """The sessions of one priority (in start order) that charge now: all when their minimums fit, else those whose
    turn it is. A connector whose maximum is below the minimum can never charge."""
    chargeable = [demand for demand in level if demand.max_w >= _min_w(demand, voltage)]
    if sum(_min_w(demand, voltage) for demand in chargeable) <= remaining:
        return chargeable
    first = turn_index % len(chargeable)
    admitted = []
    for demand in chargeable[first:] + chargeable[:first]:
        if _min_w(demand, voltage) <= remaining:
            admitted.append(demand)
            remaining -= _min_w(demand, voltage)
    return admitted


def _level_shares(admitted: list[Demand], budget: int, voltage: int) -> dict[int, int]:
    """Water-fill ``budget`` over one priority's admitted sessions (their minimums fit in it), capping each car
    found drawing clearly less than its share, until no other car is: capping only raises the others' shares, so
    each round caps at least one more car or ends."""
    floors = [_min_w(demand, voltage) for demand in admitted]
    caps = [demand.max_w for demand in admitted]
    capped: set[int] = set()
    while True:
        shares = _water_fill(budget, floors, caps)
        slow = [
            index
            for index, demand in enumerate(admitted)
            if index not in capped
            and demand.drawing_w is not None
            and demand.drawing_w * 100 < shares[index] * _SLOW_PERCENT
        ]
        if not slow:
            return {demand.connector_id: share for demand, share in zip(admitted, shares, strict=True)}
        for index in slow:
            caps[index] = _slow_cap(admitted[index], floors[index], voltage)
        capped.update(slow)


def _slow_cap(demand: Demand, floor_w: int, voltage: int) -> int:
    """A slow car's cap: its draw plus headroom to grow, within its connector's maximum and minimum."""
    drawing = max(demand.drawing_w or 0, 0)
    headroom = max(drawing * _HEADROOM_PERCENT // 100, _per_ampere_w(demand, voltage))
    return min(demand.max_w, max(floor_w, drawing + headroom))


def _water_fill(budget: int, floors: list[int], caps: list[int]) -> list[int]:
    """Each session's ``max(floor, min(cap, level))`` for the highest whole-watt level whose sum fits ``budget``
    (floors <= caps and the floors' sum fits)."""

    def filled(level: int) -> list[int]:
        return [max(floor, min(cap, level)) for floor, cap in zip(floors, caps, strict=True)]

    if sum(caps) <= budget:
        return list(caps)
    low, high = 0, max(caps)  # filled(low) fits, filled(high) (all caps) does not
    while high - low > 1:
        middle = (low + high) // 2
        if sum(filled(middle)) <= budget:
            low = middle
        else:
            high = middle
    return filled(low)


def _share(demand: Demand, share_w: int, voltage: int) -> Share:
    """The share as the charger is told it: amps per phase rounded down to 0.1 A, watts from those amps."""
    per_ampere_w = _per_ampere_w(demand, voltage)
    deciamperes = share_w * 10 // per_ampere_w
    return Share(
        connector_id=demand.connector_id,
        limit_w=deciamperes * per_ampere_w // 10,
        limit_a=Decimal(deciamperes).scaleb(-1),
        charging=share_w > 0,
    )
