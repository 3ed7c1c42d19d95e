"""Pages that run scripts still work in headless chromium under the Content-Security-Policy.

A blocked script or style shows as a console error, which ``page.problems`` records.
"""

import re

import pytest
from django.urls import reverse

from tests.conftest import PASSWORD
from tests.e2e.browser import log_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_api_docs_render_swagger_ui_and_the_app_login_docs_render_redoc(page, live_server):
    page.goto(f"{live_server.url}{reverse('api_docs')}")
    page.wait_for_selector(".swagger-ui .opblock", timeout=20_000)  # the operations, drawn by its script
    page.goto(f"{live_server.url}{reverse('headless:openapi_html')}")
    page.wait_for_selector(".api-content", timeout=20_000)
    # Redoc's footer logo comes from its CDN: blocked on purpose (no outside requests), Redoc then hides it.
    assert [problem for problem in page.problems if "cdn.redoc.ly" not in problem] == []


def test_the_admin_change_form_and_the_two_factor_set_up_work(page, live_server, world):
    log_in(
        page, live_server, world.carol, next_url=reverse("admin:sessions_app_chargepoint_change", args=[world.cp_a.pk])
    )
    page.wait_for_url(re.compile(r".*/admin/sessions_app/chargepoint/\d+/change/$"))
    page.wait_for_load_state("networkidle")
    assert page.locator("#chargepoint_form").is_visible()
    page.goto(f"{live_server.url}{reverse('mfa_activate_totp')}")
    if "/reauthenticate/" in page.url:  # allauth asks for the password again first
        page.fill("input[name=password]", PASSWORD)
        page.click("form:has(input[name=password]) button[type=submit]")
    page.wait_for_url(re.compile(r".*/2fa/totp/activate/$"))
    page.wait_for_load_state("networkidle")
    assert page.locator("img[src^='data:']").count() == 1  # the QR code
    assert page.problems == []


def test_the_start_page_shows_the_connector_price_from_its_script(page, live_server, world):
    log_in(page, live_server, world.alice, next_url=reverse("charging_start"))
    page.wait_for_url(re.compile(r".*/charging/start/$"))
    page.wait_for_load_state("networkidle")
    assert page.problems == []
