"""The start page's "Stations nearest to me": the static script sends the browser's position, the page lists the
nearest station first, and picking it offers only its connectors (headless chromium, under the CSP)."""

import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from sessions_app.models import ChargePoint, Connector, Site
from tests.e2e.browser import log_in
from tests.factories import make_charge_point, make_site

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_nearest_station_comes_first_and_is_picked(page, live_server, world):
    harbour = make_site(world.org_a, "Alpha Harbour")
    Site.objects.filter(pk=harbour.pk).update(
        city="Göteborg", latitude=Decimal("57.7089"), longitude=Decimal("11.9746")
    )
    gbg = make_charge_point(harbour, "ALPHA-GBG")
    for cp in (world.cp_a, gbg):
        ChargePoint.objects.filter(pk=cp.pk).update(channel_name=f"specific.test!{cp.pk}", last_seen_at=timezone.now())
        Connector.objects.filter(charge_point=cp).update(status="Available")
    page.context.grant_permissions(["geolocation"], origin=live_server.url)
    page.context.set_geolocation({"latitude": 57.70, "longitude": 11.97})
    log_in(page, live_server, world.alice, next_url=reverse("charging_start"))
    page.wait_for_url(re.compile(r".*/charging/start/$"))

    page.click("#nearest-station")
    page.wait_for_url(re.compile(r".*/charging/start/\?lat=57\.7\d*&lon=11\.97\d*$"))
    first = page.locator("#found-stations li").first
    assert "ALPHA-GBG" in first.inner_text() and "km away" in first.inner_text()
    first.locator("a").click()

    page.wait_for_url(re.compile(rf".*/charging/start/\?station={gbg.pk}$"))
    options = page.locator("select[name=connector] option").all_inner_texts()
    assert options and all(option.startswith("ALPHA-GBG") for option in options)
    assert page.problems == []
