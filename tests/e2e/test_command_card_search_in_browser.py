"""The command form's card is found by typing part of it (the admin's autocomplete), then sent."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.browser import log_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_card_is_found_by_search_and_chosen(page, live_server, world):
    aborted = []
    page.on("requestfailed", lambda request: aborted.append(request.failure))
    log_in(page, live_server, world.carol, next_url=f"/admin/sessions_app/chargepoint/{world.cp_a.pk}/commands/")
    page.wait_for_url(re.compile(r".*/commands/$"))
    page.select_option("#id_action", "RemoteStartTransaction")
    page.click(".field-id_tag .select2-selection")
    page.fill(".select2-search__field", "A1B2")
    option = page.locator(".select2-results__option", has_text="04A1B2C3")
    option.wait_for(timeout=5000)
    # Bob's card (the same operator's) is in the list select2 shows on opening, until the typed search answers.
    expect(page.locator(".select2-results__option", has_text="04B0B0B0")).to_have_count(0)
    option.click()
    assert page.locator("#id_id_tag").input_value() == str(world.alice_card.pk)
    # select2 aborts the search it sent on opening when the typed one follows: that abort is no problem.
    assert [problem for problem in page.problems if "/admin/autocomplete/" not in problem] == []
    assert set(aborted) <= {"net::ERR_ABORTED"}
