"""A statement's snapshot as a PDF: a Django template rendered by WeasyPrint, in the customer's language."""

import threading
import zoneinfo
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone, translation
from weasyprint import HTML
from weasyprint.text.fonts import FontConfiguration

from billing.models import LedgerEntry, PaymentAccount, Statement
from billing.quotes import money_display

_MOMENTS = ("started_at", "stopped_at", "issued_at", "booked_at")


def _display(rows: list[dict], currency: str) -> list[dict]:
    """ISO times become datetimes and amounts become money strings, for the template to show."""
    shown = []
    for row in rows:
        row = dict(row)
        for key in _MOMENTS:
            if row.get(key):
                row[key] = datetime.fromisoformat(row[key])
        for key in ("net", "vat", "gross", "owed", "wallet"):
            if key in row:
                row[f"{key}_display"] = money_display(Decimal(row[key]), row.get("currency", currency))
        shown.append(row)
    return shown


def _duration(row: dict) -> str:
    if not row.get("stopped_at"):
        return ""
    minutes = int((row["stopped_at"] - row["started_at"]).total_seconds() // 60)
    return f"{minutes // 60}:{minutes % 60:02d}"


def statement_context(statement: Statement) -> dict:
    """What the template needs: the snapshot with times, money and labels ready to print."""
    content, currency = statement.content, statement.currency
    sessions = _display(content["sessions"], currency)
    for row in sessions:
        row["duration"] = _duration(row)
        row["energy_kwh"] = Decimal(row["energy_wh"]) / 1000
        row["paid_by_labels"] = [str(LedgerEntry.Method(method).label) for method in row["paid_by"]]
    movements = _display(content["movements"], currency)
    for row in movements:
        row["kind_label"] = LedgerEntry.Kind(row["kind"]).label
        row["method_label"] = LedgerEntry.Method(row["method"]).label if row["method"] else ""
    totals = {key: value if key == "energy_wh" else money_display(Decimal(value), currency)
              for key, value in content["totals"].items()}
    logo = content["operator"].get("logo")
    return {
        "statement": statement, "operator": content["operator"], "customer": content["customer"],
        "period_start": statement.period_start, "period_last_day": statement.period_end - timedelta(days=1),
        "wallet": content["payment_method"] == PaymentAccount.Method.WALLET,
        "payment_method_label": PaymentAccount.Method(content["payment_method"]).label,
        "sessions": sessions, "credit_notes": _display(content["credit_notes"], currency), "movements": movements,
        "vat_lines": [{**line, "percent": Decimal(line["rate"]) * 100,
                       **{f"{k}_display": money_display(Decimal(line[k]), currency) for k in ("net", "vat", "gross")}}
                      for line in content["vat"]],
        "totals": totals, "energy_kwh": Decimal(content["totals"]["energy_wh"]) / 1000,
        "owed_end": Decimal(content["totals"]["owed_end"]),
        "in_favour": money_display(-Decimal(content["totals"]["owed_end"]), currency),
        "logo_url": Path(settings.MEDIA_ROOT, logo).as_uri() if logo else "",
    }


_fonts = threading.local()


def _font_config() -> FontConfiguration:
    """One per thread, kept: WeasyPrint would otherwise set up fontconfig and load the fonts for every PDF."""
    if not hasattr(_fonts, "config"):
        _fonts.config = FontConfiguration()
    return _fonts.config


def statement_pdf(statement: Statement) -> bytes:
    """Render the statement, in its language and time zone."""
    with translation.override(statement.language), timezone.override(zoneinfo.ZoneInfo(statement.time_zone)):
        html = render_to_string("billing/statement.html", statement_context(statement))
    return HTML(string=html, base_url=str(settings.MEDIA_ROOT)).write_pdf(font_config=_font_config())
