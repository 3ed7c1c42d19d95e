"""Tables as lines of a monospaced font, for the PDFs that WeasyPrint would draw too slowly as HTML tables.

The statements (``billing.statement_pdf``) and the driver's history (``reporting.history_pdf``) lay their rows
out with these: columns as wide as their texts, the widest flexible one giving way when the line is too short
(its longer texts wrap onto continuation lines: nothing is cut).
"""

import textwrap
from dataclasses import dataclass

GAP = "  "


@dataclass(frozen=True)
class Column:
    title: str
    right: bool = False  # amounts and other figures
    flexible: bool = False  # text that takes the line's spare width, or wraps onto a next line when it is full


def give_way(columns: list[Column], widths: list[int], *, width: int, narrowest: int) -> int:
    """Narrow the widest flexible column (never below ``narrowest``) until the line fits ``width``, in place;
    returns the spare characters left (negative when even that does not fit)."""
    spare = width - sum(widths) - len(GAP) * (len(columns) - 1)
    flexible = [i for i, column in enumerate(columns) if column.flexible]
    while spare < 0 and flexible:
        widest = max(flexible, key=widths.__getitem__)
        cut = min(-spare, widths[widest] - narrowest)
        if cut <= 0:
            break
        widths[widest] -= cut
        spare += cut
    return spare


def row_lines(columns: list[Column], widths: list[int], cells: list[str]) -> list[str]:
    """One row's text lines: each cell wrapped at its column's width, figures right-aligned, the rest left."""
    stacked = [
        (textwrap.wrap(cell, w) or [""]) if len(cell) > w else [cell] for cell, w in zip(cells, widths, strict=True)
    ]
    return [
        GAP.join(
            (part[n] if n < len(part) else "").rjust(w) if column.right else (part[n] if n < len(part) else "").ljust(w)
            for column, part, w in zip(columns, stacked, widths, strict=True)
        )
        for n in range(max(map(len, stacked)))
    ]
