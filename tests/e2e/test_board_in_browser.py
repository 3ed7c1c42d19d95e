"""The live operations board in headless chromium next to a real charger on the real server: a connector's
new state shows within two seconds of its StatusNotification without a reload, pushed over the board's
websocket (the page says "live" and does not poll); with the websocket unavailable, the page says "polling"
and still follows; and Stop reaches the charger.

The charger runs in its own thread and event loop (Playwright's sync API holds this thread's loop). The page
comes from the test's live server, its websocket from the ASGI server holding the charger (BOARD_WEBSOCKET_URL:
the same host, so the session cookie signs it in); the push and the board's command cross between the two
through the Redis channel layer.
"""

import socket
import time
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from ocpp.v16 import call
from playwright.sync_api import expect

from sessions_app.models import ChargingSession
from tests.e2e.browser import log_in
from tests.e2e.ocpp_client import ChargerThread, iso

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not settings.REDIS_URL, reason="The board's push and command cross processes through the Redis channel layer."
    ),
]


def status(connector_id: int, state: str, error_code: str = "NoError"):
    return call.StatusNotification(connector_id=connector_id, error_code=error_code, status=state, timestamp=iso())


def _charging_on_one(charger: ChargerThread, world) -> ChargingSession:
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
    return ChargingSession.objects.get(pk=started.transaction_id)


def _board_websocket(live_server, asgi_server: str) -> str:
    """The ASGI server's board websocket under the live server's host name, so the browser sends it the session
    cookie it got from the live server (cookies ignore the port)."""
    return f"{asgi_server}/ws/board/".replace("127.0.0.1", urlsplit(live_server.url).hostname)


def _open_board(page, live_server, world) -> None:
    log_in(page, live_server, world.carol, next_url="/admin/sessions_app/board/")
    page.wait_for_url(f"{live_server.url}/admin/sessions_app/board/")
    page.evaluate("window.loadedOnce = true")  # gone if the page reloads


def _faulted_shows_within(page, charger: ChargerThread, connector, seconds: float) -> None:
    state = page.locator(f'tr[data-connector="{connector.pk}"] [data-status]')
    expect(state).to_have_attribute("data-status", "Available")
    charger.run(charger.charger.call(status(connector.number, "Faulted", "GroundFailure"), suppress=False))
    answered = time.monotonic()
    expect(state).to_have_attribute("data-status", "Faulted", timeout=seconds * 1000)
    assert time.monotonic() - answered < seconds
    expect(page.locator(f'tr[data-connector="{connector.pk}"]')).to_contain_text("Ground failure")
    assert page.evaluate("window.loadedOnce") is True


def test_the_board_follows_the_charger_by_push_and_its_stop_reaches_the_charger(
    page, live_server, asgi_server, world, settings
):
    settings.BOARD_WEBSOCKET_URL = _board_websocket(live_server, asgi_server)
    first, second = world.cp_a.connectors.get(number=1), world.cp_a.connectors.get(number=2)
    charger = ChargerThread(asgi_server, "ALPHA-1")
    try:
        session = _charging_on_one(charger, world)
        rows = []
        page.on("request", lambda request: "/board/rows/" in request.url and rows.append(request.url))
        with page.expect_response(lambda response: "/board/rows/" in response.url):  # all rows, as it opens
            _open_board(page, live_server, world)
        expect(page.locator("#board-updated")).to_have_attribute("data-mode", "live")
        expect(page.locator(f'tr[data-connector="{first.pk}"] [data-status]')).to_have_attribute(
            "data-status", "Charging"
        )
        rows.clear()
        _faulted_shows_within(page, charger, second, 2)
        assert rows and all(f"only={world.cp_a.pk}" in url for url in rows)  # pushed: just this station fetched
        expect(page.locator("#board-updated")).to_have_attribute("data-mode", "live")

        page.once("dialog", lambda dialog: dialog.accept())
        page.locator(f'tr[data-connector="{first.pk}"] button.board-stop').click()
        expect(page.locator(".messagelist")).to_contain_text("Accepted", timeout=10_000)
        assert ("RemoteStopTransaction", {"transaction_id": session.pk}) in charger.charger.commands
    finally:
        charger.close()
    assert page.problems == []


def test_without_its_websocket_the_board_polls_and_still_follows_the_charger(
    page, live_server, asgi_server, world, settings
):
    with socket.socket() as closed:  # a port nothing listens on: the websocket cannot connect
        closed.bind(("127.0.0.1", 0))
        settings.BOARD_WEBSOCKET_URL = f"ws://127.0.0.1:{closed.getsockname()[1]}/ws/board/"
    charger = ChargerThread(asgi_server, "ALPHA-1")
    try:
        _charging_on_one(charger, world)
        _open_board(page, live_server, world)
        expect(page.locator("#board-updated")).to_have_attribute("data-mode", "polling")
        expect(page.locator("#board-updated")).to_contain_text("Polling")
        # a poll every 2 s: the change shows by the next one, its fetch included
        _faulted_shows_within(page, charger, world.cp_a.connectors.get(number=2), 4)
    finally:
        charger.close()
    assert [problem for problem in page.problems if "WebSocket" not in problem] == []


def test_a_station_that_joins_the_filtered_board_by_a_push_shows_without_a_reload(
    page, live_server, asgi_server, world, settings
):
    settings.BOARD_WEBSOCKET_URL = _board_websocket(live_server, asgi_server)
    second = world.cp_a.connectors.get(number=2)
    charger = ChargerThread(asgi_server, "ALPHA-1")
    try:
        _charging_on_one(charger, world)
        with page.expect_response(lambda response: "/board/rows/" in response.url):  # all rows, as it opens
            log_in(page, live_server, world.carol, next_url="/admin/sessions_app/board/?status=Faulted")
        expect(page.locator("#board-updated")).to_have_attribute("data-mode", "live")
        expect(page.locator("#board-table")).to_contain_text("No station matches.")
        page.evaluate("window.loadedOnce = true")
        charger.run(charger.charger.call(status(2, "Faulted", "GroundFailure"), suppress=False))
        # not among the rows shown: the page fetches the whole filtered board to put it in its place
        expect(page.locator(f'tr[data-connector="{second.pk}"] [data-status]')).to_have_attribute(
            "data-status", "Faulted", timeout=2_000
        )
        expect(page.locator("#board-table")).not_to_contain_text("No station matches.")
        expect(page.locator("#board-counts")).to_contain_text("1connectors faulted")
        assert page.evaluate("window.loadedOnce") is True
    finally:
        charger.close()
    assert page.problems == []
