"""core.timeutil: intervals counted once, the status in force at a moment, local months across DST."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db.models import OuterRef, Subquery

from core.timeutil import (
    clip,
    complement,
    held,
    in_force,
    intersection,
    month_period,
    months_back,
    months_between,
    neighbour,
    previous_month,
    seconds,
    status_at,
    stretches,
    union,
    utc_months,
)
from sessions_app.models import StatusEvent

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


# --- intervals ---------------------------------------------------------------------------------------------------


def test_the_union_of_nothing_and_of_empty_intervals_is_empty():
    assert union([]) == []
    assert union([(5, 5), (7, 3)]) == []


def test_touching_intervals_become_one_and_disjoint_ones_stay_apart_in_order():
    assert union([(20, 30), (0, 10), (10, 15)]) == [(0, 15), (20, 30)]


def test_a_nested_interval_adds_nothing():
    assert union([(at(0), at(60)), (at(10), at(20)), (at(59), at(60))]) == [(at(0), at(60))]


def test_overlapping_intervals_become_one_reaching_the_furthest_end():
    assert union([(0, 10), (5, 8), (7, 12)]) == [(0, 12)]


def test_clip_keeps_the_part_inside_the_window_only():
    assert clip([(0, 10), (15, 30), (40, 50), (30, 35)], 5, 30) == [(5, 10), (15, 30)]


def test_intersection_is_the_time_in_both():
    assert intersection([(0, 10), (20, 30)], [(5, 25)]) == [(5, 10), (20, 25)]
    assert intersection([(0, 10)], [(10, 20)]) == []
    assert intersection([], [(0, 1)]) == []


def test_complement_is_the_window_less_what_is_covered():
    assert complement([(2, 4), (6, 12)], 0, 10) == [(0, 2), (4, 6)]
    assert complement([], 0, 10) == [(0, 10)]
    assert complement([(0, 10)], 0, 10) == []


def test_seconds_adds_the_lengths_and_rounds_once():
    assert seconds([(at(0), at(1) + timedelta(milliseconds=300)), (at(5), at(5) + timedelta(milliseconds=300))]) == 61
    assert seconds([]) == 0


# --- the status in force -----------------------------------------------------------------------------------------


EVENTS = [(at(10), "Charging"), (at(20), "Available"), (at(30), "Charging"), (at(40), "Charging"), (at(50), "Faulted")]


def test_status_at_is_the_last_event_at_or_before_the_moment_else_the_one_before_the_events():
    assert status_at(EVENTS, at(5), before="Available") == "Available"
    assert status_at(EVENTS, at(5)) is None
    assert status_at(EVENTS, at(10)) == "Charging"
    assert status_at(EVENTS, at(25)) == "Available"
    assert status_at(EVENTS, at(99)) == "Faulted"
    assert status_at([], at(0), before="Faulted") == "Faulted"


def test_of_two_events_at_the_same_time_the_later_stored_is_in_force():
    assert status_at([(1, "Charging"), (1, "Faulted")], 1) == "Faulted"
    assert stretches([(1, "Charging"), (1, "Faulted")], 0, 3) == [(1, 3, "Faulted")]


def test_stretches_split_the_window_the_last_status_holding_until_its_end():
    assert stretches(EVENTS, at(15), at(45), before="Preparing") == [
        (at(15), at(20), "Charging"),
        (at(20), at(30), "Available"),
        (at(30), at(40), "Charging"),
        (at(40), at(45), "Charging"),
    ]
    assert stretches(EVENTS, at(0), at(12), before="Available") == [
        (at(0), at(10), "Available"),
        (at(10), at(12), "Charging"),
    ]


def test_without_a_status_before_the_window_the_time_until_the_first_event_is_in_no_stretch():
    assert stretches([(5, "Faulted")], 0, 10) == [(5, 10, "Faulted")]
    assert stretches([], 0, 10) == []
    assert stretches([], 0, 10, before="Available") == [(0, 10, "Available")]


def test_held_is_the_union_of_the_stretches_with_one_of_the_statuses():
    assert held(EVENTS, at(0), at(60), {"Charging"}) == [(at(10), at(20)), (at(30), at(50))]
    assert held(EVENTS, at(0), at(60), {"Charging", "Faulted"}, before="Charging") == [
        (at(0), at(20)),
        (at(30), at(60)),
    ]


def test_in_force_orders_the_one_in_force_first(world):
    connector = world.cp_a.connectors.get(number=1)

    def event(minutes: int, status: str) -> StatusEvent:
        return StatusEvent.objects.create(
            charge_point=world.cp_a, connector=connector, status=status, error_code="NoError", timestamp=at(minutes)
        )

    event(0, "Available")
    charging = event(10, "Charging")
    faulted = event(10, "Faulted")  # same time, stored later: this one holds
    events = StatusEvent.objects.filter(connector=connector)

    assert in_force(events).first() == faulted
    assert in_force(events, at=at(10)).first().status == "Available"
    assert in_force(events, at=at(10), inclusive=True).first() == faulted
    assert in_force(events, at=at(0)).first() is None
    assert charging in in_force(events, at=at(11))


def test_neighbour_is_the_event_just_before_or_after_of_equal_times_by_the_order_stored(world):
    connector = world.cp_a.connectors.get(number=1)
    first, second, third, fourth = (
        StatusEvent.objects.create(
            charge_point=world.cp_a, connector=connector, status=status, error_code="NoError", timestamp=at(minutes)
        )
        for minutes, status in ((0, "Available"), (10, "Charging"), (10, "Faulted"), (20, "Available"))
    )
    same_connector = StatusEvent.objects.filter(connector_id=OuterRef("connector_id"))
    rows = (
        StatusEvent.objects.annotate(
            previous=Subquery(neighbour(same_connector, before=True).values("pk")[:1]),
            following=Subquery(neighbour(same_connector, before=False).values("pk")[:1]),
        )
        .order_by("timestamp", "pk")
        .values_list("pk", "previous", "following")
    )

    assert list(rows) == [
        (first.pk, None, second.pk),
        (second.pk, first.pk, third.pk),
        (third.pk, second.pk, fourth.pk),
        (fourth.pk, third.pk, None),
    ]


# --- local months ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("month", "start", "end", "hours"),
    [
        (date(2026, 3, 1), datetime(2026, 2, 28, 23, tzinfo=UTC), datetime(2026, 3, 31, 22, tzinfo=UTC), 743),
        (date(2026, 10, 17), datetime(2026, 9, 30, 22, tzinfo=UTC), datetime(2026, 10, 31, 23, tzinfo=UTC), 745),
        (date(2026, 12, 31), datetime(2026, 11, 30, 23, tzinfo=UTC), datetime(2026, 12, 31, 23, tzinfo=UTC), 744),
    ],
)
def test_a_local_month_in_stockholm_starts_and_ends_at_local_midnight_as_utc_instants(month, start, end, hours):
    period = month_period(month, "Europe/Stockholm")

    assert period == (start, end)
    assert period[0].tzinfo is UTC and period[1].tzinfo is UTC
    assert period[1] - period[0] == timedelta(hours=hours)


def test_the_previous_month_is_the_local_one():
    # 23:30 UTC on 31 March is 1 April in Stockholm.
    assert previous_month(datetime(2026, 3, 31, 23, 30, tzinfo=UTC), "Europe/Stockholm") == date(2026, 3, 1)
    assert previous_month(datetime(2026, 3, 31, 23, 30, tzinfo=UTC), "UTC") == date(2026, 2, 1)
    assert previous_month(datetime(2026, 1, 1, 0, tzinfo=UTC), "Europe/Stockholm") == date(2025, 12, 1)


def test_months_back_and_between_cross_the_new_year():
    assert months_back(date(2026, 2, 14), 3) == [date(2026, 2, 1), date(2026, 1, 1), date(2025, 12, 1)]
    assert months_between(date(2025, 11, 30), date(2026, 1, 1)) == [
        date(2025, 11, 1),
        date(2025, 12, 1),
        date(2026, 1, 1),
    ]
    assert months_between(date(2026, 2, 1), date(2026, 1, 1)) == []


def test_utc_months_cut_a_stretch_at_each_first_of_the_month():
    start, end = datetime(2026, 1, 20, 5, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC)
    assert utc_months(start, end) == [
        (start, datetime(2026, 2, 1, tzinfo=UTC)),
        (datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)),
        (datetime(2026, 3, 1, tzinfo=UTC), end),
    ]
    assert utc_months(end, end) == []
