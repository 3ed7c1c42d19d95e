"""A load group in headless chromium: its page's live part follows a new share without a reload, under the CSP; a
lower limit saved in the admin reaches a charging car's charger within seconds."""

from decimal import Decimal

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from sessions_app.models import ConnectorAllocation, LoadGroup
from tests.e2e.browser import log_in
from tests.e2e.ocpp_client import ChargerThread
from tests.e2e.test_load_management import ObedientCharger
from tests.e2e.test_ocpp_commands import needs_redis
from tests.factories import make_session

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_live_allocation_updates_without_reloading(page, live_server, world):
    group = LoadGroup.objects.create(site=world.site_a, name="Garage", limit=Decimal(22))
    connector = world.cp_a.connectors.get(number=1)
    session = make_session(connector, world.alice_card, energy_wh=None)
    allocation = ConnectorAllocation.objects.create(
        connector=connector, group=group, session=session, limit_w=11040, limit_a=Decimal(16), status="accepted"
    )
    url = reverse("admin:reporting_load_group", args=[group.pk])
    log_in(page, live_server, world.carol, next_url=url)
    page.wait_for_url(f"{live_server.url}{url}")
    rows = page.locator("#load-rows tr")
    expect(rows.first).to_contain_text("11.04")
    assert page.locator("svg.chart").count() == 2
    page.evaluate("window.loadedOnce = true")  # gone if the page reloads

    ConnectorAllocation.objects.filter(pk=allocation.pk).update(limit_w=6900, limit_a=Decimal(10), status="waiting")

    expect(rows.first).to_contain_text("Waiting for its turn", timeout=15_000)
    assert "6.90" in rows.first.inner_text()
    assert page.evaluate("window.loadedOnce") is True
    assert page.problems == []


@needs_redis
def test_a_lower_limit_saved_in_the_admin_reaches_the_charging_car(page, live_server, asgi_server, world, settings):
    """The admin (the live server, tasks inline) shares the group at once and its profile crosses to the ASGI
    server holding the charger through the Redis channel layer."""
    settings.CELERY_TASK_ALWAYS_EAGER = True  # no worker here
    group = LoadGroup.objects.create(site=world.site_a, name="Garage", limit=Decimal(22))
    charger = ChargerThread(asgi_server, "ALPHA-1", charger_class=ObedientCharger)
    obedient = charger.charger
    try:
        charger.run(obedient.boot())
        charger.run(obedient.start_charging(1, world.alice_card.uid))
        charger.run(obedient.until(lambda: obedient.limits.get(1) == 31.8))  # alone: its 22 kW maximum

        url = reverse("admin:sessions_app_loadgroup_change", args=[group.pk])
        log_in(page, live_server, world.carol, next_url=url)
        page.fill("#id_limit", "11")
        page.click("input[name=_save]")
        expect(page.locator(".messagelist")).to_contain_text("changed successfully")

        charger.run(obedient.until(lambda: obedient.limits.get(1) == 15.9))  # 11 kW
    finally:
        charger.close()
    assert page.problems == []
