"""Tables as downloads: one helper turns headers and rows into a CSV or an XLSX response.

Every operator table offers both. CSV cells are written as ``csv.writer`` writes them (``str``,
``None`` empty); XLSX keeps numbers as numbers (``Decimal`` included), dates as dates, and shows
aware datetimes in the current time zone (Excel has no time zones).

Much of what a table shows comes from chargers and customers (a vendor error text, a card label):
text a spreadsheet would run as a formula (``=HYPERLINK(...)``, ``+``, ``-``, ``@``, or a leading tab
or carriage return) is made inert in both formats (``inert_text``); numbers, even negative ones, stay
numbers. Every CSV download writes through ``csv_writer``.
"""

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.http import HttpResponse
from django.utils import timezone
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

FORMATS = ("csv", "xlsx")
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass
class Table:
    """A titled table: what a page shows and what its downloads hold."""

    key: str
    title: str
    headers: Sequence[Any]
    rows: list[list[Any]] = field(default_factory=list)


#: How text that a spreadsheet would read as a formula (or strip and then read as one) begins.
_FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
#: Text that is a plain number ("-12.50" from a formatted figure) is no formula and keeps its sign.
_NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)?(?:[eE][-+]?\d+)?")


def inert_text(value: Any) -> Any:
    """``value`` as a spreadsheet may show it: text that starts like a formula gets a leading apostrophe
    (OWASP's advice for CSV injection); anything else, numbers included, is returned as it is."""
    if isinstance(value, str) and value.startswith(_FORMULA_LEADS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


class _InertCsvWriter:
    """``csv.writer`` with every cell passed through ``inert_text``."""

    def __init__(self, out: "SupportsWrite[str]") -> None:
        self._writer = csv.writer(out)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([inert_text(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(out: "SupportsWrite[str]") -> _InertCsvWriter:
    """The one way to write CSV downloads: as ``csv.writer(out)``, formula-leading text made inert."""
    return _InertCsvWriter(out)


def _attachment(response: HttpResponse, filename: str) -> HttpResponse:
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def csv_response(*, filename: str, headers: Sequence[Any], rows: Sequence[Sequence[Any]]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    writer = csv_writer(response)
    writer.writerow([str(cell) for cell in headers])
    writer.writerows(rows)
    return _attachment(response, filename)


def _xlsx_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | Decimal):
        return value
    if isinstance(value, datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value).replace(tzinfo=None)
        return value
    if isinstance(value, date | time):
        return value
    # openpyxl refuses control characters (an error for the whole download) and writes "=..." as a formula.
    return inert_text(ILLEGAL_CHARACTERS_RE.sub("", str(value)))


def _sheet_title(title: str, used: set[str]) -> str:
    """Excel's rules: at most 31 characters, none of []:*?/\\, unique in the workbook."""
    base = re.sub(r"[\[\]:*?/\\]", " ", str(title)).strip()[:31] or "Sheet"
    candidate, n = base, 2
    while candidate.lower() in used:
        suffix = f" {n}"
        candidate, n = base[: 31 - len(suffix)] + suffix, n + 1
    used.add(candidate.lower())
    return candidate


def xlsx_bytes(tables: Sequence[Table]) -> bytes:
    """A workbook with one sheet per table: a bold header row, then the rows."""
    workbook = Workbook(write_only=True)
    used: set[str] = set()
    bold = Font(bold=True)
    for table in tables:
        sheet = workbook.create_sheet(_sheet_title(table.title, used))
        header = []
        for title in table.headers:
            cell = WriteOnlyCell(sheet, value=str(title))
            cell.font = bold
            header.append(cell)
        sheet.append(header)
        for row in table.rows:
            sheet.append([_xlsx_value(value) for value in row])
    if not tables:
        workbook.create_sheet("Sheet")
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def xlsx_response(*, filename: str, tables: Sequence[Table]) -> HttpResponse:
    return _attachment(HttpResponse(xlsx_bytes(tables), content_type=XLSX_CONTENT_TYPE), filename)


def table_response(
    fmt: str, *, filename_stem: str, headers: Sequence[Any], rows: Sequence[Sequence[Any]], title: str = ""
) -> HttpResponse:
    """``fmt`` "csv" or "xlsx": the table as ``<filename_stem>.<fmt>``."""
    if fmt == "csv":
        return csv_response(filename=f"{filename_stem}.csv", headers=headers, rows=rows)
    if fmt == "xlsx":
        return xlsx_response(
            filename=f"{filename_stem}.xlsx",
            tables=[
                Table(key="table", title=title or filename_stem, headers=headers, rows=[list(row) for row in rows])
            ],
        )
    raise ValueError(f"Unknown export format {fmt!r}")
