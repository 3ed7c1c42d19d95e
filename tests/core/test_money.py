"""The one money rule: ISO 4217 minor units, half-up rounding, VAT once on the net, Stripe's minor units."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from core.money import (
    STORED_DECIMAL_PLACES,
    from_minor_units,
    is_storable,
    minor_unit,
    quantize,
    quantum,
    stored_amount,
    to_minor_units,
    validate_storable_currency,
    vat_on_net,
)


@pytest.mark.parametrize(
    ("currency", "places"),
    [
        ("SEK", 2),
        ("EUR", 2),
        ("sek", 2),
        ("JPY", 0),
        ("ISK", 0),
        ("KRW", 0),
        ("KWD", 3),
        ("BHD", 3),
        ("CLF", 4),
        ("MGA", 2),
        ("XYZ", 2),
    ],
)
def test_minor_unit_follows_iso_4217_and_defaults_to_two(currency, places):
    assert minor_unit(currency) == places


def test_quantum_is_the_smallest_amount_of_the_currency():
    assert quantum("SEK") == Decimal("0.01")
    assert quantum("JPY") == Decimal("1")
    assert quantum("KWD") == Decimal("0.001")
    assert str(quantum("JPY")) == "1"


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("12.345", "SEK", "12.35"),  # tie: half-up, not banker's 12.34
        ("12.344", "SEK", "12.34"),
        ("0.005", "SEK", "0.01"),
        ("-0.005", "SEK", "-0.01"),  # ties go away from zero on both sides
        ("-12.344", "SEK", "-12.34"),
        ("2.5", "JPY", "3"),  # banker's rounding would give 2
        ("3.5", "JPY", "4"),
        ("-2.5", "JPY", "-3"),
        ("1234.4999", "JPY", "1234"),
        ("1.0005", "KWD", "1.001"),
        ("1.0004", "KWD", "1.000"),
    ],
)
def test_quantize_rounds_half_up_to_the_minor_unit(amount, currency, expected):
    result = quantize(Decimal(amount), currency)
    assert result == Decimal(expected)
    assert str(result) == expected  # the exponent is the currency's, too


def test_vat_is_computed_once_on_the_summed_net():
    lines = [quantize(Decimal("0.333") * Decimal("3.03"), "SEK") for _ in range(3)]  # 1.00899 -> 1.01 each
    net = sum(lines, Decimal(0))
    assert net == Decimal("3.03")
    assert vat_on_net(net, Decimal("0.25"), "SEK") == Decimal("0.76")  # 0.7575 once, half-up
    per_line = sum(vat_on_net(line, Decimal("0.25"), "SEK") for line in lines)
    assert per_line == Decimal("0.75")  # what the rule avoids: 3 x 0.2525 -> 3 x 0.25


def test_vat_in_yen_is_whole_yen():
    assert vat_on_net(Decimal("1234"), Decimal("0.10"), "JPY") == Decimal("123")  # 123.4
    assert vat_on_net(Decimal("1235"), Decimal("0.10"), "JPY") == Decimal("124")  # 123.5, half-up
    assert vat_on_net(Decimal("-1235"), Decimal("0.10"), "JPY") == Decimal("-124")  # a credit note mirrors it


def test_stored_amount_restores_what_the_columns_hold():
    assert stored_amount(0.00999999999999801) == Decimal("0.01")
    assert str(stored_amount(Decimal("-0.001"))) == "0.00"  # never -0.00
    assert stored_amount(None) == Decimal("0.00")
    assert stored_amount(Decimal("1500")) == Decimal("1500.00")
    assert stored_amount(-12.345) == Decimal("-12.35")  # float -12.3450000000000006394884621840901672840118408203125


def test_three_decimal_currencies_are_not_storable():
    assert STORED_DECIMAL_PLACES == 2
    assert is_storable("SEK") and is_storable("JPY")
    assert not is_storable("KWD") and not is_storable("CLF")
    validate_storable_currency("JPY")
    with pytest.raises(ValidationError) as caught:
        validate_storable_currency("kwd")
    assert caught.value.code == "currency_not_storable"
    assert "KWD has 3 decimals" in caught.value.messages[0]


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("149.50", "SEK", 14950),
        ("-0.01", "SEK", -1),
        ("1500", "JPY", 1500),
        ("1500.00", "JPY", 1500),
        ("5", "ISK", 500),  # Stripe keeps ISK two-decimal: 100 is 1 krona
        ("1200", "MGA", 1200),  # zero-decimal in Stripe, two-decimal in ISO 4217
        ("1.25", "KWD", 1250),
    ],
)
def test_minor_units_round_trip(amount, currency, minor):
    assert to_minor_units(Decimal(amount), currency) == minor
    assert from_minor_units(minor, currency) == Decimal(amount)


def test_from_minor_units_has_the_currency_exponent():
    assert str(from_minor_units(14950, "SEK")) == "149.50"
    assert str(from_minor_units(1500, "JPY")) == "1500"


@pytest.mark.parametrize(("amount", "currency"), [("0.5", "JPY"), ("10.001", "SEK"), ("5.5", "ISK"), ("0.5", "MGA")])
def test_to_minor_units_refuses_amounts_finer_than_the_provider_counts(amount, currency):
    with pytest.raises(ValidationError) as caught:
        to_minor_units(Decimal(amount), currency)
    assert caught.value.code == "too_precise"
