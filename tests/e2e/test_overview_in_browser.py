"""The operator overview as an operator sees it in headless chromium: charts, tables, downloads, no errors."""

import csv
import io
import re
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import urljoin

import pytest

from tests.e2e.browser import log_in
from tests.factories import make_connector_hour, make_site_peak

pytestmark = pytest.mark.django_db(transaction=True)


def test_operator_opens_the_overview_from_the_admin_index_and_downloads_a_table(page, live_server, world):
    at = datetime(2026, 5, 5, 16, tzinfo=UTC)  # Tuesday 18:00 in Stockholm
    for connector, sessions in zip(world.cp_a.connectors.order_by("number"), (3, 2), strict=True):
        make_connector_hour(
            connector,
            at,
            sessions=sessions,
            energy_wh=12_345 * sessions,
            revenue=Decimal("49.00") * sessions,
            occupied_s=3000,
            charging_s=2400,
        )
    make_site_peak(world.site_a, at, 2)
    make_connector_hour(world.cp_b.connectors.first(), at, sessions=9, energy_wh=98_765)

    log_in(page, live_server, world.carol, next_url="/admin/")
    page.wait_for_url(re.compile(r".*/admin/$"))
    page.click("#content-main a:has-text('Operator overview')")
    page.wait_for_url(re.compile(r".*/admin/reporting/overview/"))
    page.select_option("select[name=period]", "week")
    page.fill("input[name=day]", "2026-05-06")
    page.click("#report-form input[type=submit]")
    page.wait_for_load_state()

    assert page.locator("svg.chart").count() == 4
    assert re.search(r"Sessions\s+5\s", page.inner_text("#key-figures"))
    stations = page.inner_text("#table-stations")
    assert "ALPHA-1" in stations and "61.725" in stations and "BETA-1" not in stations
    assert "Runs near full" in page.inner_text("#table-callouts")  # both connectors at once
    heatmap = page.locator("#table-heatmap tbody tr").nth(1).locator("td")
    assert heatmap.nth(0).inner_text() == "Tue" and heatmap.nth(19).inner_text() == "5"

    # The link's download, fetched with the page's session (a click would abort the page's request).
    download = page.request.get(urljoin(page.url, page.get_attribute("#table-stations a.csv-link", "href")))
    assert download.ok and download.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(download.text())))
    assert rows[1][:4] == ["ALPHA-1", "Alpha Depot", "2", "5"]
    assert page.problems == []
