"""The admin's command form in headless chromium: only the chosen command's fields show, and it sends and tells
the outcome in ``commands.outcome_text``'s words."""

import re

import pytest

from tests.e2e.browser import log_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_command_form_shows_only_the_fields_of_the_chosen_command(page, live_server, world):
    log_in(page, live_server, world.carol, next_url=f"/admin/sessions_app/chargepoint/{world.cp_a.pk}/commands/")
    page.wait_for_url(re.compile(r".*/commands/$"))

    def shown() -> set[str]:
        return {
            name
            for name in ("connector_id", "id_tag", "session", "reset_type", "vendor_id", "message_id", "duration")
            if page.locator(f".form-row.field-{name}").is_visible()
        }

    page.select_option("#id_action", "DataTransfer")
    assert shown() == {"vendor_id", "message_id"}
    page.select_option("#id_action", "RemoteStartTransaction")
    assert shown() == {"connector_id", "id_tag"}
    page.select_option("#id_action", "GetCompositeSchedule")
    assert shown() == {"connector_id", "duration"}
    page.select_option("#id_action", "ClearCache")
    assert shown() == set()

    page.click("input[type=submit]")  # the charger is offline: the page says so, the form comes back as chosen
    page.wait_for_load_state()
    # commands.outcome_text's words, as every page that reports a command says it
    assert page.locator("#command-outcome").inner_text() == "The charger was offline, so nothing was sent."
    assert "The charger was offline, so nothing was sent" in page.locator("#command-history").inner_text()
    assert page.locator("#id_action").input_value() == "ClearCache"
    assert not page.locator(".form-row.field-vendor_id").is_visible()
    assert page.problems == []
