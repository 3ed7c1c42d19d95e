"""The admin's page of a charging session: local times with the zone (title too), kWh, curve, price, stop."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.services import session_price_freeze, tariff_assignment_create
from sessions_app.models import ChargingSession, MeterValue
from sessions_app.ocpp.commands import CommandResult
from tests.factories import make_session, make_tariff

pytestmark = pytest.mark.django_db

STARTED = datetime(2026, 1, 15, 16, 14, tzinfo=UTC)  # 17:14 CET in Stockholm


class FakeTransport:
    def __init__(self, result: CommandResult):
        self.result, self.sent = result, []

    def __call__(self, charge_point, action, payload, timeout=30):
        self.sent.append((charge_point.ocpp_id, action, payload))
        return self.result


@pytest.fixture
def transport(monkeypatch) -> FakeTransport:
    from sessions_app.ocpp import commands

    fake = FakeTransport(CommandResult("answered", {"status": "Accepted"}))
    monkeypatch.setattr(commands, "command_send", fake)
    return fake


def page_url(session: ChargingSession) -> str:
    return reverse("admin:sessions_app_chargingsession_change", args=[session.pk])


def stop_url(session: ChargingSession) -> str:
    return reverse("admin:sessions_app_chargingsession_stop", args=[session.pk])


@pytest.fixture
def completed(world):
    """A priced session at operator A's Stockholm site, 16:14-17:14 UTC, 11.809 kWh, with meter readings."""
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"))
    session = make_session(world.cp_a.connectors.first(), world.alice_card, started_at=STARTED, energy_wh=11_809)
    for minutes, register in ((0, 1_000_000), (30, 1_005_900), (60, 1_011_809)):
        MeterValue.objects.create(
            charge_point=world.cp_a,
            connector=session.connector,
            session=session,
            timestamp=STARTED + timedelta(minutes=minutes),
            measurand="Energy.Active.Import.Register",
            value=Decimal(register),
            unit="Wh",
        )
    session_price_freeze(session=session)
    return session


def test_the_page_shows_local_times_with_the_zone_kwh_curve_and_price(client, world, completed):
    assert world.site_a.time_zone == "Europe/Stockholm"
    client.force_login(world.carol)
    response = client.get(page_url(completed))
    assert response.status_code == 200
    html = response.content.decode()
    title = html.split("<title>")[1].split("</title>")[0]
    assert "2026-01-15 17:14 CET" in title
    assert "16:14" not in title
    assert "2026-01-15 17:14:00 CET" in html  # started
    assert "2026-01-15 18:14:00 CET" in html  # stopped
    assert "16:14" not in html  # no UTC time anywhere on the page
    assert "11.809 kWh" in html
    assert "11809" not in html  # no raw Wh
    assert 'id="session-curve"' in html and "<svg" in html
    assert 'id="price-gross"' in html
    assert "47.24" in html  # 11.809 kWh at 4.00 incl. VAT
    assert 'id="session-stop"' not in html  # finished: nothing to stop


def test_a_running_session_has_a_stop_button_that_sends_remote_stop(client, world, transport):
    running = make_session(world.cp_a.connectors.first(), world.alice_card, energy_wh=None)
    client.force_login(world.carol)
    html = client.get(page_url(running)).content.decode()
    assert 'id="session-stop"' in html
    assert "The price is set when the session ends." in html
    response = client.post(stop_url(running))
    assert response.status_code == 302 and response["Location"] == page_url(running)
    assert transport.sent == [("ALPHA-1", "RemoteStopTransaction", {"transaction_id": running.pk})]
    messages = [str(m) for m in response.wsgi_request._messages]
    assert messages == ["Stop to ALPHA-1: the charger answered Accepted."]


@pytest.mark.parametrize(
    ("result", "told"),
    [
        (CommandResult("offline"), "Stop to ALPHA-1: the charger was offline, so nothing was sent."),
        (CommandResult("timeout"), "Stop to ALPHA-1: the charger did not answer in time."),
        (CommandResult("answered", {"status": "Rejected"}), "Stop to ALPHA-1: the charger answered Rejected."),
    ],
)
def test_the_stop_is_told_in_outcome_texts_words(client, world, transport, result, told):
    running = make_session(world.cp_a.connectors.first(), world.alice_card, energy_wh=None)
    transport.result = result
    client.force_login(world.carol)
    response = client.post(stop_url(running))
    assert [str(m) for m in response.wsgi_request._messages] == [told]


def test_a_finished_session_cannot_be_stopped(client, world, completed, transport):
    client.force_login(world.carol)
    assert client.post(stop_url(completed)).status_code == 403
    assert transport.sent == []


def test_another_operator_neither_sees_nor_stops_the_session(client, world, transport):
    running = make_session(world.cp_a.connectors.first(), world.alice_card, energy_wh=None)
    client.force_login(world.dave)
    assert client.get(page_url(running)).status_code in (302, 404)
    assert client.post(stop_url(running)).status_code == 404
    assert transport.sent == []


def test_stop_is_post_only(client, world, transport):
    running = make_session(world.cp_a.connectors.first(), world.alice_card, energy_wh=None)
    client.force_login(world.carol)
    assert client.get(stop_url(running)).status_code == 403
    assert transport.sent == []
    running.refresh_from_db()
    assert running.state == ChargingSession.State.ACTIVE
