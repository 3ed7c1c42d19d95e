"""The reservation fee's pure pricing: OCPI 2.2.1 reservation elements (FLAT per reservation, TIME per hour
reserved with its step size), RESERVATION vs RESERVATION_EXPIRES, VAT once on the total, currencies' minor units;
and charging never priced by a reservation element."""

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest

from billing.pricing import (
    PriceComponent,
    Restrictions,
    SessionTimeline,
    TariffElement,
    TariffSpec,
    price_session,
)
from billing.pricing_reservation import ReservationTimeline, price_reservation

D = Decimal
T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # a Tuesday, 13:00 in Stockholm


def element(*components, reservation=None, **restrictions):
    return TariffElement(
        components=tuple(PriceComponent(t, D(p), s) for t, p, s in components),
        restrictions=Restrictions(reservation=reservation, **restrictions),
    )


def spec(*elements, currency="SEK", vat="0.25", include_vat=False):
    return TariffSpec(currency=currency, vat_rate=D(vat), prices_include_vat=include_vat, elements=tuple(elements))


def reserved(minutes, kind="RESERVATION", start=T0):
    return ReservationTimeline(start, start + timedelta(minutes=minutes), kind)


CHARGING = element(("ENERGY", "4.00", 1))


def test_a_flat_reservation_fee_entered_incl_vat_costs_exactly_that():
    priced = price_reservation(
        spec(CHARGING, element(("FLAT", "10.00", 1), reservation="RESERVATION"), include_vat=True), reserved(12)
    )

    assert [(line.component, line.quantity, line.net_amount) for line in priced.lines] == [("FLAT", 1, D("8.00"))]
    assert (priced.net_total, priced.vat_amount, priced.gross_total) == (D("8.00"), D("2.00"), D("10.00"))
    assert priced.energy_wh == 0 and priced.adjustment == 0


def test_reserved_time_is_rounded_up_to_the_time_components_step():
    tariff = spec(element(("TIME", "12.00", 900), reservation="RESERVATION"))  # 12 SEK/h net, per started 15 min

    priced = price_reservation(tariff, reserved(20))  # 20 min -> 30 min billed

    (line,) = priced.lines
    assert (line.component, line.quantity, line.unit_price, line.net_amount) == (
        "TIME",
        D("0.5000"),
        D("12.00"),
        D("6.00"),
    )
    assert (priced.net_total, priced.vat_amount, priced.gross_total) == (D("6.00"), D("1.50"), D("7.50"))
    assert price_reservation(tariff, reserved(30)).net_total == D("6.00")  # exactly two steps: nothing added
    assert price_reservation(tariff, reserved(0)).lines == ()  # no time reserved: no time line


def test_an_expired_reservation_is_priced_by_reservation_expires_elements_first_then_reservation_ones():
    tariff = spec(
        element(("FLAT", "5.00", 1), ("TIME", "6.00", 60), reservation="RESERVATION"),
        element(("TIME", "24.00", 60), reservation="RESERVATION_EXPIRES"),
    )

    expired = price_reservation(tariff, reserved(30, "RESERVATION_EXPIRES"))
    used = price_reservation(tariff, reserved(30))

    # expired: its own TIME price (24/h), and the RESERVATION flat fee it has no RESERVATION_EXPIRES one for
    assert [(line.component, line.element, line.net_amount) for line in expired.lines] == [
        ("FLAT", 0, D("5.00")),
        ("TIME", 1, D("12.00")),
    ]
    # used (or cancelled by the driver): RESERVATION only
    assert [(line.component, line.element, line.net_amount) for line in used.lines] == [
        ("FLAT", 0, D("5.00")),
        ("TIME", 0, D("3.00")),
    ]


def test_a_tariff_without_reservation_elements_prices_a_reservation_at_zero():
    priced = price_reservation(spec(element(("FLAT", "3.00", 1)), CHARGING), reserved(30, "RESERVATION_EXPIRES"))

    assert (priced.lines, priced.gross_total) == ((), D("0.00"))


def test_charging_is_never_priced_by_a_reservation_element():
    tariff = spec(element(("FLAT", "50.00", 1), ("TIME", "60.00", 1), reservation="RESERVATION"), CHARGING)
    session = SessionTimeline(started_at=T0, stopped_at=T0 + timedelta(hours=1), meter_start_wh=0, meter_stop_wh=10_000)

    priced = price_session(tariff, session)

    assert [(line.component, line.element, line.net_amount) for line in priced.lines] == [("ENERGY", 1, D("40.00"))]


def test_yen_are_whole_units_and_vat_is_rounded_once_on_the_total():
    tariff = spec(
        element(("FLAT", "333", 1), ("TIME", "100", 60), reservation="RESERVATION"), currency="JPY", vat="0.10"
    )

    priced = price_reservation(tariff, reserved(50))  # 50/60 h = 0.8333 h x 100 = 83.33 -> 83

    assert [line.net_amount for line in priced.lines] == [D("333"), D("83")]
    assert (priced.net_total, priced.vat_amount, priced.gross_total) == (D("416"), D("42"), D("458"))


def test_time_of_day_is_read_at_the_reservations_start_in_the_sites_time_zone():
    tariff = spec(
        element(("FLAT", "2.00", 1), reservation="RESERVATION", start_time=time(22), end_time=time(6)),
        element(("FLAT", "8.00", 1), reservation="RESERVATION"),
    )

    night = price_reservation(tariff, reserved(30, start=datetime(2026, 3, 10, 22, 30, tzinfo=UTC)))  # 23:30 local
    day = price_reservation(tariff, reserved(30, start=datetime(2026, 3, 10, 20, 30, tzinfo=UTC)))  # 21:30 local

    assert (night.net_total, day.net_total) == (D("2.00"), D("8.00"))


def test_bad_input_is_refused():
    tariff = spec(element(("FLAT", "2.00", 1), reservation="RESERVATION"))
    with pytest.raises(ValueError, match="naive"):
        price_reservation(tariff, ReservationTimeline(datetime(2026, 1, 1), datetime(2026, 1, 2), "RESERVATION"))  # noqa: DTZ001
    with pytest.raises(ValueError, match="before"):
        price_reservation(tariff, ReservationTimeline(T0, T0 - timedelta(minutes=1), "RESERVATION"))
    with pytest.raises(ValueError, match="kind"):
        price_reservation(tariff, ReservationTimeline(T0, T0, "PARKING"))  # type: ignore[arg-type]
