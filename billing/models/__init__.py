"""Billing's data: tariffs and frozen prices (``tariffs``), payment accounts and the ledger (``payments``),
statements (``statements``)."""

from billing.models.payments import LedgerEntry, PaymentAccount, StripeCheckout
from billing.models.statements import Statement, StatementSequence
from billing.models.tariffs import (
    RESERVATION_COMPONENT_TYPES,
    RESERVATION_UNRESTRICTABLE,
    WEEKDAYS,
    CreditNote,
    CustomerGroup,
    CustomerGroupMembership,
    PriceComponent,
    ReservationPrice,
    SessionPrice,
    Tariff,
    TariffAssignment,
    TariffElement,
    days_of_week_format,
    days_of_week_parse,
    validate_days_of_week,
)

__all__ = [
    "RESERVATION_COMPONENT_TYPES",
    "RESERVATION_UNRESTRICTABLE",
    "WEEKDAYS",
    "CreditNote",
    "CustomerGroup",
    "CustomerGroupMembership",
    "LedgerEntry",
    "PaymentAccount",
    "PriceComponent",
    "ReservationPrice",
    "SessionPrice",
    "Statement",
    "StatementSequence",
    "StripeCheckout",
    "Tariff",
    "TariffAssignment",
    "TariffElement",
    "days_of_week_format",
    "days_of_week_parse",
    "validate_days_of_week",
]
