"""Server-drawn SVG charts: the numbers and labels are in them, escaped, with no script or network."""

from decimal import Decimal

from reporting.charts import bar_chart, heatmap, line_chart


def test_bars_carry_each_value_and_label():
    svg = bar_chart(["Jan", "Feb", "<b>"], [10, Decimal("2.5"), 0], title="Energy", unit="kWh")
    assert svg.startswith("<svg") and svg.count("<rect") == 3
    assert "Jan: 10 kWh" in svg and "Feb: 2.5 kWh" in svg and "&lt;b&gt;" in svg and "<b>" not in svg
    assert "<script" not in svg and "http://" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_lines_and_an_empty_chart():
    svg = line_chart(["0", "5", "10"], {"kW": [0, 11, 7], "kWh": [0, 1, 2]}, title="Session", unit="kW")
    assert svg.count("<polyline") == 2
    assert line_chart([], {}, title="Nothing").startswith("<svg")
    assert bar_chart([], [], title="Nothing").startswith("<svg")


def test_heatmap_shades_by_value():
    svg = heatmap(["Mon", "Tue"], ["00", "01"], [[0, 4], [2, 0]], title="Demand", unit="sessions")
    assert svg.count("<rect") == 4
    assert 'fill-opacity="1.00"' in svg and 'fill-opacity="0.06"' in svg and "Mon 01: 4 sessions" in svg
