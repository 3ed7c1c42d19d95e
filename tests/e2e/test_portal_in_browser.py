"""The driver's pages and the operator's admin, as a person sees them in headless chromium."""

import re

import pytest

from accounts.models import IdTag
from tests.e2e.browser import log_in
from tests.factories import make_session

pytestmark = pytest.mark.django_db(transaction=True)


def test_driver_logs_in_sees_sessions_and_reports_a_card_lost(page, live_server, world):
    make_session(world.cp_a.connectors.first(), world.alice_card, energy_wh=12_345, minutes=95)
    make_session(world.cp_a.connectors.first(), world.bob_card, energy_wh=7_777)

    log_in(page, live_server, world.alice)

    page.wait_for_url(f"{live_server.url}/")
    body = page.inner_text("body")
    assert world.alice_card.uid in body and "12.35" in body and "1:35" in body
    assert world.bob_card.uid not in body

    page.goto(f"{live_server.url}/cards/")
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("form[action$='/lost/'] button")
    page.wait_for_load_state()
    assert IdTag.objects.get(pk=world.alice_card.pk).status == IdTag.Status.LOST
    assert page.problems == []


def test_driver_switches_the_portal_to_swedish(page, live_server, world):
    log_in(page, live_server, world.alice)
    page.wait_for_url(f"{live_server.url}/")
    page.click("form[action$='/i18n/setlang/'] button[value=sv]")
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "sv"
    assert re.search(r"Mina kort|Översikt", page.inner_text("body"))
    assert page.problems == []


def test_operator_sees_only_their_stations_in_the_admin(page, live_server, world):
    log_in(page, live_server, world.carol, next_url="/admin/sessions_app/chargepoint/")
    page.wait_for_url(re.compile(r".*/admin/sessions_app/chargepoint/$"))
    body = page.inner_text("#changelist")
    assert "ALPHA-1" in body and "BETA-1" not in body
    assert page.problems == []


def test_driver_sees_their_wallet_and_what_it_paid_on_the_payments_page(page, live_server, world):
    from billing.ledger import payment_method_set, wallet_top_up
    from billing.models import LedgerEntry, PaymentAccount
    from billing.services import session_price_freeze, tariff_assignment_create
    from tests.factories import make_tariff

    account = world.alice.customer_account
    payment_method_set(customer_account=account, method=PaymentAccount.Method.WALLET)
    wallet_top_up(
        customer_account=account, amount="300.00", method=LedgerEntry.Method.BANK, reference="BG 4711", key="browser:1"
    )
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"))
    session_price_freeze(session=make_session(world.cp_a.connectors.first(), world.alice_card, energy_wh=10_000))

    log_in(page, live_server, world.alice, next_url="/payments/")
    page.wait_for_url(f"{live_server.url}/payments/")
    body = page.inner_text("body")
    assert "Prepaid wallet" in body and "260.00" in body and "BG 4711" in body and "40.00" in body
    assert page.problems == []
