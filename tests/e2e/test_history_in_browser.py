"""The driver's charging history and a session's curve, as a person sees them in headless chromium."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from sessions_app.models import MeterValue
from tests.e2e.browser import log_in
from tests.factories import make_session, make_tariff

pytestmark = pytest.mark.django_db(transaction=True)


def test_driver_reads_their_history_and_a_sessions_curve(page, live_server, world):
    from billing.services import session_price_freeze, tariff_assignment_create

    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"))
    connector = world.cp_a.connectors.first()
    started = timezone.now().replace(microsecond=0) - timedelta(days=2)
    session = make_session(connector, world.alice_card, started_at=started, minutes=90, energy_wh=15_000)
    for minute in range(0, 91, 5):
        at = started + timedelta(minutes=minute)
        MeterValue.objects.create(
            charge_point=world.cp_a,
            connector=connector,
            session=session,
            timestamp=at,
            value=Decimal(session.meter_start_wh + minute * 15_000 // 90),
        )
        MeterValue.objects.create(
            charge_point=world.cp_a,
            connector=connector,
            session=session,
            timestamp=at,
            measurand="Power.Active.Import",
            value=Decimal(10_000),
            unit="W",
        )
    session_price_freeze(session=session)
    make_session(connector, world.alice_card, started_at=started - timedelta(days=30), energy_wh=4_000)
    bobs = make_session(connector, world.bob_card, started_at=started, energy_wh=7_777)

    log_in(page, live_server, world.alice, next_url="/history/")
    page.wait_for_url(f"{live_server.url}/history/")
    table = page.inner_text("#history-table")
    assert "15.00" in table and "10.00" in table and "60.00 SEK" in table and "1:30" in table
    assert "7.78" not in table and world.bob_card.uid not in table
    assert page.locator("#months svg.chart").count() == 2 and page.locator("#months-table tbody tr").count() == 12
    energy_chart = page.locator("#months svg.chart").first
    assert energy_chart.is_visible() and energy_chart.bounding_box()["width"] > 300
    assert page.locator("#months svg.chart rect:not([height='0.0'])").count() >= 2  # two months with energy

    page.click(f"tr[data-session='{session.pk}'] a")
    page.wait_for_url(f"{live_server.url}/history/{session.pk}/")
    assert page.locator("#curve svg.chart polyline").count() == 2
    assert page.locator("#curve svg.chart").is_visible()
    assert "60.00 SEK" in page.inner_text("#price-gross") and "48.00 SEK" in page.inner_text("#price-net")
    page.click("#curve summary")
    assert "15.000" in page.inner_text("#curve-table")

    assert page.problems == []

    assert page.goto(f"{live_server.url}/history/{bobs.pk}/").status == 404
