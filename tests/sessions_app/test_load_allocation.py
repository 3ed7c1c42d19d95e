"""The load allocator (sessions_app.load_allocation.allocate): worked examples, then its rules checked by hypothesis."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessions_app.load_allocation import MIN_AMPERES, Demand, Share, allocate

T0 = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
TURN = timedelta(minutes=15)
CONNECTOR_22_KW = 22080  # 32 A on three phases of 230 V


def car(connector_id, *, max_w=CONNECTOR_22_KW, phases=3, drawing_w=None, priority=0, minutes_in=0):
    return Demand(
        connector_id=connector_id,
        max_w=max_w,
        phases=phases,
        drawing_w=drawing_w,
        priority=priority,
        started_at=T0 + timedelta(minutes=minutes_in),
        session_id=1000 + connector_id,
    )


def charging_ids(shares: list[Share]) -> list[int]:
    return [share.connector_id for share in shares if share.charging]


def test_three_cars_on_22_kw_connectors_share_32_kw_equally():
    shares = allocate(
        available_w=32000, voltage=230, demands=[car(1), car(2, minutes_in=5), car(3, minutes_in=9)], now=T0, turn=TURN
    )
    # 32000 / 3 = 10666 W, 15.45 A on three phases: told 15.4 A, 10626 W each
    assert shares == [Share(connector_id, 10626, Decimal("15.4"), True) for connector_id in (1, 2, 3)]


def test_a_car_drawing_little_keeps_a_margin_above_its_draw_and_gives_the_rest_to_the_others():
    # car 2 draws about the limit it was last given: the caller says its draw is not known (None)
    demands = [car(1, drawing_w=3600), car(2, drawing_w=None), car(3)]
    shares = allocate(available_w=32000, voltage=230, demands=demands, now=T0, turn=TURN)
    # car 1: 3600 W + 1 A on three phases (690 W, more than 10 %) = 4290 W, 6.2 A; cars 2 and 3 split the
    # remaining 27710 W: 13855 W each, 20.0 A
    assert shares == [
        Share(1, 4278, Decimal("6.2"), True),
        Share(2, 13800, Decimal("20.0"), True),
        Share(3, 13800, Decimal("20.0"), True),
    ]


def test_a_car_drawing_nothing_keeps_the_minimum():
    shares = allocate(available_w=32000, voltage=230, demands=[car(1, drawing_w=0), car(2)], now=T0, turn=TURN)
    assert shares == [Share(1, 4140, Decimal("6.0"), True), Share(2, 22080, Decimal("32.0"), True)]


def test_higher_priority_is_served_to_its_cap_before_lower_priorities_get_the_rest():
    demands = [car(1, priority=0), car(2, priority=1, minutes_in=3), car(3, priority=0, minutes_in=1)]
    shares = allocate(available_w=32000, voltage=230, demands=demands, now=T0, turn=TURN)
    # the priority car takes its full 22080 W; the two others share 9920 W (4960 W, 7.1 A each)
    assert shares == [
        Share(1, 4899, Decimal("7.1"), True),
        Share(2, 22080, Decimal("32.0"), True),
        Share(3, 4899, Decimal("7.1"), True),
    ]


def test_cars_take_turns_in_the_order_they_arrived_when_the_minimums_do_not_fit():
    # 10 kW gives two three-phase cars their 4140 W minimum, not three or four
    demands = [car(4, minutes_in=30), car(2, minutes_in=10), car(1), car(3, minutes_in=20)]
    turns = [
        charging_ids(allocate(available_w=10000, voltage=230, demands=demands, now=T0 + index * TURN, turn=TURN))
        for index in range(5)
    ]
    # in the order of arrival (1, 2, 3, 4) rotated by one each turn, as many as fit: two
    first = (T0 - datetime(1970, 1, 1, tzinfo=UTC)) // TURN
    pairs = [[1, 2], [2, 3], [3, 4], [1, 4]]
    assert turns == [pairs[(first + index) % 4] for index in range(5)]
    shares = allocate(available_w=10000, voltage=230, demands=demands, now=T0, turn=TURN)
    waiting = [share for share in shares if not share.charging]
    assert [(share.limit_w, share.limit_a) for share in waiting] == [(0, Decimal(0))] * 2
    assert all(share.limit_w == 4968 for share in shares if share.charging)  # 5000 W each: 7.2 A


def test_nothing_available_means_every_car_waits():
    shares = allocate(available_w=-500, voltage=230, demands=[car(1), car(2)], now=T0, turn=TURN)
    assert shares == [Share(1, 0, Decimal(0), False), Share(2, 0, Decimal(0), False)]


def test_a_connector_whose_maximum_is_below_the_minimum_never_charges():
    shares = allocate(available_w=32000, voltage=230, demands=[car(1, max_w=4000), car(2)], now=T0, turn=TURN)
    assert shares == [Share(1, 0, Decimal(0), False), Share(2, 22080, Decimal("32.0"), True)]


def test_a_connector_named_twice_is_refused():
    with pytest.raises(ValueError):
        allocate(available_w=32000, voltage=230, demands=[car(1), car(1, minutes_in=2)], now=T0, turn=TURN)


# Properties


def per_ampere_w(demand: Demand, voltage: int) -> int:
    return demand.phases * voltage


def min_w(demand: Demand, voltage: int) -> int:
    return int(MIN_AMPERES * per_ampere_w(demand, voltage))


def rounded(watts: int, demand: Demand, voltage: int) -> int:
    """``watts`` as the allocator tells it: down to 0.1 A per phase, then down to the watt."""
    return watts * 10 // per_ampere_w(demand, voltage) * per_ampere_w(demand, voltage) // 10


def rounding_slack(shares: dict[int, Share], demands: list[Demand], voltage: int) -> int:
    """What rounding may leave unallocated: under 0.1 A and 1 W per charging share when told, and under 1 W each
    from the water level being whole watts."""
    return sum(per_ampere_w(demand, voltage) // 10 + 3 for demand in demands if shares[demand.connector_id].charging)


def at_its_cap(share: Share, demand: Demand, voltage: int) -> bool:
    """At the connector's maximum, or held just above what the car draws."""
    return share.limit_w == rounded(demand.max_w, demand, voltage) or (
        demand.drawing_w is not None and share.limit_w > demand.drawing_w
    )


PRIORITIES = st.integers(0, 2)


@st.composite
def demand_lists(draw, priorities=PRIORITIES):
    connector_ids = draw(st.lists(st.integers(1, 40), max_size=8, unique=True))
    return [
        Demand(
            connector_id=connector_id,
            max_w=draw(st.sampled_from([3680, 7360, 11040, 22080]) | st.integers(0, 25000)),
            phases=draw(st.sampled_from([1, 3])),
            drawing_w=draw(st.none() | st.integers(0, 25000)),
            priority=draw(priorities),
            started_at=T0 + timedelta(minutes=draw(st.integers(0, 3))),  # few values: ties broken by connector
            session_id=1000 + connector_id,
        )
        for connector_id in connector_ids
    ]


voltages = st.sampled_from([220, 230, 231, 240])
available = st.integers(-5000, 80000)
nows = st.integers(0, 10 * 365 * 24 * 3600).map(lambda seconds: T0 + timedelta(seconds=seconds))
turn_lengths = st.integers(1, 60).map(lambda minutes: timedelta(minutes=minutes))

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(demand_lists(), available, voltages, nows, turn_lengths)
def test_shares_stay_within_the_limit_the_maximums_and_above_the_minimum(demands, available_w, voltage, now, turn):
    shares = allocate(available_w=available_w, voltage=voltage, demands=demands, now=now, turn=turn)
    assert [share.connector_id for share in shares] == sorted(demand.connector_id for demand in demands)
    assert sum(share.limit_w for share in shares) <= max(available_w, 0)
    by_connector = {share.connector_id: share for share in shares}
    assert sum(
        share.limit_a * per_ampere_w(demand, voltage)
        for demand in demands
        for share in [by_connector[demand.connector_id]]
    ) <= max(available_w, 0)
    for demand in demands:
        share = by_connector[demand.connector_id]
        assert share.limit_a == share.limit_a.quantize(Decimal("0.1"))
        assert share.limit_w == int(share.limit_a * per_ampere_w(demand, voltage))  # watts from the rounded amps
        assert share.limit_w <= demand.max_w
        if share.charging:
            assert share.limit_a >= MIN_AMPERES
            assert share.limit_w >= min_w(demand, voltage)
        else:
            assert (share.limit_w, share.limit_a) == (0, 0)


@PROPERTY_SETTINGS
@given(demand_lists(), available, voltages, nows, turn_lengths)
def test_power_left_over_means_everyone_charging_is_at_its_cap_and_no_one_waiting_fits(
    demands, available_w, voltage, now, turn
):
    shares = {
        share.connector_id: share
        for share in allocate(available_w=available_w, voltage=voltage, demands=demands, now=now, turn=turn)
    }
    unallocated = max(available_w, 0) - sum(share.limit_w for share in shares.values())
    slack = rounding_slack(shares, demands, voltage)
    for demand in demands:
        share = shares[demand.connector_id]
        if share.charging and unallocated > slack:
            assert at_its_cap(share, demand, voltage)
        if not share.charging and demand.max_w >= min_w(demand, voltage):
            assert min_w(demand, voltage) > unallocated - slack


@PROPERTY_SETTINGS
@given(demand_lists(), available, voltages, nows, turn_lengths)
def test_within_a_priority_shares_are_equal_unless_a_cap_or_a_minimum_holds_them(
    demands, available_w, voltage, now, turn
):
    shares = {
        share.connector_id: share
        for share in allocate(available_w=available_w, voltage=voltage, demands=demands, now=now, turn=turn)
    }
    for low in demands:
        for high in demands:
            low_share, high_share = shares[low.connector_id], shares[high.connector_id]
            if not (low_share.charging and high_share.charging and low.priority == high.priority):
                continue
            pair_slack = per_ampere_w(low, voltage) // 10 + per_ampere_w(high, voltage) // 10 + 4
            if low.drawing_w is None and low_share.limit_w + pair_slack < high_share.limit_w:
                assert at_its_cap(low_share, low, voltage) or high_share.limit_w == min_w(high, voltage)


@PROPERTY_SETTINGS
@given(demand_lists(), available, voltages, nows, turn_lengths)
def test_a_lower_priority_charges_only_with_what_higher_priorities_cannot_use(demands, available_w, voltage, now, turn):
    shares = {
        share.connector_id: share
        for share in allocate(available_w=available_w, voltage=voltage, demands=demands, now=now, turn=turn)
    }
    unallocated = max(available_w, 0) - sum(share.limit_w for share in shares.values())
    slack = rounding_slack(shares, demands, voltage)
    for higher in demands:
        if higher.max_w < min_w(higher, voltage):
            continue
        lower = [demand for demand in demands if demand.priority < higher.priority]
        if not any(shares[demand.connector_id].charging for demand in lower):
            continue
        share = shares[higher.connector_id]
        if share.charging:
            assert at_its_cap(share, higher, voltage)
        else:  # its minimum did not fit in what the lower priorities got and what is left over
            lower_and_left = unallocated + sum(shares[demand.connector_id].limit_w for demand in lower)
            assert min_w(higher, voltage) > lower_and_left - slack


@PROPERTY_SETTINGS
@given(demand_lists(), available, voltages, nows, turn_lengths, st.randoms(use_true_random=False))
def test_the_same_demands_in_any_order_give_the_same_shares(demands, available_w, voltage, now, turn, random):
    shuffled = list(demands)
    random.shuffle(shuffled)
    assert allocate(available_w=available_w, voltage=voltage, demands=demands, now=now, turn=turn) == allocate(
        available_w=available_w, voltage=voltage, demands=shuffled, now=now, turn=turn
    )


@PROPERTY_SETTINGS
@given(demand_lists(priorities=st.just(0)), voltages, nows, turn_lengths, st.integers(0, 40000))
def test_over_as_many_turns_as_sessions_every_session_charges(demands, voltage, now, turn, extra_w):
    chargeable = [demand for demand in demands if demand.max_w >= min_w(demand, voltage)]
    available_w = max((min_w(demand, voltage) for demand in chargeable), default=0) + extra_w
    charged: set[int] = set()
    for index in range(len(chargeable)):
        shares = allocate(available_w=available_w, voltage=voltage, demands=demands, now=now + index * turn, turn=turn)
        charged.update(charging_ids(shares))
    assert charged == {demand.connector_id for demand in chargeable}
