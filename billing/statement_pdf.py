"""A statement's snapshot as a PDF: a Django template rendered by WeasyPrint, in the customer's language.

A roaming partner's statement is its settlement: titled so, its sessions listed as the CDRs it was sent.

The statement's tables (sessions, credit notes, payments, VAT, the account) are set as lines of a
monospaced font, one text line per row, instead of HTML tables. WeasyPrint's cost grows with the
number of boxes it lays out, about a millisecond per table cell: a 30-session statement as an HTML
table took 330 to 450 ms, as lines it takes a fraction of that, which is what lets the monthly run
make thousands of statements in minutes (bench/statements.py). The columns still line up, and the
text extracted from the PDF reads row by row.
"""

import textwrap
import threading
import unicodedata
import zoneinfo
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration

from accounts.bank import iban_grouped
from billing.models import LedgerEntry, PaymentAccount, Statement
from billing.quotes import money_display
from billing.statement_content import is_settlement
from core.text_table import Column, give_way, row_lines

#: Characters on a table line: DejaVu Sans Mono at 8 pt between the A4 page's side margins (statement.html).
LINE_CHARS = 100
PARTY_CHARS = 50  # a line of the blocks at the top (9 pt DejaVu Sans in 60 % of the width)
STYLESHEET = Path(__file__).with_name("statement.css")
NARROWEST = 12  # a text column never gives way below this


def text_table(
    columns: list[Column],
    rows: list[list[str]],
    *,
    total: list[str] | None = None,
    width: int = LINE_CHARS,
    fill: bool = True,
) -> dict:
    """Rows as lines of at most ``width`` characters, columns aligned; with ``fill`` the first flexible
    column takes the spare width, so the figures end at the right margin. Without it, columns are as wide
    as their texts and rows end with their last character (long tables: every character costs drawing).

    When the line is too short for every column, the widest flexible column gives way and its longer
    texts go on to continuation lines: nothing is cut. Returns the header line ("" when no column
    has a title, else ``width`` wide for its rule), the row lines and the total line ("" if none).
    """
    every = [[unicodedata.normalize("NFC", str(cell)) for cell in row] for row in [*rows, *([total] if total else [])]]
    widths = [max([len(column.title)] + [len(row[i]) for row in every]) for i, column in enumerate(columns)]
    spare = give_way(columns, widths, width=width, narrowest=NARROWEST)
    flexible = next((i for i, column in enumerate(columns) if column.flexible), None)
    if spare > 0 and flexible is not None and fill:
        widths[flexible] += spare

    def lines(cells: list[str]) -> list[str]:
        return row_lines(columns, widths, cells)

    titled = any(column.title for column in columns)
    return {
        "head": "\n".join(line.ljust(width) for line in lines([column.title for column in columns])) if titled else "",
        "lines": [line if fill else line.rstrip() for row in every[: len(rows)] for line in lines(row)],
        "total": "\n".join(lines(every[-1])) if total else "",
    }


class _Printer:
    """Times in the statement's zone, numbers and amounts in its language (active while rendering)."""

    def __init__(self, statement: Statement):
        self.zone = zoneinfo.ZoneInfo(statement.time_zone)
        self.currency = statement.currency

    def _local(self, moment: str | datetime) -> datetime:
        return (datetime.fromisoformat(moment) if isinstance(moment, str) else moment).astimezone(self.zone)

    def day(self, moment: str | datetime) -> str:
        return self._local(moment).strftime("%Y-%m-%d")

    def clock(self, moment: str | datetime) -> str:
        return self._local(moment).strftime("%H:%M")

    def money(self, amount: str, *, minus: bool = False) -> str:
        return ("−" if minus and Decimal(amount) else "") + money_display(Decimal(amount), self.currency)

    @staticmethod
    def kwh(energy_wh: int) -> str:
        return number_format(Decimal(energy_wh) / 1000, decimal_pos=3)


def _duration(row: dict) -> str:
    if not row.get("stopped_at"):
        return ""
    seconds = (datetime.fromisoformat(row["stopped_at"]) - datetime.fromisoformat(row["started_at"])).total_seconds()
    minutes = int(seconds // 60)
    return f"{minutes // 60}:{minutes % 60:02d}"


def _sessions_table(sessions: list[dict], p: _Printer) -> dict:
    rows = []
    for row in sessions:
        station = row["station"] + (f" #{row['connector']}" if row.get("connector") else "")
        paid = ", ".join(str(LedgerEntry.Method(method).label) for method in row["paid_by"])
        if row["terminal_references"]:
            paid += f" ({', '.join(row['terminal_references'])})"
        rows.append(
            [
                p.day(row["started_at"]),
                p.clock(row["started_at"]),
                station + (f" · {row['site']}" if row.get("site") else ""),
                _duration(row),
                p.kwh(row["energy_wh"]),
                p.money(row["gross"]),
                paid,
            ]
        )
    return text_table(
        [
            Column(_("Date")),
            Column(_("Start")),
            Column(_("Station"), flexible=True),
            Column(_("Duration"), right=True),
            Column("kWh", right=True),
            Column(_("Price"), right=True),
            Column(_("Paid"), flexible=True),
        ],
        rows,
        fill=False,
    )


def _settlement_table(sessions: list[dict], p: _Printer) -> dict:
    """A roaming partner's settlement: each session as the CDR it was sent (id, EVSE) with its net, VAT and total."""
    rows = [
        [
            row.get("cdr_id", ""),
            f"#{row['id']}",
            p.day(row["started_at"]),
            p.clock(row["started_at"]),
            row.get("evse_id") or row["station"] + (f" #{row['connector']}" if row.get("connector") else ""),
            p.kwh(row["energy_wh"]),
            p.money(row["net"]),
            p.money(row["vat"]),
            p.money(row["gross"]),
        ]
        for row in sessions
    ]
    return text_table(
        [
            Column(_("CDR")),
            Column(_("Session")),
            Column(_("Date")),
            Column(_("Start")),
            Column(_("EVSE"), flexible=True),
            Column("kWh", right=True),
            Column(_("Net"), right=True),
            Column(_("VAT"), right=True),
            Column(_("Price"), right=True),
        ],
        rows,
        fill=False,
    )


def _reservation_fees_table(fees: list[dict], p: _Printer) -> dict:
    rows = []
    for fee in fees:
        station = fee["station"] + (f" #{fee['connector']}" if fee.get("connector") else "")
        what = _("Reservation fee")
        if fee["status"] == "expired":
            what = _("Reservation fee (expired unused)")
        rows.append(
            [
                p.day(fee["reserved_from"]),
                p.clock(fee["reserved_from"]),
                station + (f" · {fee['site']}" if fee.get("site") else ""),
                _duration({"started_at": fee["reserved_from"], "stopped_at": fee["reserved_until"]}),
                what,
                p.money(fee["gross"]),
            ]
        )
    return text_table(
        [
            Column(_("Date")),
            Column(_("Start")),
            Column(_("Station"), flexible=True),
            Column(_("Reserved"), right=True),
            Column(_("What"), flexible=True),
            Column(_("Price"), right=True),
        ],
        rows,
        fill=False,
    )


def _credit_notes_table(notes: list[dict], p: _Printer) -> dict:
    return text_table(
        [Column(_("Date")), Column(_("Session")), Column(_("Reason"), flexible=True), Column(_("Amount"), right=True)],
        [[p.day(n["issued_at"]), f"#{n['session_id']}", n["reason"], p.money(n["gross"], minus=True)] for n in notes],
    )


def _movements_table(movements: list[dict], p: _Printer, *, wallet: bool) -> dict:
    rows = []
    for m in movements:
        what = [str(LedgerEntry.Kind(m["kind"]).label)]
        if m["method"]:
            what.append(str(LedgerEntry.Method(m["method"]).label))
        if m["session_id"]:
            what.append(f"#{m['session_id']}")
        elif m.get("reservation_id"):
            what.append(_("reservation #%(id)s") % {"id": m["reservation_id"]})
        rows.append(
            [
                p.day(m["booked_at"]),
                " · ".join(what),
                m["reference"],
                p.money(m["owed"]),
                *([p.money(m["wallet"])] if wallet else []),
            ]
        )
    columns = [
        Column(_("Date")),
        Column(_("What"), flexible=True),
        Column(_("Reference"), flexible=True),
        Column(_("Owed"), right=True),
        *([Column(_("Wallet"), right=True)] if wallet else []),
    ]
    return text_table(columns, rows)


def _vat_table(content: dict, p: _Printer) -> dict:
    def percent(rate: str) -> str:
        return number_format((Decimal(rate) * 100).normalize(), use_l10n=True) + " %"

    totals = content["totals"]
    return text_table(
        [
            Column(_("VAT rate"), flexible=True),
            Column(_("Net"), right=True),
            Column(_("VAT"), right=True),
            Column(_("Total incl. VAT"), right=True),
        ],
        [
            [percent(line["rate"]), p.money(line["net"]), p.money(line["vat"]), p.money(line["gross"])]
            for line in content["vat"]
        ],
        total=[_("Total"), p.money(totals["net"]), p.money(totals["vat"]), p.money(totals["gross"])],
    )


def _account_tables(totals: dict, p: _Printer, *, wallet: bool) -> list[dict]:
    """What was owed (and in the wallet) at the start, what moved, and at the end: the amount due."""
    columns = [Column("", flexible=True), Column("", right=True)]
    from_wallet = [_("Paid from your prepaid wallet"), p.money(totals["paid_from_wallet"], minus=True)]
    owed = [
        [_("Owed at the start of the period"), p.money(totals["owed_start"])],
        [_("Charging sessions"), p.money(totals["charges"])],
        *(
            [[_("Reservation fees"), p.money(totals["reservation_fees"])]]
            if Decimal(totals.get("reservation_fees", 0))
            else []
        ),
        [_("Credit notes"), p.money(totals["credit_notes"], minus=True)],
        [_("Paid by card, terminal or bank transfer"), p.money(totals["paid"], minus=True)],
        *([from_wallet] if wallet else []),
        [_("Refunds"), p.money(totals["refunds"])],
    ]
    tables = [text_table(columns, owed, total=[_("Owed at the end of the period"), p.money(totals["owed_end"])])]
    if wallet:
        tables.append(
            text_table(
                columns,
                [
                    [_("Wallet at the start of the period"), p.money(totals["wallet_start"])],
                    [_("Top-ups"), p.money(totals["top_ups"])],
                    from_wallet,
                    [_("Paid back to you"), p.money(totals["wallet_refunds"], minus=True)],
                ],
                total=[_("Wallet at the end of the period"), p.money(totals["wallet_end"])],
            )
        )
    return tables


def _lines(*parts: str) -> str:
    """The non-empty parts, each wrapped at PARTY_CHARS, as the lines of a block set with white-space: pre."""
    return "\n".join(line for part in parts if part.strip() for line in textwrap.wrap(part, PARTY_CHARS))


def _joined(separator: str, *parts: str) -> str:
    return separator.join(part for part in parts if part)


def _labelled(label: str, value: str) -> str:
    return f"{label}: {value}" if value else ""


def _header(statement: Statement, content: dict, p: _Printer) -> dict:
    """The four blocks at the top: who sends, which statement, to whom, and how they pay."""
    operator, customer = content["operator"], content["customer"]
    sessions = len(content["sessions"])
    return {
        "operator_lines": _lines(
            _joined(", ", operator["street"], f"{operator['postal_code']} {operator['city']}".strip()),
            _labelled(_("Company registration number"), operator["registration_number"]),
            _labelled(_("VAT number"), operator["vat_number"]),
            _joined(" · ", operator["email"], operator["phone"]),
        ),
        "meta_lines": _lines(
            _joined(
                " · ",
                _labelled(_("Number"), statement.display_number),
                _labelled(_("Issued"), p.day(statement.created_at)),
            ),
            _labelled(
                _("Period"), f"{p.day(statement.period_start)} – {p.day(statement.period_end - timedelta(days=1))}"
            ),
        ),
        "customer_lines": _lines(
            _joined(", ", customer["street"], f"{customer['postal_code']} {customer['city']}".strip()),
            _labelled(_("VAT number"), customer["vat_number"]),
            _joined(" · ", _labelled(_("Your reference"), customer["reference"]), customer["billing_email"]),
        ),
        "terms_lines": _lines(
            _labelled(_("Payment method"), str(PaymentAccount.Method(content["payment_method"]).label)),
            ngettext("%(count)s charging session, %(kwh)s kWh", "%(count)s charging sessions, %(kwh)s kWh", sessions)
            % {"count": sessions, "kwh": p.kwh(content["totals"]["energy_wh"])},
        ),
    }


def _how_to_pay(content: dict) -> str:
    """An invoice account's bank transfer: to whom, which account, which reference ("" when none was entered)."""
    transfer = content.get("bank_transfer")  # statements made before bank details were stored have none
    if not transfer or content["payment_method"] != PaymentAccount.Method.INVOICE:
        return ""
    return _lines(
        _labelled(_("Bank transfer to"), transfer["holder"]),
        _labelled("IBAN", iban_grouped(transfer["iban"]) if transfer["iban"] else ""),
        _labelled("BIC", transfer["bic"]),
        transfer["other_account"],
        _labelled(_("Payment reference"), transfer["reference"]),
    )


def statement_context(statement: Statement) -> dict:
    """What the template needs: the snapshot's parties and tables as lines ready to print."""
    content = statement.content
    p = _Printer(statement)
    wallet = content["payment_method"] == PaymentAccount.Method.WALLET
    settlement = is_settlement(content)
    sessions_table = _settlement_table if settlement else _sessions_table
    logo = content["operator"].get("logo")
    owed_end = Decimal(content["totals"]["owed_end"])
    return {
        "statement": statement,
        "operator": content["operator"],
        "customer": content["customer"],
        **_header(statement, content, p),
        "wallet": wallet,
        "settlement": settlement,
        "sessions": sessions_table(content["sessions"], p) if content["sessions"] else None,
        "reservation_fees": _reservation_fees_table(content["reservation_fees"], p)
        if content.get("reservation_fees")
        else None,
        "credit_notes": _credit_notes_table(content["credit_notes"], p) if content["credit_notes"] else None,
        "movements": _movements_table(content["movements"], p, wallet=wallet) if content["movements"] else None,
        "vat": _vat_table(content, p),
        "account": _account_tables(content["totals"], p, wallet=wallet),
        "owed_end": owed_end,
        "amount_due": p.money(str(owed_end)),
        "in_favour": p.money(str(-owed_end)),
        "how_to_pay": _how_to_pay(content) if owed_end > 0 else "",
        "logo_url": Path(settings.MEDIA_ROOT, logo).as_uri() if logo else "",
    }


_kept = threading.local()


def _font_config_and_style() -> tuple[FontConfiguration, CSS]:
    """One of each per thread, kept: WeasyPrint would otherwise set up fontconfig, load the fonts and parse
    the stylesheet for every PDF."""
    if not hasattr(_kept, "style"):
        _kept.fonts = FontConfiguration()
        _kept.style = CSS(filename=str(STYLESHEET), font_config=_kept.fonts)
    return _kept.fonts, _kept.style


def statement_pdf(statement: Statement) -> bytes:
    """Render the statement, in its language and time zone."""
    with translation.override(statement.language), timezone.override(zoneinfo.ZoneInfo(statement.time_zone)):
        html = render_to_string("billing/statement.html", statement_context(statement))
    fonts, style = _font_config_and_style()
    return HTML(string=html, base_url=str(settings.MEDIA_ROOT)).write_pdf(stylesheets=[style], font_config=fonts)
