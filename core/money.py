"""The one money rule: ISO 4217 minor units, one rounding (half-up), VAT once on the net total.

Every amount is a ``Decimal`` with an ISO 4217 currency code. Pricing, the ledger, statements, Stripe,
revenue and the API round money only through this module, so a yen is never split and an öre is
rounded the same way everywhere. Invoice arithmetic follows EN 16931: each line's net amount is
rounded to the currency's minor unit, the lines are summed, and VAT is computed once per VAT rate on
the summed net (``vat_on_net``), so the totals add up exactly.

Money columns hold ``STORED_DECIMAL_PLACES`` decimals; a currency with more minor digits (KWD, BHD...)
cannot be stored without truncation and is refused (``validate_storable_currency`` and the system
check ``core.E001``) rather than rounded silently.
"""

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any

from django.apps import AppConfig, apps
from django.conf import settings
from django.core import checks
from django.core.exceptions import ValidationError
from django.db import DatabaseError
from django.utils.translation import gettext_lazy as _

STORED_DECIMAL_PLACES = 2  # what every money column (DecimalField decimal_places) holds
STORED_QUANTUM = Decimal(1).scaleb(-STORED_DECIMAL_PLACES)  # the smallest amount a money column holds
_DEFAULT_MINOR_UNIT = 2

# ISO 4217 (list one, current funds and currencies): every code not listed has 2 decimals.
_MINOR_UNITS: dict[str, int] = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0, "RWF": 0,
    "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    "CLF": 4, "UYW": 4,
}  # fmt: skip

# Stripe counts amounts in ISO minor units except these (docs.stripe.com/currencies, "Special cases"):
# ISK stays a two-decimal currency in Stripe's API (100 = 1 krona), MGA is zero-decimal there.
_STRIPE_EXPONENTS: dict[str, int] = {"ISK": 2, "MGA": 0}


def minor_unit(currency: str) -> int:
    """The number of decimals of ``currency``'s minor unit (ISO 4217): 2 unless listed otherwise."""
    return _MINOR_UNITS.get(currency.upper(), _DEFAULT_MINOR_UNIT)


@lru_cache(maxsize=256)  # pricing rounds every line through here: a lookup instead of building the Decimal
def quantum(currency: str) -> Decimal:
    """The smallest amount of ``currency``: Decimal("0.01") for SEK, Decimal("1") for JPY."""
    return Decimal(1).scaleb(-minor_unit(currency))


def quantize(amount: Decimal, currency: str) -> Decimal:
    """``amount`` rounded half-up (away from zero on a tie) to ``currency``'s minor unit: the one rounding."""
    return Decimal(amount).quantize(quantum(currency), ROUND_HALF_UP)


def vat_on_net(net_total: Decimal, rate: Decimal, currency: str) -> Decimal:
    """The VAT on one VAT rate's summed net amount (EN 16931): computed once on the total, rounded once."""
    return quantize(net_total * rate, currency)


def stored_amount(value: Decimal | float | int | None) -> Decimal:
    """A value read back from money columns (e.g. a sum), at the stored places, never -0.00.

    SQLite sums decimal columns as floats (0.00999999999999801); this restores what the rows hold.
    """
    amount = Decimal(value or 0).quantize(STORED_QUANTUM, ROUND_HALF_UP)
    return amount if amount else abs(amount)


def is_storable(currency: str) -> bool:
    """Whether money columns hold ``currency``'s minor unit without truncating it."""
    return minor_unit(currency) <= STORED_DECIMAL_PLACES


def validate_storable_currency(currency: str) -> None:
    """Refuse a currency whose amounts would be truncated in money columns (KWD has 3 decimals, they hold 2)."""
    if not is_storable(currency):
        raise ValidationError(
            _(
                "%(currency)s has %(places)s decimals, but amounts are stored with %(stored)s: "
                "this currency is not supported."
            ),
            params={"currency": currency.upper(), "places": minor_unit(currency), "stored": STORED_DECIMAL_PLACES},
            code="currency_not_storable",
        )


def _stripe_exponent(currency: str) -> int:
    currency = currency.upper()
    return _STRIPE_EXPONENTS.get(currency, minor_unit(currency))


def to_minor_units(amount: Decimal, currency: str) -> int:
    """``amount`` as the integer a payment provider (Stripe) counts ``currency`` in; exact or a ValidationError.

    The amount must be whole in both the ISO minor unit and the provider's (Stripe wants ISK as 500 for 5
    krona and refuses 550).
    """
    whole = Decimal(amount).scaleb(min(minor_unit(currency), _stripe_exponent(currency)))
    if whole != whole.to_integral_value():
        raise ValidationError(
            _("%(currency)s is paid in whole units only."), params={"currency": currency.upper()}, code="too_precise"
        )
    return int(Decimal(amount).scaleb(_stripe_exponent(currency)))


def from_minor_units(minor: int, currency: str) -> Decimal:
    """A payment provider's integer amount of ``currency`` back as a ``Decimal`` in the currency's minor unit."""
    return quantize(Decimal(minor).scaleb(-_stripe_exponent(currency)), currency)


def default_currency_check(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """core.E001: DEFAULT_CURRENCY must be storable, or every new operator and tariff would be refused."""
    if is_storable(settings.DEFAULT_CURRENCY):
        return []
    return [
        checks.Error(
            f"DEFAULT_CURRENCY {settings.DEFAULT_CURRENCY} has {minor_unit(settings.DEFAULT_CURRENCY)} decimals, "
            f"but money columns hold {STORED_DECIMAL_PLACES}.",
            hint="Choose a currency with at most that many decimals (amounts would be truncated).",
            id="core.E001",
        )
    ]


def stored_currencies_check(
    app_configs: Sequence[AppConfig] | None = None, databases: Sequence[str] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """core.E002: no row holds a currency its money columns would truncate (KWD written before it was refused).

    Looks at every model field validated with ``validate_storable_currency`` (operators, tariffs): the
    currencies the other money rows take theirs from. A database check, so it runs with ``migrate`` and
    ``check --database``.
    """
    errors: list[checks.CheckMessage] = []
    for alias in databases or ():
        for model in apps.get_models():
            for field in model._meta.get_fields():
                if validate_storable_currency not in getattr(field, "validators", ()):
                    continue
                try:
                    used = set(
                        model._default_manager.using(alias).order_by().values_list(field.name, flat=True).distinct()
                    )
                except DatabaseError:  # not migrated yet
                    continue
                errors += [
                    checks.Error(
                        f"{model._meta.label}.{field.name} holds {currency}, which has {minor_unit(currency)} "
                        f"decimals; money columns hold {STORED_DECIMAL_PLACES}.",
                        hint="Amounts in it would be truncated: change the currency or keep it out of this portal.",
                        obj=model,
                        id="core.E002",
                    )
                    for currency in sorted(used)
                    if not is_storable(currency)
                ]
    return errors
