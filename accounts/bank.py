"""Bank transfers to an operator: its account (IBAN and BIC, or a domestic account such as a Swedish bankgiro)
and the payment reference a customer writes on the transfer so that the operator can book it to their account.

The payment reference is the customer account's number followed by a Luhn (mod 10) check digit, the check
Swedish OCR references carry: one mistyped digit, and most swaps of two neighbouring digits, make a reference
whose check digit does not match, so it is reported as mistyped instead of being booked to someone else.
"""

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from accounts.models import CustomerAccount, Organization

#: IBAN lengths of the countries in the IBAN registry (ISO 13616); another country's IBAN is only checked
#: for its checksum and the general length.
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29,
    "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip
IBAN_MAX_LENGTH = 34
_IBAN_SHAPE = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$")
_BIC_SHAPE = re.compile(r"^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$")
#: What a typed reference may hold besides its digits (banks print OCR numbers in groups).
_REFERENCE_SEPARATORS = re.compile(r"[\s-]+")


def compact(value: str) -> str:
    """A code as it is typed in groups ("se45 5000 …") the way it is stored: upper case, no spaces."""
    return "".join(value.split()).upper()


def validate_iban(value: str) -> None:
    iban = compact(value)
    if not _IBAN_SHAPE.match(iban):
        raise ValidationError(
            _("An IBAN is a country code, two check digits and up to 30 letters and digits."), code="iban_shape"
        )
    expected = IBAN_LENGTHS.get(iban[:2])
    if expected is not None and len(iban) != expected:
        raise ValidationError(
            _("An IBAN of %(country)s has %(expected)s characters, not %(length)s."),
            code="iban_length",
            params={"country": iban[:2], "expected": expected, "length": len(iban)},
        )
    # ISO 7064 mod 97-10: the country code and check digits moved to the end, letters as 10..35, leaves 1.
    if int("".join(str(int(ch, 36)) for ch in iban[4:] + iban[:4])) % 97 != 1:
        raise ValidationError(_("This IBAN's check digits do not match: is it mistyped?"), code="iban_checksum")


def validate_bic(value: str) -> None:
    if not _BIC_SHAPE.match(compact(value)):
        raise ValidationError(
            _("A BIC has 8 or 11 characters: bank (4 letters), country (2 letters), place (2) and branch (3)."),
            code="bic_shape",
        )


def iban_grouped(iban: str) -> str:
    """As an IBAN is printed: in groups of four."""
    iban = compact(iban)
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


class CompactCodeField(models.CharField):
    """A code typed in groups (an IBAN, a BIC), stored as ``compact`` makes it wherever the model is cleaned."""

    def to_python(self, value: Any) -> Any:
        value = super().to_python(value)
        return compact(value) if isinstance(value, str) else value

    def formfield(self, **kwargs: Any) -> Any:
        # Typed with a space after every four characters, it is longer than it is stored.
        if self.max_length:
            kwargs.setdefault("max_length", self.max_length + self.max_length // 4)
        return super().formfield(**kwargs)


# --- the payment reference -----------------------------------------------------------------------------


def luhn_check_digit(digits: str) -> str:
    """The Luhn (mod 10) digit that makes ``digits`` plus it a valid number: every second digit doubled, from the
    rightmost of ``digits``."""
    total = 0
    for position, ch in enumerate(reversed(digits)):
        doubled = int(ch) * (2 if position % 2 == 0 else 1)
        total += doubled - 9 if doubled > 9 else doubled
    return str((10 - total % 10) % 10)


def payment_reference(customer_account_id: int) -> str:
    """The reference a bank transfer for this customer account carries: its number and a check digit."""
    number = str(customer_account_id)
    return number + luhn_check_digit(number)


def reference_digits(text: str) -> str | None:
    """The digits of ``text`` when it is only digits (in groups as banks print them), else None: not a reference."""
    digits = _REFERENCE_SEPARATORS.sub("", text)
    return digits if digits.isdigit() and digits.isascii() else None


def payment_reference_account_id(reference: str) -> int:
    """The customer account number a payment reference stands for; a mistyped one is refused."""
    digits = reference_digits(reference)
    if digits is None or len(digits) < 2 or digits.startswith("0"):
        raise ValidationError(
            _("“%(reference)s” is not a payment reference: those are digits only."),
            code="not_a_reference",
            params={"reference": reference},
        )
    if luhn_check_digit(digits[:-1]) != digits[-1]:
        raise ValidationError(
            _("“%(reference)s” is not a valid payment reference: its check digit does not match (mistyped?)."),
            code="mistyped_reference",
            params={"reference": reference},
        )
    return int(digits[:-1])


# --- what a customer is told -------------------------------------------------------------------------


@dataclass(frozen=True)
class BankTransfer:
    """Where a customer transfers money to and with which reference. ``iban`` and ``bic`` are compact."""

    holder: str
    iban: str
    bic: str
    other_account: str
    reference: str

    @property
    def iban_display(self) -> str:
        return iban_grouped(self.iban)


def organization_has_bank_details(organization: "Organization") -> bool:
    return bool(organization.iban or organization.other_bank_account)


def bank_transfer_for(customer_account: "CustomerAccount") -> BankTransfer | None:
    """How this customer pays its operator by bank transfer; None when the operator entered no account."""
    organization = customer_account.organization
    if not organization_has_bank_details(organization):
        return None
    return BankTransfer(
        holder=organization.bank_account_holder or organization.name,
        iban=organization.iban,
        bic=organization.bic,
        other_account=organization.other_bank_account,
        reference=payment_reference(customer_account.pk),
    )
