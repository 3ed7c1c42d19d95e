"""The driver's history as a PDF: lines of a monospaced font, laid out into pages here, drawn by WeasyPrint.

An HTML table of a year of sessions (1,500 rows of 12 cells) took WeasyPrint 23 s: it spends about a
millisecond on each table cell it lays out and draws (bench/history_pdf.py). As in the statements
(billing/statement_pdf.py), each session is set as text lines of DejaVu Sans Mono, the columns aligned by
``text_table``-like widths; a long station or address wraps onto a continuation line, nothing is cut.

The pages are made here, not by WeasyPrint's table layout: each page starts with the column header, a
session's lines always stay on one page (and each row is also ``break-inside: avoid``), and the totals
follow the last row. The number of lines a page holds follows from the page's size, its margins and the
line height set in the template (``LINES_FIRST_PAGE``, ``LINES_PER_PAGE``, kept with some margin).
"""

import threading
import unicodedata
from collections.abc import Sequence

from django.conf import settings
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from weasyprint import HTML
from weasyprint.text.fonts import FontConfiguration

from core.templatetags.portal import duration, kwh
from core.text_table import GAP, Column, give_way, row_lines
from reporting.history import HistoryRow, HistoryTotals

#: Characters on a line: DejaVu Sans Mono at 7.5 pt (4.52 pt a character) in A4 landscape less 24 mm of margins.
LINE_CHARS = 170
#: Lines of 10.5 pt in the 180 mm between the top and bottom margins (48 would fit), less the title block.
LINES_PER_PAGE = 44
LINES_FIRST_PAGE = 36
NARROWEST = 10
TITLE_WRAP = 10  # a longer column title wraps onto a second header line when its figures are narrower


def _columns() -> list[Column]:
    return [
        Column("#", right=True),
        Column(_("Date")),
        Column(_("Start")),
        Column(_("End")),
        Column(_("Station"), flexible=True),
        Column(_("Address"), flexible=True),
        Column(_("Card")),
        Column(_("Duration"), right=True),
        Column(_("Energy (kWh)"), right=True),
        Column(_("Avg. power (kW)"), right=True),
        Column(_("Cost"), right=True),
        Column(_("Paid by"), flexible=True),
    ]


def _cells(row: HistoryRow) -> list[str]:
    return [
        str(row.id),
        row.started_at.strftime("%Y-%m-%d"),
        row.started_at.strftime("%H:%M"),
        row.stopped_at.strftime("%H:%M") if row.stopped_at else _("running"),
        f"{row.station} · {row.site}" if row.site else row.station,
        row.address,
        row.card,
        duration(row.duration),
        kwh(row.energy_wh),
        f"{row.average_power_kw:.2f}" if row.average_power_kw is not None else "–",
        row.cost_display,
        row.payment_display,
    ]


def _total_cells(totals: HistoryTotals) -> list[str]:
    label = ngettext("Total: %(counter)s session", "Total: %(counter)s sessions", totals.sessions) % {
        "counter": totals.sessions
    }
    return [
        label,
        "",
        "",
        "",
        "",
        "",
        "",
        duration(totals.duration),
        kwh(totals.energy_wh),
        "",
        totals.costs_display,
        "",
    ]


def _widths(columns: list[Column], rows: Sequence[list[str]], width: int) -> list[int]:
    """Each column as wide as its widest text (a title wraps at its spaces: "Avg. power (kW)" above "12.34" would
    draw ten spaces on every row); when the line is too short, the widest flexible column gives way."""
    widths = [
        max(
            [len(word) for word in column.title.split()]
            + [min(len(column.title), TITLE_WRAP)]
            + [len(row[i]) for row in rows]
        )
        for i, column in enumerate(columns)
    ]
    give_way(columns, widths, width=width, narrowest=NARROWEST)
    return widths


def _lines(columns: list[Column], widths: list[int], cells: list[str]) -> list[str]:
    return [line.rstrip() for line in row_lines(columns, widths, cells)]


def history_pages(rows: Sequence[HistoryRow], totals: HistoryTotals) -> dict:
    """The header line and the pages: each a list of rows, each row its text lines (kept together).

    The totals are the ``total`` lines, on the last page (or a page of their own, with the header, when
    the last page is full).
    """
    columns = _columns()
    cells = [[unicodedata.normalize("NFC", cell) for cell in _cells(row)] for row in rows]
    total_cells = _total_cells(totals)
    # the total's label spans the columns before Duration: it does not widen the first column
    widths = _widths(columns, [*cells, ["", *total_cells[1:]]], LINE_CHARS)
    head = _lines(columns, widths, [column.title for column in columns])
    label_width = sum(widths[:7]) + len(GAP) * 6
    total_line = total_cells[0].ljust(label_width) + GAP + _lines(columns[7:], widths[7:], total_cells[7:])[0]
    pages: list[list[str]] = [[]]
    room = LINES_FIRST_PAGE - len(head)
    for row_cells in cells:
        block = _lines(columns, widths, row_cells)
        if len(block) > room and pages[-1]:
            pages.append([])
            room = LINES_PER_PAGE - len(head)
        pages[-1].append("\n".join(block))
        room -= len(block)
    total_on_new_page = room < 1 and bool(pages[-1])
    return {
        "head": "\n".join(head),
        "pages": pages,
        "total": total_line.rstrip(),
        "total_on_new_page": total_on_new_page,
        "width": LINE_CHARS,
    }


_fonts = threading.local()


def _font_config() -> FontConfiguration:
    """One per thread, kept: WeasyPrint would otherwise load the fonts for every PDF."""
    if not hasattr(_fonts, "config"):
        _fonts.config = FontConfiguration()
    return _fonts.config


def history_pdf(*, rows: Sequence[HistoryRow], totals: HistoryTotals, context: dict, request=None) -> bytes:
    """The PDF of ``rows`` with their ``totals``; ``context`` adds the driver, the filters and the time."""
    html = render_to_string(
        "reporting/history_pdf.html",
        {**context, "layout": history_pages(rows, totals), "empty": not rows},
        request=request,
    )
    return HTML(string=html, base_url=str(settings.MEDIA_ROOT)).write_pdf(font_config=_font_config())
