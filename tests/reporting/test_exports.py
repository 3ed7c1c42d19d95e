"""Every operator table downloads as CSV and XLSX, and both parse back to the selector's rows."""

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from core.exports import XLSX_CONTENT_TYPE, Table, table_response, xlsx_bytes
from reporting.models import DriverDay
from reporting.overview import Period, operator_overview, overview_tables
from tests.factories import make_charge_point, make_connector_hour, make_site_peak

URL_PARAMS = {"period": "week", "day": "2026-05-06"}
WEEK = Period(date(2026, 5, 4), date(2026, 5, 10), "Europe/Stockholm")


def _csv(response) -> list[list[str]]:
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode())))


def _xlsx(content: bytes) -> dict[str, list[list]]:
    workbook = load_workbook(io.BytesIO(content))
    return {sheet.title: [list(row) for row in sheet.iter_rows(values_only=True)] for sheet in workbook.worksheets}


def _as_csv(value) -> str:
    return "" if value is None else str(value)


def _same_number_or_text(read, written) -> bool:
    if written is None:
        return read is None
    if isinstance(written, int | Decimal) and not isinstance(written, bool):
        return isinstance(read, int | float) and Decimal(str(read)) == Decimal(written)
    return read == str(written)


@pytest.fixture
def data(world):
    alpha_2 = make_charge_point(world.site_a, "ALPHA-2", connectors=1)
    one, two = world.cp_a.connectors.get(number=1), world.cp_a.connectors.get(number=2)
    at = datetime(2026, 5, 5, 16, tzinfo=UTC)  # Tuesday 18:00 in Stockholm
    rows = [(one, 3, 31_415, "123.45", 3600), (two, 1, 2_000, "8.00", 900), (alpha_2.connectors.get(), 0, 0, "0", 0)]
    for connector, sessions, energy, revenue, occupied in rows:
        make_connector_hour(
            connector,
            at,
            sessions=sessions,
            energy_wh=energy,
            revenue=Decimal(revenue),
            occupied_s=occupied,
            charging_s=occupied // 2,
        )
    make_site_peak(world.site_a, at, 2)
    DriverDay.objects.create(
        organization=world.org_a,
        site=world.site_a,
        charge_point=world.cp_a,
        customer_account=world.alice.customer_account,
        day=date(2026, 5, 5),
    )
    make_connector_hour(world.cp_b.connectors.first(), at, sessions=5, energy_wh=77_777)
    return world


def test_every_overview_table_round_trips_through_csv_and_xlsx(client, data):
    client.force_login(data.carol)
    tables = overview_tables(operator_overview(organization=data.org_a, period=WEEK))
    url = reverse("admin:reporting_overview")
    assert len(tables) == 8
    for key, table in tables.items():
        assert table.rows, key
        rows = _csv(client.get(url, {**URL_PARAMS, "table": key, "format": "csv"}))
        assert rows[0] == [str(header) for header in table.headers]
        assert rows[1:] == [[_as_csv(value) for value in row] for row in table.rows], key

        response = client.get(url, {**URL_PARAMS, "table": key, "format": "xlsx"})
        assert response["Content-Type"] == XLSX_CONTENT_TYPE
        assert f"-{key}.xlsx" in response["Content-Disposition"]
        [(title, sheet)] = _xlsx(response.content).items()
        assert title == table.title[:31]
        assert sheet[0] == [str(header) for header in table.headers]
        assert len(sheet) == len(table.rows) + 1
        for read_row, row in zip(sheet[1:], table.rows, strict=True):
            assert all(_same_number_or_text(r, w) for r, w in zip(read_row, row, strict=True)), (key, read_row, row)


def test_the_figures_in_the_exports_are_the_operators_own(client, data):
    client.force_login(data.carol)
    rows = _csv(
        client.get(
            reverse("admin:reporting_overview"),
            {**URL_PARAMS, "table": "stations", "format": "csv", "organization": data.org_b.pk},
        )
    )
    assert [row[0] for row in rows[1:]] == ["ALPHA-1", "ALPHA-2"]
    assert rows[1][3:6] == ["4", "33.415", "131.45"]  # sessions, kWh, revenue of ALPHA-1
    trends = {
        row[0]: row
        for row in _csv(
            client.get(reverse("admin:reporting_overview"), {**URL_PARAMS, "table": "trends", "format": "csv"})
        )
    }
    assert trends["Sessions"][1:] == ["4", "0", ""]
    assert trends["Unique drivers"][1] == "1"


def test_xlsx_without_a_table_is_every_table_as_a_sheet(client, data):
    client.force_login(data.carol)
    response = client.get(reverse("admin:reporting_overview"), {**URL_PARAMS, "format": "xlsx"})
    sheets = _xlsx(response.content)
    tables = overview_tables(operator_overview(organization=data.org_a, period=WEEK))
    assert list(sheets) == [table.title[:31] for table in tables.values()]
    assert sheets[tables["heatmap"].title[:31]][2][19] == 4  # Tuesday, 18:00 local (16:00 UTC)


def test_an_unknown_table_or_format_is_not_found_or_the_page(client, data):
    client.force_login(data.carol)
    url = reverse("admin:reporting_overview")
    assert client.get(url, {**URL_PARAMS, "table": "secrets", "format": "csv"}).status_code == 404
    assert client.get(url, {**URL_PARAMS, "format": "csv"}).status_code == 404  # which table?
    assert client.get(url, {**URL_PARAMS, "format": "pdf"})["Content-Type"].startswith("text/html")


def test_billing_revenue_and_reconciliation_also_export_xlsx_with_the_csv_rows(client, world):
    from billing.services import session_price_freeze, tariff_assignment_create
    from tests.factories import make_session, make_tariff

    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"))
    session_price_freeze(session=make_session(world.cp_a.connectors.first(), world.alice_card, energy_wh=10_000))
    client.force_login(world.carol)
    for name in ("admin:billing_revenue", "admin:billing_reconciliation"):
        params = {"period": "month"}
        csv_rows = _csv(client.get(reverse(name), {**params, "format": "csv"}))
        response = client.get(reverse(name), {**params, "format": "xlsx"})
        assert response["Content-Type"] == XLSX_CONTENT_TYPE and ".xlsx" in response["Content-Disposition"]
        [sheet] = _xlsx(response.content).values()
        assert len(sheet) == len(csv_rows) > 1
        for read_row, csv_row in zip(sheet, csv_rows, strict=True):
            for read, text in zip(read_row, csv_row, strict=True):
                assert (read is None and text == "") or str(read) == text or Decimal(str(read)) == Decimal(text)


def test_xlsx_cells_keep_numbers_and_dates_and_show_aware_times_in_the_current_zone(settings):
    settings.TIME_ZONE = "Europe/Stockholm"
    moment = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST
    table = Table(
        "t",
        "Odd: name/with [chars]*?",
        ["When", "Day", "Amount", "Count", "Note", "Empty"],
        [[moment, date(2026, 3, 29), Decimal("12.34"), 7, "text", None]],
    )
    sheets = _xlsx(xlsx_bytes([table, Table("u", table.title, ["x"], [])]))
    assert list(sheets) == ["Odd  name with  chars", "Odd  name with  chars 2"]  # Excel's rules, unique
    naive = moment.astimezone(ZoneInfo("Europe/Stockholm")).replace(tzinfo=None)
    assert naive.hour == 3
    assert sheets["Odd  name with  chars"][1] == [naive, naive.replace(hour=0, minute=0), 12.34, 7, "text", None]
    response = table_response("csv", filename_stem="t", headers=table.headers, rows=table.rows)
    assert _csv(response)[1] == [str(moment), "2026-03-29", "12.34", "7", "text", ""]
    with pytest.raises(ValueError, match="Unknown export format"):
        table_response("pdf", filename_stem="t", headers=[], rows=[])
