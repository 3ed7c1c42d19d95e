"""A statement's lines as a table: its sessions (a roaming partner's settlement: with the CDR id and EVSE of each),
reservation fees and credit notes, each with net, VAT and total, then the statement's totals. Offered as a CSV beside
the PDF in the admin, and attached to a partner's settlement email.

Read from the statement's snapshot only, so it says what the PDF says; times in the statement's time zone with their
offset, amounts as the snapshot wrote them, credit notes negative.
"""

import io
import zoneinfo
from datetime import datetime
from decimal import Decimal

from django.utils.translation import gettext as _

from billing.models import Statement
from billing.statement_content import is_settlement
from core.exports import csv_writer

KWH = Decimal("0.001")


def _kwh(energy_wh: int) -> Decimal:
    return (Decimal(energy_wh) / 1000).quantize(KWH)


def _percent(rate: str) -> Decimal:
    return (Decimal(rate) * 100).normalize()


def _negative(amount: str) -> Decimal:
    return -Decimal(amount)


def statement_table(statement: Statement) -> tuple[list[str], list[list]]:
    """The headers and rows of the statement's lines (in the active language), the totals last."""
    content = statement.content
    zone = zoneinfo.ZoneInfo(statement.time_zone)
    settlement = is_settlement(content)
    currency = content["currency"]

    def local(moment: str | None) -> str:
        return datetime.fromisoformat(moment).astimezone(zone).isoformat(timespec="seconds") if moment else ""

    def line(what: str, cdr: str, *cells) -> list:
        return [what, *([cdr] if settlement else []), *cells]

    headers = line(
        _("What"),
        _("CDR"),
        _("Session"),
        _("Start"),
        _("End"),
        _("EVSE") if settlement else _("Station"),
        _("Energy (kWh)"),
        _("Currency"),
        _("Net"),
        _("VAT %"),
        _("VAT"),
        _("Gross"),
    )
    rows = []
    for session in content["sessions"]:
        station = session["station"] + (f" #{session['connector']}" if session.get("connector") else "")
        rows.append(
            line(
                _("Charging session"),
                session.get("cdr_id", ""),
                session["id"],
                local(session["started_at"]),
                local(session["stopped_at"]),
                session.get("evse_id") or station,
                _kwh(session["energy_wh"]),
                session["currency"],
                Decimal(session["net"]),
                _percent(session["vat_rate"]),
                Decimal(session["vat"]),
                Decimal(session["gross"]),
            )
        )
    for fee in content.get("reservation_fees", ()):
        rows.append(
            line(
                _("Reservation fee"),
                "",
                "",
                local(fee["reserved_from"]),
                local(fee["reserved_until"]),
                fee["station"] + (f" #{fee['connector']}" if fee.get("connector") else ""),
                "",
                fee["currency"],
                Decimal(fee["net"]),
                _percent(fee["vat_rate"]),
                Decimal(fee["vat"]),
                Decimal(fee["gross"]),
            )
        )
    for note in content["credit_notes"]:
        rows.append(
            line(
                _("Credit note"),
                "",
                note["session_id"],
                local(note["issued_at"]),
                "",
                "",
                "",
                currency,
                _negative(note["net"]),
                _percent(note["vat_rate"]),
                _negative(note["vat"]),
                _negative(note["gross"]),
            )
        )
    totals = content["totals"]
    rows.append(
        line(
            _("Total"),
            "",
            "",
            "",
            "",
            "",
            _kwh(totals["energy_wh"]),
            currency,
            Decimal(totals["net"]),
            "",
            Decimal(totals["vat"]),
            Decimal(totals["gross"]),
        )
    )
    return headers, rows


def statement_csv(statement: Statement) -> str:
    """The statement's lines as CSV text (in the active language)."""
    headers, rows = statement_table(statement)
    out = io.StringIO()
    writer = csv_writer(out)
    writer.writerow(headers)
    writer.writerows(rows)
    return out.getvalue()


def statement_csv_filename(statement: Statement) -> str:
    """``settlement-000042.csv`` for a partner's settlement, ``statement-000042.csv`` otherwise."""
    if is_settlement(statement.content):
        return _("settlement-%(number)s.csv") % {"number": statement.display_number}
    return _("statement-%(number)s.csv") % {"number": statement.display_number}
