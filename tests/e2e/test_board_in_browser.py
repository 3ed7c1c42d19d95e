"""The live operations board in headless chromium next to a real charger on the real server: a connector's
new state shows within two seconds of its StatusNotification without a reload, and Stop reaches the charger.

The charger runs in its own thread and event loop (Playwright's sync API holds this thread's loop); the
board's command goes from the live server through the Redis channel layer to the server holding the socket.
"""

import asyncio
import threading
import time

import pytest
from django.conf import settings
from ocpp.v16 import call
from playwright.sync_api import expect

from sessions_app.models import ChargingSession
from tests.e2e.browser import log_in
from tests.e2e.ocpp_client import connected, iso

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not settings.REDIS_URL, reason="The board's command crosses processes through the Redis channel layer."
    ),
]


class ChargerThread:
    """A charger connected to the server, driven from the test's thread."""

    def __init__(self, url: str, ocpp_id: str):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.context = connected(url, ocpp_id)
        self.charger = self.run(self.context.__aenter__())

    def run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(20)

    def close(self) -> None:
        try:
            self.run(self.context.__aexit__(None, None, None))
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
            self.loop.close()


def status(connector_id: int, state: str, error_code: str = "NoError"):
    return call.StatusNotification(connector_id=connector_id, error_code=error_code, status=state, timestamp=iso())


def test_the_board_follows_the_charger_and_its_stop_reaches_the_charger(page, live_server, asgi_server, world):
    first, second = world.cp_a.connectors.get(number=1), world.cp_a.connectors.get(number=2)
    charger = ChargerThread(asgi_server, "ALPHA-1")
    try:
        charger.run(charger.charger.boot())
        for connector_id in (1, 2):
            charger.run(charger.charger.call(status(connector_id, "Available"), suppress=False))
        started = charger.run(
            charger.charger.call(
                call.StartTransaction(connector_id=1, id_tag=world.alice_card.uid, meter_start=1000, timestamp=iso()),
                suppress=False,
            )
        )
        charger.run(charger.charger.call(status(1, "Charging"), suppress=False))
        session = ChargingSession.objects.get(pk=started.transaction_id)

        log_in(page, live_server, world.carol, next_url="/admin/sessions_app/board/")
        page.wait_for_url(f"{live_server.url}/admin/sessions_app/board/")
        first_state = page.locator(f'tr[data-connector="{first.pk}"] [data-status]')
        second_state = page.locator(f'tr[data-connector="{second.pk}"] [data-status]')
        expect(first_state).to_have_attribute("data-status", "Charging")
        expect(second_state).to_have_attribute("data-status", "Available")
        page.evaluate("window.loadedOnce = true")  # gone if the page reloads

        charger.run(charger.charger.call(status(2, "Faulted", "GroundFailure"), suppress=False))
        answered = time.monotonic()
        expect(second_state).to_have_attribute("data-status", "Faulted", timeout=2_000)
        assert time.monotonic() - answered < 2
        expect(page.locator(f'tr[data-connector="{second.pk}"]')).to_contain_text("Ground failure")
        assert page.evaluate("window.loadedOnce") is True

        page.once("dialog", lambda dialog: dialog.accept())
        page.locator(f'tr[data-connector="{first.pk}"] button.board-stop').click()
        expect(page.locator(".messagelist")).to_contain_text("Accepted", timeout=10_000)
        assert ("RemoteStopTransaction", {"transaction_id": session.pk}) in charger.charger.commands
    finally:
        charger.close()
    assert page.problems == []
