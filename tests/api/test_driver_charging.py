"""From the app: start on a free connector with one's own card, stop one's own session, its live figures.

Only the transport is replaced (``commands.command_send``): it records what was sent and answers
what the test chooses.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import IdTag
from sessions_app.models import ChargePoint, Connector, MeterValue, offline_after
from sessions_app.ocpp import commands
from sessions_app.ocpp.commands import CommandResult
from tests.factories import make_session, make_tag

pytestmark = pytest.mark.django_db


class FakeTransport:
    def __init__(self):
        self.result = CommandResult("answered", {"status": "Accepted"})
        self.sent: list[tuple[str, str, dict]] = []

    def __call__(self, charge_point, action, payload, timeout=30):
        self.sent.append((charge_point.ocpp_id, action, payload))
        return self.result


@pytest.fixture
def transport(monkeypatch) -> FakeTransport:
    fake = FakeTransport()
    monkeypatch.setattr(commands, "command_send", fake)
    return fake


def online(*charge_points: ChargePoint, status: str = "Available") -> None:
    for cp in charge_points:
        ChargePoint.objects.filter(pk=cp.pk).update(channel_name=f"specific.test!{cp.pk}", last_seen_at=timezone.now())
        Connector.objects.filter(charge_point=cp).update(status=status)


def as_driver(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


def connector(cp: ChargePoint, number: int = 1) -> Connector:
    return cp.connectors.get(number=number)


def start(api, cp: ChargePoint, card: IdTag, number: int = 1):
    return api.post(reverse("api:session_start"), {"connector": connector(cp, number).pk, "card": card.pk})


# --- start ------------------------------------------------------------------------------------------


def test_a_driver_starts_charging_and_is_told_the_charger_accepted(world, transport):
    online(world.cp_a)
    response = start(as_driver(world.alice), world.cp_a, world.alice_card, number=2)
    assert response.status_code == 202
    assert response.json() == {
        "status": "Accepted",
        "station": "ALPHA-1",
        "connector": 2,
        "session": None,
        "message": "ALPHA-1 accepted: the charger will start when you plug in.",
    }
    assert transport.sent == [("ALPHA-1", "RemoteStartTransaction", {"connector_id": 2, "id_tag": "04A1B2C3"})]


@pytest.mark.parametrize(
    ("result", "status", "code", "words"),
    [
        (
            CommandResult("answered", {"status": "Rejected"}),
            409,
            "charger_rejected",
            "declined to start charging (Rejected)",
        ),
        (
            CommandResult("offline"),
            503,
            "charger_offline",
            "The charger was offline, so nothing was sent. Please try again later.",
        ),
        (
            CommandResult("timeout"),
            504,
            "charger_timeout",
            "The charger did not answer in time. Please try again later.",
        ),
        (
            CommandResult("no_answer"),
            504,
            "charger_timeout",
            "The charger's connection ended before it answered. Please try again later.",
        ),
        (
            CommandResult("error", code="InternalError"),
            502,
            "charger_error",
            "The charger returned an error: InternalError. Please try again later.",
        ),
    ],
)
def test_a_charger_that_refuses_or_is_unreachable_gives_a_clear_error(world, transport, result, status, code, words):
    online(world.cp_a)
    transport.result = result
    response = start(as_driver(world.alice), world.cp_a, world.alice_card)
    error = response.json()["error"]
    assert response.status_code == status and error["status"] == status
    assert error["code"] == code and words in error["message"]


def test_a_station_not_connected_is_503_before_anything_is_sent(world, transport):
    response = start(as_driver(world.alice), world.cp_a, world.alice_card)
    assert response.status_code == 503 and response.json()["error"]["code"] == "charger_offline"
    stale = timezone.now() - offline_after(world.cp_a.heartbeat_interval) - timedelta(seconds=1)
    online(world.cp_a)
    ChargePoint.objects.filter(pk=world.cp_a.pk).update(last_seen_at=stale)
    assert start(as_driver(world.alice), world.cp_a, world.alice_card).status_code == 503
    assert transport.sent == []


def test_a_busy_connector_is_a_conflict(world, transport):
    online(world.cp_a, status="Charging")
    response = start(as_driver(world.alice), world.cp_a, world.alice_card)
    assert response.status_code == 409 and response.json()["error"]["code"] == "cannot_start"
    assert "not free" in response.json()["error"]["message"]
    assert transport.sent == []


def test_a_blocked_card_and_a_card_already_charging_are_conflicts(world, transport):
    online(world.cp_a)
    make_session(connector(world.cp_a, 1), world.alice_card, energy_wh=None)
    response = start(as_driver(world.alice), world.cp_a, world.alice_card, number=2)
    assert response.status_code == 409 and "already charging" in response.json()["error"]["message"]
    IdTag.objects.filter(pk=world.alice_card.pk).update(status="blocked", blocked_at=timezone.now())
    response = start(as_driver(world.alice), world.cp_a, world.alice_card, number=2)
    assert response.status_code == 409 and "own active cards" in response.json()["error"]["message"]
    assert transport.sent == []


def test_another_drivers_card_or_another_operators_connector_does_not_exist_for_the_driver(world, transport):
    online(world.cp_a, world.cp_b)
    response = start(as_driver(world.alice), world.cp_a, world.bob_card)
    assert response.status_code == 400 and "card" in response.json()["error"]["fields"]
    response = start(as_driver(world.alice), world.cp_b, world.alice_card)
    assert response.status_code == 400 and "connector" in response.json()["error"]["fields"]
    assert transport.sent == []


def test_start_input_is_validated(world, transport):
    api = as_driver(world.alice)
    response = api.post(reverse("api:session_start"), {"connector": "one"})
    assert response.status_code == 400 and set(response.json()["error"]["fields"]) == {"connector", "card"}
    huge = api.post(reverse("api:session_start"), {"connector": 2**63, "card": 2**63})
    assert huge.status_code == 400


# --- stop ---------------------------------------------------------------------------------------------


def test_a_driver_stops_their_running_session(world, transport):
    online(world.cp_a, status="Charging")
    session = make_session(connector(world.cp_a, 2), world.alice_card, energy_wh=None)
    response = as_driver(world.alice).post(reverse("api:session_stop", args=[session.pk]))
    assert response.status_code == 202
    assert response.json()["session"] == session.pk and response.json()["connector"] == 2
    assert transport.sent == [("ALPHA-1", "RemoteStopTransaction", {"transaction_id": session.pk})]


def test_a_charger_refusing_to_stop_is_a_conflict_and_an_offline_one_503(world, transport):
    session = make_session(connector(world.cp_a), world.alice_card, energy_wh=None)
    transport.result = CommandResult("answered", {"status": "Rejected"})
    response = as_driver(world.alice).post(reverse("api:session_stop", args=[session.pk]))
    assert response.status_code == 409
    assert "declined to stop the session (Rejected)" in response.json()["error"]["message"]
    transport.result = CommandResult("offline")
    assert as_driver(world.alice).post(reverse("api:session_stop", args=[session.pk])).status_code == 503


def test_nobody_stops_another_drivers_session_and_an_ended_one_is_a_conflict(world, transport):
    running = make_session(connector(world.cp_a), world.bob_card, energy_wh=None)
    assert as_driver(world.alice).post(reverse("api:session_stop", args=[running.pk])).status_code == 404
    ended = make_session(connector(world.cp_a, 2), world.alice_card)
    response = as_driver(world.alice).post(reverse("api:session_stop", args=[ended.pk]))
    assert response.status_code == 409 and response.json()["error"]["code"] == "session_ended"
    assert transport.sent == []


# --- live figures -------------------------------------------------------------------------------------


def _reading(session, measurand, value, unit, seconds):
    MeterValue.objects.create(
        charge_point=session.charge_point,
        connector=session.connector,
        session=session,
        timestamp=session.started_at + timedelta(seconds=seconds),
        measurand=measurand,
        value=Decimal(value),
        unit=unit,
    )


def test_the_running_sessions_live_figures(world):
    session = make_session(
        connector(world.cp_a), world.alice_card, energy_wh=None, started_at=timezone.now() - timedelta(minutes=30)
    )
    _reading(session, "Energy.Active.Import.Register", "1004500", "Wh", 900)
    _reading(session, "Power.Active.Import", "11000", "W", 900)
    body = as_driver(world.alice).get(reverse("api:session_live", args=[session.pk])).json()
    assert body["state"] == "active" and body["energy_wh"] == 4500 and body["power_w"] == 11000.0
    assert 1790 <= body["duration_seconds"] <= 1810
    assert body["station"] == "ALPHA-1" and body["connector"] == 1 and body["card"] == "04A1B2C3"
    assert body["measured_at"] is not None


def test_live_figures_of_an_ended_session_are_its_totals(world):
    session = make_session(connector(world.cp_a), world.alice_card, energy_wh=12_000, minutes=60)
    body = as_driver(world.alice).get(reverse("api:session_live", args=[session.pk])).json()
    assert body["state"] == "completed" and body["energy_wh"] == 12_000 and body["power_w"] is None
    assert body["duration_seconds"] == 3600


def test_live_figures_of_another_drivers_session_are_not_found(world):
    session = make_session(connector(world.cp_a), world.bob_card, energy_wh=None)
    assert as_driver(world.alice).get(reverse("api:session_live", args=[session.pk])).status_code == 404


def test_the_active_list_holds_the_drivers_running_sessions_only(world):
    spare = make_tag(world.alice.customer_account, world.alice, "04A1A1A1")
    running = make_session(connector(world.cp_a), world.alice_card, energy_wh=None)
    other = make_session(
        connector(world.cp_a, 2), spare, energy_wh=None, started_at=timezone.now() - timedelta(hours=1)
    )
    make_session(connector(world.cp_a, 2), world.alice_card)  # completed
    make_session(connector(world.cp_b), world.bob_card, energy_wh=None)  # bob's
    body = as_driver(world.alice).get(reverse("api:session_active")).json()
    assert [item["id"] for item in body["results"]] == [other.pk, running.pk]
    assert body["count"] == 2
