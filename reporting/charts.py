"""Charts drawn on the server as inline SVG: no script, no network, readable at a glance.

Each function takes plain numbers and labels and returns safe SVG markup sized by its viewBox
(so it scales with the page). Pages show the same numbers in a table next to each chart.
"""

import math
from collections.abc import Sequence
from decimal import Decimal
from html import escape

from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 640, 220
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 48, 12, 12, 36
ACCENT = "#1f6f8b"
GRID = "#d9dee3"
TEXT = "#444"


def _number(value) -> float:
    return float(value or 0)


def _tick(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:.1f}k".replace(".0k", "k")
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def _svg(body: str, title: str, width: int = WIDTH, height: int = HEIGHT) -> SafeString:
    return mark_safe(  # noqa: S308 - every label and title is escaped above
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="11">'
        f"<title>{escape(title)}</title>{body}</svg>"
    )


def _axis(top: float) -> tuple[list[str], float]:
    """Horizontal grid lines with their values; returns the markup and the scale's maximum."""
    top = top or 1.0
    parts = []
    for i in range(5):
        value = top * i / 4
        y = HEIGHT - PAD_BOTTOM - (HEIGHT - PAD_TOP - PAD_BOTTOM) * i / 4
        parts.append(
            f'<line x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
            f'<text x="{PAD_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{TEXT}">{_tick(value)}</text>'
        )
    return parts, top


def _x_labels(labels: Sequence[str], positions: Sequence[float]) -> list[str]:
    every = max(1, len(labels) // 12)  # at most about a dozen labels
    return [
        f'<text x="{x:.1f}" y="{HEIGHT - PAD_BOTTOM + 16}" text-anchor="middle" fill="{TEXT}">{escape(str(label))}'
        f"</text>"
        for i, (label, x) in enumerate(zip(labels, positions, strict=True))
        if i % every == 0
    ]


def bar_chart(
    labels: Sequence[str], values: Sequence[float | int | Decimal], *, title: str, unit: str = ""
) -> SafeString:
    """Vertical bars, one per label."""
    numbers = [_number(v) for v in values]
    parts, top = _axis(max(numbers, default=0))
    span = (WIDTH - PAD_LEFT - PAD_RIGHT) / max(len(numbers), 1)
    positions = []
    for i, (label, value) in enumerate(zip(labels, numbers, strict=True)):
        height = (HEIGHT - PAD_TOP - PAD_BOTTOM) * value / top
        x = PAD_LEFT + i * span + span * 0.15
        positions.append(x + span * 0.35)
        parts.append(
            f'<rect x="{x:.1f}" y="{HEIGHT - PAD_BOTTOM - height:.1f}" width="{span * 0.7:.1f}" '
            f'height="{height:.1f}" fill="{ACCENT}"><title>{escape(str(label))}: {value:g} {escape(unit)}'
            f"</title></rect>"
        )
    return _svg("".join(parts + _x_labels(labels, positions)), title)


def line_chart(
    labels: Sequence[str], series: dict[str, Sequence[float | int | Decimal]], *, title: str, unit: str = ""
) -> SafeString:
    """One line per named series over the same labels (e.g. power and energy over a session)."""
    colours = [ACCENT, "#d1495b", "#66a182", "#edae49"]
    all_numbers = [_number(v) for values in series.values() for v in values]
    parts, top = _axis(max(all_numbers, default=0))
    count = max((len(values) for values in series.values()), default=0)
    step = (WIDTH - PAD_LEFT - PAD_RIGHT) / max(count - 1, 1)
    positions = [PAD_LEFT + i * step for i in range(count)]
    for n, (name, values) in enumerate(series.items()):
        points = " ".join(
            f"{PAD_LEFT + i * step:.1f},{HEIGHT - PAD_BOTTOM - (HEIGHT - PAD_TOP - PAD_BOTTOM) * _number(v) / top:.1f}"
            for i, v in enumerate(values)
        )
        colour = colours[n % len(colours)]
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2">'
            f"<title>{escape(name)} ({escape(unit)})</title></polyline>"
            f'<text x="{PAD_LEFT + 8 + 110 * n}" y="{PAD_TOP + 10}" fill="{colour}">{escape(name)}</text>'
        )
    return _svg("".join(parts + _x_labels(labels[:count], positions)), title)


def heatmap(
    rows: Sequence[str],
    columns: Sequence[str],
    values: Sequence[Sequence[float | int | Decimal]],
    *,
    title: str,
    unit: str = "",
) -> SafeString:
    """A grid of cells shaded by value (e.g. weekday x hour of day), darker for more."""
    numbers = [[_number(v) for v in row] for row in values]
    top = max((v for row in numbers for v in row), default=0) or 1.0
    left, cell_w = 40, (WIDTH - 40 - PAD_RIGHT) / max(len(columns), 1)
    cell_h = 22
    height = PAD_TOP + cell_h * len(rows) + 24
    parts = []
    for r, (row_label, row) in enumerate(zip(rows, numbers, strict=True)):
        y = PAD_TOP + r * cell_h
        parts.append(
            f'<text x="{left - 6}" y="{y + 15}" text-anchor="end" fill="{TEXT}">{escape(str(row_label))}</text>'
        )
        for c, value in enumerate(row):
            shade = value / top
            parts.append(
                f'<rect x="{left + c * cell_w:.1f}" y="{y}" width="{cell_w - 1:.1f}" height="{cell_h - 1}" '
                f'fill="{ACCENT}" fill-opacity="{0.06 + 0.94 * shade:.2f}"><title>{escape(str(row_label))} '
                f"{escape(str(columns[c]))}: {value:g} {escape(unit)}</title></rect>"
            )
    every = max(1, len(columns) // 12)
    parts += [
        f'<text x="{left + c * cell_w + cell_w / 2:.1f}" y="{height - 8}" text-anchor="middle" fill="{TEXT}">'
        f"{escape(str(label))}</text>"
        for c, label in enumerate(columns)
        if c % every == 0
    ]
    return _svg("".join(parts), title, height=height)


def limit_chart(
    labels: Sequence[str],
    power: Sequence[float | int | Decimal],
    limit: Sequence[float | int | Decimal],
    *,
    title: str,
    names: tuple[str, str],
    peak: int | None = None,
    unit: str = "kW",
) -> SafeString:
    """A power curve as steps against its limit (dashed; it may change along the way), the ``peak``-th step
    marked with its value: a site's power against its load-management limit."""
    power_numbers, limit_numbers = [_number(v) for v in power], [_number(v) for v in limit]
    parts, top = _axis(math.ceil(max(power_numbers + limit_numbers, default=0) * 1.1 / 4) * 4)  # whole ticks
    step = (WIDTH - PAD_LEFT - PAD_RIGHT) / max(len(power_numbers), 1)

    def y(value: float) -> float:
        return HEIGHT - PAD_BOTTOM - (HEIGHT - PAD_TOP - PAD_BOTTOM) * value / top

    def steps(values: list[float]) -> str:
        return " ".join(
            f"{PAD_LEFT + i * step:.1f},{y(v):.1f} {PAD_LEFT + (i + 1) * step:.1f},{y(v):.1f}"
            for i, v in enumerate(values)
        )

    power_name, limit_name = names
    parts.append(
        f'<polyline points="{steps(power_numbers)}" fill="none" stroke="{ACCENT}" stroke-width="2">'
        f"<title>{escape(power_name)} ({escape(unit)})</title></polyline>"
        f'<polyline points="{steps(limit_numbers)}" fill="none" stroke="#d1495b" stroke-width="2" '
        f'stroke-dasharray="6 4"><title>{escape(limit_name)} ({escape(unit)})</title></polyline>'
        f'<text x="{PAD_LEFT + 8}" y="{PAD_TOP + 10}" fill="{ACCENT}">{escape(power_name)}</text>'
        f'<text x="{PAD_LEFT + 118}" y="{PAD_TOP + 10}" fill="#d1495b">{escape(limit_name)}</text>'
    )
    if peak is not None:
        x, value = PAD_LEFT + (peak + 0.5) * step, power_numbers[peak]
        anchor = "end" if x > WIDTH / 2 else "start"
        parts.append(
            f'<circle class="peak" cx="{x:.1f}" cy="{y(value):.1f}" r="4" fill="{ACCENT}" stroke="#fff">'
            f"<title>{escape(str(labels[peak]))}: {value:g} {escape(unit)}</title></circle>"
            f'<text x="{x + (-6 if anchor == "end" else 6):.1f}" y="{y(value) - 6:.1f}" text-anchor="{anchor}" '
            f'fill="{TEXT}">{value:g} {escape(unit)}</text>'
        )
    positions = [PAD_LEFT + (i + 0.5) * step for i in range(len(power_numbers))]
    return _svg("".join(parts + _x_labels(labels[: len(positions)], positions)), title)
