"""Operators' sites, stations, connectors and sessions over the API, and the OCPP commands to their chargers.

Only the transport is replaced: ``commands.command_send`` records what it was asked to send and gives
the answer the test chooses.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import IdTag, User
from sessions_app.api import operator as operator_api
from sessions_app.models import ChargePoint, ConnectorStatus, Site
from sessions_app.ocpp import commands
from sessions_app.ocpp.commands import CommandResult
from tests.factories import make_account, make_charge_point, make_session, make_site, make_tag

pytestmark = pytest.mark.django_db


class FakeTransport:
    def __init__(self):
        self.result = CommandResult("answered", {"status": "Accepted"})
        self.sent: list[tuple[str, str, dict]] = []
        self.timeouts: list[float] = []

    def __call__(self, charge_point, action, payload, timeout=30):
        self.sent.append((charge_point.ocpp_id, action, payload))
        self.timeouts.append(timeout)
        return self.result


@pytest.fixture
def transport(monkeypatch) -> FakeTransport:
    fake = FakeTransport()
    monkeypatch.setattr(commands, "command_send", fake)
    return fake


@pytest.fixture
def api(carol_api) -> APIClient:
    return carol_api


def _results(response, key="id") -> list:
    assert response.status_code == 200, response.content
    return [row[key] for row in response.json()["results"]]


# --- reading -------------------------------------------------------------------------------------------


def test_sites_list_filters_and_detail(api, world):
    harbour = make_site(world.org_a, "Alpha Harbour")
    Site.objects.filter(pk=harbour.pk).update(city="Göteborg")
    url = reverse("api:operator_sites")
    assert _results(api.get(url), "name") == ["Alpha Depot", "Alpha Harbour"]
    assert _results(api.get(url, {"city": "göteborg"}), "name") == ["Alpha Harbour"]
    assert _results(api.get(url, {"ordering": "-name"}), "name") == ["Alpha Harbour", "Alpha Depot"]
    detail = api.get(reverse("api:operator_site", args=[world.site_a.pk])).json()
    assert detail["time_zone"] == "Europe/Stockholm" and detail["latitude"] == "59.329300"


def test_stations_show_their_connectors_and_whether_they_are_online(api, world):
    now = timezone.now()
    ChargePoint.objects.filter(pk=world.cp_a.pk).update(channel_name="specific.x!1", last_seen_at=now)
    other = make_charge_point(make_site(world.org_a, "Alpha Harbour"), "ALPHA-2", connectors=1)
    pending = ChargePoint.objects.create(organization=world.org_a, ocpp_id="NEW-1")
    url = reverse("api:operator_stations")
    assert _results(api.get(url), "ocpp_id") == ["ALPHA-1", "ALPHA-2", "NEW-1"]
    assert _results(api.get(url, {"site": other.site_id}), "ocpp_id") == ["ALPHA-2"]
    assert _results(api.get(url, {"registration_status": "pending"}), "ocpp_id") == ["NEW-1"]
    assert _results(api.get(url, {"ocpp_id": "alpha", "ordering": "-ocpp_id"}), "ocpp_id") == ["ALPHA-2", "ALPHA-1"]
    station = api.get(reverse("api:operator_station", args=[world.cp_a.pk])).json()
    assert station["online"] is True and station["site_name"] == "Alpha Depot"
    assert [connector["number"] for connector in station["connectors"]] == [1, 2]
    assert "password_hash" not in station and "channel_name" not in station
    assert api.get(reverse("api:operator_station", args=[pending.pk])).json()["online"] is False


def test_connectors_by_station_site_and_status(api, world):
    make_charge_point(make_site(world.org_a, "Alpha Harbour"), "ALPHA-2", connectors=1)
    world.cp_a.connectors.filter(number=2).update(status=ConnectorStatus.FAULTED, error_code="GroundFailure")
    url = reverse("api:operator_connectors")
    assert len(_results(api.get(url))) == 3
    assert _results(api.get(url, {"station": world.cp_a.pk}), "number") == [1, 2]
    assert _results(api.get(url, {"site": world.site_a.pk}), "number") == [1, 2]
    faulted = api.get(url, {"status": "Faulted"}).json()["results"]
    assert [(c["station_ocpp_id"], c["number"], c["error_code"]) for c in faulted] == [("ALPHA-1", 2, "GroundFailure")]
    connector = world.cp_a.connectors.get(number=1)
    assert api.get(reverse("api:operator_connector", args=[connector.pk])).json()["station_ocpp_id"] == "ALPHA-1"


def test_sessions_by_period_station_card_and_state(api, world):
    connector = world.cp_a.connectors.get(number=1)
    other = make_charge_point(world.site_a, "ALPHA-2", connectors=1).connectors.get()
    early = make_session(connector, world.alice_card, started_at=datetime(2025, 3, 1, 10, tzinfo=UTC))
    late = make_session(other, world.bob_card, started_at=datetime(2025, 3, 5, 10, tzinfo=UTC))
    running = make_session(connector, world.bob_card, energy_wh=None)
    make_session(world.cp_b.connectors.first(), None)  # another operator's
    url = reverse("api:operator_sessions")
    assert _results(api.get(url)) == [running.pk, late.pk, early.pk]
    assert _results(
        api.get(url, {"started_after": "2025-03-01T00:00:00Z", "started_before": "2025-03-02T00:00:00Z"})
    ) == [early.pk]
    assert _results(api.get(url, {"station": other.charge_point_id})) == [late.pk]
    assert _results(api.get(url, {"card": world.bob_card.pk})) == [running.pk, late.pk]
    assert _results(api.get(url, {"card_uid": "04a1b2c3"})) == [early.pk]
    assert _results(api.get(url, {"state": "active"})) == [running.pk]
    assert _results(api.get(url, {"ordering": "started_at"})) == [early.pk, late.pk, running.pk]
    detail = api.get(reverse("api:operator_session", args=[early.pk])).json()
    assert (detail["station_ocpp_id"], detail["connector_number"], detail["card_uid"], detail["energy_wh"]) == (
        "ALPHA-1",
        1,
        "04A1B2C3",
        12_000,
    )
    bad = api.get(url, {"started_after": "yesterday"})
    assert bad.status_code == 400 and "started" in str(bad.json()["error"]["fields"])


# --- commands --------------------------------------------------------------------------------------------


def test_each_command_sends_its_ocpp_payload_to_the_operators_charger(api, world, transport):
    connector = world.cp_a.connectors.get(number=2)
    session = make_session(connector, world.alice_card, energy_wh=None)
    station = world.cp_a.pk
    calls = [
        (
            "api:operator_station_availability",
            station,
            {"type": "Inoperative"},
            "ChangeAvailability",
            {"connector_id": 0, "type": "Inoperative"},
        ),
        (
            "api:operator_connector_availability",
            connector.pk,
            {"type": "Operative"},
            "ChangeAvailability",
            {"connector_id": 2, "type": "Operative"},
        ),
        ("api:operator_station_reset", station, {"type": "Hard"}, "Reset", {"type": "Hard"}),
        ("api:operator_connector_unlock", connector.pk, {}, "UnlockConnector", {"connector_id": 2}),
        (
            "api:operator_connector_start",
            connector.pk,
            {"card": world.bob_card.pk},
            "RemoteStartTransaction",
            {"connector_id": 2, "id_tag": "04B0B0B0"},
        ),
        ("api:operator_session_stop", session.pk, {}, "RemoteStopTransaction", {"transaction_id": session.pk}),
        (
            "api:operator_station_configuration_read",
            station,
            {"keys": ["HeartbeatInterval"]},
            "GetConfiguration",
            {"key": ["HeartbeatInterval"]},
        ),
        ("api:operator_station_configuration_read", station, {}, "GetConfiguration", {}),
        (
            "api:operator_station_configuration_change",
            station,
            {"key": "HeartbeatInterval", "value": "120"},
            "ChangeConfiguration",
            {"key": "HeartbeatInterval", "value": "120"},
        ),
        (
            "api:operator_station_trigger",
            station,
            {"requested_message": "StatusNotification", "connector": 1},
            "TriggerMessage",
            {"requested_message": "StatusNotification", "connector_id": 1},
        ),
        (
            "api:operator_station_trigger",
            station,
            {"requested_message": "Heartbeat"},
            "TriggerMessage",
            {"requested_message": "Heartbeat"},
        ),
    ]
    for name, pk, body, action, payload in calls:
        response = api.post(reverse(name, args=[pk]), body, format="json")
        assert response.status_code == 200, (name, response.content)
        assert response.json() == {
            "action": action,
            "outcome": "answered",
            "status": "Accepted",
            "payload": {"status": "Accepted"},
            "code": "",
            "description": "",
            "detail": "The charger answered Accepted.",
        }
        assert transport.sent[-1] == ("ALPHA-1", action, payload)
    assert len(transport.sent) == len(calls)
    assert set(transport.timeouts) == {operator_api.COMMAND_TIMEOUT}


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (
            CommandResult("answered", {"status": "Rejected"}),
            {"outcome": "answered", "status": "Rejected", "detail": "The charger answered Rejected."},
        ),
        (
            CommandResult("offline"),
            {"outcome": "offline", "status": "", "detail": "The charger was offline, so nothing was sent."},
        ),
        (
            CommandResult("timeout"),
            {"outcome": "timeout", "status": "", "detail": "The charger did not answer in time."},
        ),
        (
            CommandResult("no_answer"),
            {"outcome": "no_answer", "detail": "The charger's connection ended before it answered."},
        ),
        (
            CommandResult("error", {}, "NotSupported", "no reset here"),
            {
                "outcome": "error",
                "code": "NotSupported",
                "description": "no reset here",
                "detail": "The charger returned an error: NotSupported no reset here.",
            },
        ),
    ],
)
def test_the_answer_says_what_became_of_the_command(api, world, transport, result, expected):
    transport.result = result
    response = api.post(reverse("api:operator_station_reset", args=[world.cp_a.pk]), {"type": "Soft"})
    assert response.status_code == 200
    assert expected.items() <= response.json().items()


def test_an_offline_charger_is_reported_without_waiting(api, world):
    """The real transport: a charger without a connection gets nothing sent, and the answer says so."""
    response = api.post(reverse("api:operator_connector_unlock", args=[world.cp_a.connectors.first().pk]))
    assert response.status_code == 200 and response.json()["outcome"] == "offline"


@pytest.mark.parametrize(
    ("name", "body", "field"),
    [
        ("api:operator_station_availability", {"type": "Sleepy"}, "type"),
        ("api:operator_station_reset", {}, "type"),
        ("api:operator_station_configuration_change", {"value": "1"}, "key"),
        ("api:operator_station_trigger", {"requested_message": "Authorize"}, "requested_message"),
        ("api:operator_station_trigger", {"requested_message": "Heartbeat", "connector": 0}, "connector"),
    ],
)
def test_a_malformed_command_is_refused_and_not_sent(api, world, transport, name, body, field):
    response = api.post(reverse(name, args=[world.cp_a.pk]), body, format="json")
    assert response.status_code == 400 and field in response.json()["error"]["fields"]
    assert transport.sent == []


@pytest.mark.parametrize("card", ["blocked", "other operator's", "missing"])
def test_a_remote_start_takes_only_an_active_card_of_the_operators(api, world, transport, card):
    blocked = make_tag(
        world.alice.customer_account, world.alice, status=IdTag.Status.BLOCKED, blocked_at=timezone.now()
    )
    beta = make_tag(make_account(world.org_b))
    pk = {"blocked": blocked.pk, "other operator's": beta.pk, "missing": None}[card]
    response = api.post(
        reverse("api:operator_connector_start", args=[world.cp_a.connectors.first().pk]), {"card": pk}, format="json"
    )
    assert response.status_code == 400 and "card" in response.json()["error"]["fields"]
    assert transport.sent == []


def test_a_finished_session_cannot_be_stopped(api, world, transport):
    done = make_session(world.cp_a.connectors.first(), world.alice_card, started_at=timezone.now() - timedelta(hours=5))
    assert api.post(reverse("api:operator_session_stop", args=[done.pk])).status_code == 404
    assert transport.sent == []


def test_staff_who_may_only_look_cannot_send_commands(world, transport):
    world.carol.groups.clear()
    world.carol.user_permissions.set(Permission.objects.filter(codename__in=["view_chargepoint", "view_connector"]))
    api = APIClient()
    api.force_authenticate(User.objects.get(pk=world.carol.pk))
    assert api.get(reverse("api:operator_stations")).status_code == 200
    response = api.post(reverse("api:operator_station_reset", args=[world.cp_a.pk]), {"type": "Soft"})
    assert response.status_code == 403
    assert transport.sent == []
