"""Every operator endpoint is for one operator's staff (by login or API token), inside that operator only.

Anonymous callers get 401, drivers and platform admins 403, staff without the admin's permission 403,
a revoked token 401, and staff of another operator a 404 for every id of the first operator's.
"""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.api_tokens import api_token_create, api_token_revoke
from accounts.models import User
from sessions_app.ocpp import commands
from sessions_app.ocpp.commands import CommandResult
from tests.factories import make_session, make_tariff

pytestmark = pytest.mark.django_db

#: (method, url name, the first operator's object it names, or None)
OPERATOR_ENDPOINTS = [
    ("get", "api:operator_cards", None),
    ("post", "api:operator_cards", None),
    ("post", "api:operator_cards_import", None),
    ("get", "api:operator_card", "card"),
    ("post", "api:operator_card_block", "card"),
    ("post", "api:operator_card_lost", "card"),
    ("post", "api:operator_card_unblock", "card"),
    ("get", "api:operator_sites", None),
    ("get", "api:operator_site", "site"),
    ("get", "api:operator_stations", None),
    ("get", "api:operator_station", "station"),
    ("post", "api:operator_station_availability", "station"),
    ("post", "api:operator_station_reset", "station"),
    ("post", "api:operator_station_configuration_read", "station"),
    ("post", "api:operator_station_configuration_change", "station"),
    ("post", "api:operator_station_trigger", "station"),
    ("post", "api:operator_station_firmware_update", "station"),
    ("post", "api:operator_station_firmware_signed_update", "station"),
    ("get", "api:operator_connectors", None),
    ("get", "api:operator_connector", "connector"),
    ("post", "api:operator_connector_availability", "connector"),
    ("post", "api:operator_connector_unlock", "connector"),
    ("post", "api:operator_connector_start", "connector"),
    ("get", "api:operator_sessions", None),
    ("get", "api:operator_session", "session"),
    ("post", "api:operator_session_stop", "session"),
    ("get", "api:operator_tariffs", None),
    ("post", "api:operator_tariffs", None),
    ("get", "api:operator_tariff", "tariff"),
    ("patch", "api:operator_tariff", "tariff"),
    ("get", "api:operator_tariff_assignments", None),
    ("post", "api:operator_tariff_assignments", None),
    ("get", "api:operator_revenue", None),
    ("get", "api:operator_reconciliation", None),
    ("get", "api:operator_overview", None),
    ("get", "api:operator_uptime", None),
]

#: A valid body for each operation that sends one, so a refusal is never for the body's sake.
BODIES = {
    "api:operator_station_availability": {"type": "Inoperative"},
    "api:operator_station_reset": {"type": "Soft"},
    "api:operator_station_configuration_change": {"key": "HeartbeatInterval", "value": "60"},
    "api:operator_station_trigger": {"requested_message": "Heartbeat"},
    "api:operator_station_firmware_update": {
        "location": "https://fw.example/a.bin",
        "retrieve_date": "2026-12-04T12:00Z",
    },
    "api:operator_station_firmware_signed_update": {
        "request_id": 1,
        "location": "https://fw.example/a.bin",
        "retrieve_date_time": "2026-12-04T12:00Z",
        "signing_certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        "signature": "c2lnbmF0dXJl",
    },
    "api:operator_connector_availability": {"type": "Inoperative"},
}


@pytest.fixture
def objects(world) -> dict[str, int]:
    connector = world.cp_a.connectors.get(number=1)
    return {
        "card": world.alice_card.pk,
        "site": world.site_a.pk,
        "station": world.cp_a.pk,
        "connector": connector.pk,
        "session": make_session(connector, world.alice_card, energy_wh=None).pk,
        "tariff": make_tariff(world.org_a).pk,
    }


@pytest.fixture
def transport(monkeypatch) -> list:
    sent = []

    def fake(charge_point, action, payload, timeout=30):
        sent.append((charge_point.ocpp_id, action, payload))
        return CommandResult("answered", {"status": "Accepted"})

    monkeypatch.setattr(commands, "command_send", fake)
    return sent


def _call(api: APIClient, method: str, name: str, target: str | None, objects: dict):
    url = reverse(name, args=[objects[target]] if target else [])
    if method == "get":
        return api.get(url)
    return getattr(api, method)(url, BODIES.get(name, {}), format="json")


@pytest.mark.parametrize(("method", "name", "target"), OPERATOR_ENDPOINTS)
def test_anonymous_callers_get_401_in_the_error_body(method, name, target, objects, transport):
    response = _call(APIClient(), method, name, target, objects)
    assert response.status_code == 401
    assert response.json()["error"]["status"] == 401
    assert transport == []


@pytest.mark.parametrize("actor", ["alice", "bob", "admin"])
@pytest.mark.parametrize(("method", "name", "target"), OPERATOR_ENDPOINTS)
def test_drivers_and_platform_admins_are_not_operator_staff(method, name, target, actor, world, objects, transport):
    api = APIClient()
    api.force_authenticate(getattr(world, actor))
    response = _call(api, method, name, target, objects)
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "This is for operator staff."
    assert transport == []


@pytest.mark.parametrize(("method", "name", "target"), OPERATOR_ENDPOINTS)
def test_staff_without_the_admins_permissions_are_refused(method, name, target, world, objects, transport):
    world.carol.groups.clear()
    carol = User.objects.get(pk=world.carol.pk)  # no cached permissions
    api = APIClient()
    api.force_authenticate(carol)
    response = _call(api, method, name, target, objects)
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "Your operator role does not allow this."
    assert transport == []


@pytest.mark.parametrize(
    ("method", "name", "target"), [endpoint for endpoint in OPERATOR_ENDPOINTS if endpoint[2] is not None]
)
@pytest.mark.parametrize("actor", ["dave", "dave_token"])
def test_another_operators_objects_are_404_by_login_and_by_token(
    method, name, target, actor, world, objects, transport
):
    api = APIClient()
    if actor == "dave_token":
        _token, key = api_token_create(user=world.dave, name="Beta ERP")
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    else:
        api.force_authenticate(world.dave)
    response = _call(api, method, name, target, objects)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert transport == []  # no command ever reaches the other operator's charger


@pytest.mark.parametrize(
    ("method", "name", "target"), [endpoint for endpoint in OPERATOR_ENDPOINTS if endpoint[0] == "get"]
)
def test_an_operators_api_token_reads_what_its_staff_member_may(method, name, target, world, objects):
    _token, key = api_token_create(user=world.carol, name="ERP")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert _call(api, method, name, target, objects).status_code == 200


def test_a_revoked_token_is_refused_everywhere(world, objects):
    token, key = api_token_create(user=world.carol, name="ERP")
    api_token_revoke(token=token)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    response = api.get(reverse("api:operator_cards"))
    assert response.status_code == 401 and "revoked" in response.json()["error"]["message"]


def test_a_token_whose_user_left_the_operator_is_refused(world, objects):
    _token, key = api_token_create(user=world.carol, name="ERP")
    User.objects.filter(pk=world.carol.pk).update(organization=world.org_b)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.get(reverse("api:operator_cards")).status_code == 401


def test_lists_hold_only_the_callers_operator(world, objects):
    make_tariff(world.org_b)
    api = APIClient()
    api.force_authenticate(world.dave)
    for name in (
        "api:operator_cards",
        "api:operator_sites",
        "api:operator_stations",
        "api:operator_connectors",
        "api:operator_sessions",
        "api:operator_tariffs",
    ):
        ids = {row["id"] for row in api.get(reverse(name)).json()["results"]}
        assert (
            objects[
                {
                    "api:operator_cards": "card",
                    "api:operator_sites": "site",
                    "api:operator_stations": "station",
                    "api:operator_connectors": "connector",
                    "api:operator_sessions": "session",
                    "api:operator_tariffs": "tariff",
                }[name]
            ]
            not in ids
        ), name
    stations = api.get(reverse("api:operator_stations")).json()["results"]
    assert [station["ocpp_id"] for station in stations] == ["BETA-1"]


def test_the_operator_group_grants_every_operator_endpoint(world):
    group = Group.objects.get(name="Operator staff")
    assert world.carol.groups.filter(pk=group.pk).exists()
    assert world.carol.has_perms(["accounts.view_apitoken", "accounts.add_apitoken", "accounts.change_apitoken"])
    assert not world.carol.has_perm("accounts.delete_apitoken")


def test_the_operator_paths_are_under_operator():
    assert reverse("api:operator_cards") == "/api/v1/operator/cards/"
    assert reverse("api:operator_card_lost", args=[3]) == "/api/v1/operator/cards/3/lost/"
    assert reverse("api:operator_connector_availability", args=[3]) == "/api/v1/operator/connectors/3/availability/"
    assert reverse("api:operator_session_stop", args=[3]) == "/api/v1/operator/sessions/3/stop/"
    assert reverse("api:operator_revenue") == "/api/v1/operator/reports/revenue/"
    assert reverse("api:operator_uptime") == "/api/v1/operator/reports/uptime/"
