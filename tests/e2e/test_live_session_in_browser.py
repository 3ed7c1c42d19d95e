"""The running session on the driver's dashboard updates itself as the charger reports, in headless chromium."""

from datetime import timedelta
from decimal import Decimal

import pytest
from allauth.account.models import EmailAddress
from django.utils import timezone
from playwright.sync_api import expect

from sessions_app.models import MeterValue
from tests.conftest import PASSWORD
from tests.factories import make_session

pytestmark = pytest.mark.django_db(transaction=True)


def reading(
    session, minutes: int, value: str, measurand: str = "Energy.Active.Import.Register", unit: str = "Wh"
) -> None:
    MeterValue.objects.create(
        charge_point=session.charge_point,
        connector=session.connector,
        session=session,
        timestamp=session.started_at + timedelta(minutes=minutes),
        measurand=measurand,
        value=Decimal(value),
        unit=unit,
    )


def test_running_session_figures_update_without_reloading(page, live_server, world):
    session = make_session(
        world.cp_a.connectors.first(),
        world.alice_card,
        energy_wh=None,
        started_at=timezone.now() - timedelta(minutes=30),
    )
    reading(session, 10, "1001500")
    reading(session, 10, "7200", measurand="Power.Active.Import", unit="W")
    EmailAddress.objects.create(user=world.alice, email=world.alice.email, primary=True, verified=True)

    page.goto(f"{live_server.url}/accounts/login/?next=/")
    page.fill("input[name=login]", world.alice.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form:has(input[name=password]) button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    energy, power = page.locator('[data-live="energy_kwh_display"]'), page.locator('[data-live="power_kw_display"]')
    assert energy.inner_text() == "1.50" and power.inner_text() == "7.2"
    assert page.locator(f"form[action$='/charging/sessions/{session.pk}/stop/'] button").is_visible()
    page.evaluate("window.loadedOnce = true")  # gone if the page reloads

    reading(session, 20, "1004750")
    reading(session, 20, "11000", measurand="Power.Active.Import", unit="W")

    expect(energy).to_have_text("4.75", timeout=15_000)  # not wait_for_function: the page's CSP forbids eval
    assert power.inner_text() == "11.0"
    assert page.evaluate("window.loadedOnce") is True
    assert page.problems == []
