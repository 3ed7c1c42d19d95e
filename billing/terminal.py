"""Payments at a station's own card terminal, reported by the charger over OCPP 1.6 DataTransfer.

OCPP 1.6 has no message for this, so chargers with a terminal send::

    DataTransfer(vendorId="org.chargeportal", messageId="TerminalPayment",
                 data='{"transactionId": 1234, "reference": "T-000123", "amount": "87.50", "currency": "SEK"}')

``amount`` is what the terminal took, incl. VAT, as a decimal string (a JSON number is
accepted too; it is read as written, never through a float); ``currency`` is optional.
The answer is Accepted, or Rejected with ``data`` saying why (unknown transaction, bad amount).
"""

import json
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction

from billing.ledger import terminal_payment_record
from sessions_app.hooks import DataTransferAnswer
from sessions_app.models import ChargePoint, ChargingSession

TERMINAL_PAYMENT = ("org.chargeportal", "TerminalPayment")


def _rejected(why: str) -> DataTransferAnswer:
    return DataTransferAnswer("Rejected", json.dumps({"error": why}))


def terminal_payment_data_transfer(charge_point: ChargePoint, data: str | None, now: datetime) -> DataTransferAnswer:
    """Book a terminal payment a charger reports; only for a transaction of that very charger."""
    try:
        report = json.loads(data or "", parse_float=str, parse_int=int)
    except json.JSONDecodeError:
        return _rejected("data is not JSON")
    if not isinstance(report, dict):
        return _rejected("data is not a JSON object")
    transaction_id, reference, amount = report.get("transactionId"), report.get("reference"), report.get("amount")
    if not isinstance(transaction_id, int) or isinstance(transaction_id, bool):
        return _rejected("transactionId must be an integer")
    if not isinstance(reference, str) or not isinstance(amount, str | int):
        return _rejected("reference and amount are required")
    currency = report.get("currency")
    if currency is not None and (not isinstance(currency, str) or len(currency) != 3):
        return _rejected("currency must be an ISO 4217 code")
    session = (
        ChargingSession.objects.select_related("charge_point__organization")
        .filter(pk=transaction_id, charge_point=charge_point)
        .first()
    )
    if session is None:
        return _rejected("unknown transactionId")
    try:
        with transaction.atomic():
            terminal_payment_record(session=session, reference=reference, amount=str(amount), currency=currency, at=now)
    except ValidationError as exc:
        return _rejected(" ".join(exc.messages))
    return DataTransferAnswer("Accepted")
