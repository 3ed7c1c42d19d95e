"""The driver portal's tables on a phone (390 px) and a laptop (1366 px): the key cells are on the screen
and nothing makes the page wider than the screen, in English and in Swedish."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.e2e.browser import log_in
from tests.factories import make_session, make_tariff

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 768}


def _portal_data(world):
    from accounts.models import Organization
    from billing.ledger import payment_record
    from billing.models import Statement
    from billing.services import session_price_freeze, tariff_assignment_create
    from billing.statements import statement_create

    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"))
    # Alice pays by invoice: the payments page shows where to transfer to, with long names and numbers.
    Organization.objects.filter(pk=world.org_a.pk).update(
        bank_account_holder="Alpha Charge Kundreskontra och Fakturering AB",
        iban="SE4550000000058398257466",
        bic="ESSESESS",
        other_bank_account="Bankgiro 5050-1055 (OCR-nummer krävs, annars Plusgiro 12 34 56-7)",
    )
    connector = world.cp_a.connectors.first()
    now = timezone.now().replace(microsecond=0)
    for days in (3, 2, 1):
        session = make_session(connector, world.alice_card, started_at=now - timedelta(days=days), energy_wh=15_000)
        session_price_freeze(session=session)
    account = world.alice.customer_account
    payment_record(
        customer_account=account,
        amount=Decimal("120.00"),
        method="bank",
        reference="Bankgiro 5050-1055 OCR 4711000000000042",
        key="phone-portal-payment",
        at=now - timedelta(hours=2),
    )
    statement = statement_create(customer_account=account, start=now - timedelta(days=10), end=now, kind="on_demand")
    # Listed once issued; its PDF (WeasyPrint, slow) is not what this test is about.
    Statement.objects.filter(pk=statement.pk).update(status=Statement.Status.ISSUED)


OUTSIDE_JS = """element => {
    // The element's box must lie inside the viewport and inside every ancestor that clips (a scroll box).
    const box = element.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) return "not shown";
    const inside = (outer) => box.left >= outer.left - 0.5 && box.right <= outer.right + 0.5;
    if (!inside({left: 0, right: document.documentElement.clientWidth})) return "outside the viewport";
    if (element.clientWidth > 0 && element.scrollWidth > element.clientWidth + 1) return "its text runs out of it";
    for (let parent = element.parentElement; parent; parent = parent.parentElement) {
        if (getComputedStyle(parent).overflowX !== "visible" && !inside(parent.getBoundingClientRect())) {
            return "hidden in a scroll box";
        }
    }
    return "";
}"""


def _off_screen(page, selectors: list[str]) -> list[str]:
    """The selectors whose first match is not wholly on the screen, left to right, as the page opens (nothing is
    scrolled sideways: a reader would have to)."""
    outside = []
    for selector in selectors:
        problem = page.locator(selector).first.evaluate(OUTSIDE_JS)
        if problem:
            outside.append(f"{selector}: {problem}")
    return outside


def _document_width(page) -> int:
    return page.evaluate("Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)")


PAGES = {
    "/history/": [
        "#history-table tbody tr:first-child td[data-label] >> nth=0",  # date
        "#history-table tbody tr:first-child td.key >> nth=1",  # station
        "#history-table tbody tr:first-child td.key >> nth=2",  # energy
        "#history-table tbody tr:first-child td.key >> nth=3",  # cost
        "#history-table tbody tr:first-child td.wrap-cell >> nth=1",  # paid by
    ],
    "/statements/": ["#statement-list tbody tr:first-child a[download]", "#statement-list tbody tr:first-child td.key"],
    "/payments/": [
        "#ledger tbody tr:first-child td.key >> nth=0",  # date
        "#ledger tbody tr:first-child td.num",  # amount
        "#bank-holder",  # the bank transfer's details
        "#bank-iban",
        "#bank-other-account",
        "#payment-reference",
    ],
}


@pytest.mark.parametrize("viewport", [PHONE, LAPTOP], ids=["390px", "1366px"])
def test_key_cells_of_the_drivers_tables_are_on_the_screen(page, live_server, world, viewport):
    _portal_data(world)
    page.set_viewport_size(viewport)
    log_in(page, live_server, world.alice, next_url="/history/")
    page.wait_for_url(f"{live_server.url}/history/")
    for path, selectors in PAGES.items():
        page.goto(f"{live_server.url}{path}")
        assert page.locator(selectors[0]).count() == 1, path
        key_cells = page.locator("table.stack tbody tr:first-child td.key")
        assert _off_screen(page, selectors) == [], path
        assert [key_cells.nth(n).evaluate(OUTSIDE_JS) for n in range(key_cells.count())] == [""] * key_cells.count(), (
            path
        )
        assert _document_width(page) <= viewport["width"], path
    # The labels a phone shows come with the cells; the figures are the ones the laptop shows.
    page.goto(f"{live_server.url}/history/")
    cost = page.locator("#history-table tbody tr:first-child td.key >> nth=3")
    assert cost.get_attribute("data-label") == "Cost" and "60.00 SEK" in cost.inner_text()
    page.goto(f"{live_server.url}/payments/")
    ledger = page.inner_text("#ledger")
    assert "Bankgiro 5050-1055" in ledger and "60.00 SEK" in ledger
    assert page.inner_text("#bank-iban") == "SE45 5000 0000 0583 9825 7466"
    if viewport is PHONE:  # a row is a card: the date comes first, labelled
        first = page.locator("#ledger tbody tr:first-child td").first
        assert first.get_attribute("data-label") == "Date"
        assert page.locator("#ledger thead").bounding_box()["height"] <= 1

    page.click("form.lang button[value=sv]")
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "sv"
    page.goto(f"{live_server.url}/payments/")
    assert _off_screen(page, PAGES["/payments/"]) == []
    assert _document_width(page) <= viewport["width"]
    assert page.problems == []
