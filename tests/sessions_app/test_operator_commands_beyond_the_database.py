"""The operator API offers what OCPP 1.6 allows on the operator's own station, also where this system knows less
than the station: a remote start without a connector (the station picks) or with a charging profile, a remote stop
of a transaction id without a session here, an unlock of a connector number without a row here. The transport is
the fake one (``conftest``); the answer's ``no_answer`` outcome goes through as any other."""

import pytest
from django.urls import reverse

from sessions_app.models import ChargingSession, Connector
from sessions_app.ocpp.commands import CommandResult
from tests.factories import make_account, make_tag

pytestmark = pytest.mark.django_db

PROFILE = {
    "charging_profile_id": 7,
    "stack_level": 0,
    "charging_profile_purpose": "TxProfile",
    "charging_profile_kind": "Relative",
    "charging_schedule": {"charging_rate_unit": "A", "charging_schedule_period": [{"start_period": 0, "limit": 16}]},
}


def station_url(name: str, world) -> str:
    return reverse(f"api:operator_station_{name}", args=[world.cp_a.pk])


def test_a_remote_start_without_a_connector_leaves_the_choice_to_the_station(carol_api, world, transport):
    response = carol_api.post(station_url("start", world), {"card": world.alice_card.pk}, format="json")

    assert response.status_code == 200 and response.json()["status"] == "Accepted"
    assert transport.sent == [("ALPHA-1", "RemoteStartTransaction", {"id_tag": world.alice_card.uid})]


def test_a_remote_start_sends_a_connector_unknown_here_and_a_charging_profile(carol_api, world, transport):
    assert not Connector.objects.filter(charge_point=world.cp_a, number=9).exists()
    body = {"card": world.alice_card.pk, "connector": 9, "charging_profile": PROFILE}

    response = carol_api.post(station_url("start", world), body, format="json")

    assert response.status_code == 200
    assert transport.sent == [
        (
            "ALPHA-1",
            "RemoteStartTransaction",
            {"id_tag": world.alice_card.uid, "connector_id": 9, "charging_profile": PROFILE},
        )
    ]


def test_the_connector_start_takes_a_charging_profile_too(carol_api, world, transport):
    connector = world.cp_a.connectors.get(number=1)
    body = {"card": world.alice_card.pk, "charging_profile": PROFILE}

    response = carol_api.post(reverse("api:operator_connector_start", args=[connector.pk]), body, format="json")

    assert response.status_code == 200
    assert transport.sent[-1][2] == {"id_tag": world.alice_card.uid, "connector_id": 1, "charging_profile": PROFILE}


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        ({**PROFILE, "charging_profile_purpose": "TxDefaultProfile"}, "TxProfile"),
        ("16 A", "TxProfile"),
        ({**PROFILE, "stack_level": "top"}, "stack_level: 'top' is not of type 'integer'"),
        ({**PROFILE, "colour": "green"}, "colour"),
        ({key: value for key, value in PROFILE.items() if key != "charging_schedule"}, "charging_schedule"),
    ],
)
def test_a_malformed_charging_profile_is_refused_and_not_sent(carol_api, world, transport, profile, message):
    body = {"card": world.alice_card.pk, "charging_profile": profile}

    response = carol_api.post(station_url("start", world), body, format="json")

    assert response.status_code == 400
    assert message in " ".join(response.json()["error"]["fields"]["charging_profile"])
    assert transport.sent == []


@pytest.mark.parametrize("connector", [0, 1001])
def test_a_remote_start_names_a_real_connector_number_or_none(carol_api, world, transport, connector):
    body = {"card": world.alice_card.pk, "connector": connector}
    response = carol_api.post(station_url("start", world), body, format="json")
    assert response.status_code == 400 and "connector" in response.json()["error"]["fields"]
    assert transport.sent == []


def test_a_station_start_still_takes_only_the_operators_active_cards(carol_api, world, transport):
    other = make_tag(make_account(world.org_b))
    response = carol_api.post(station_url("start", world), {"card": other.pk}, format="json")
    assert response.status_code == 400 and "card" in response.json()["error"]["fields"]
    assert transport.sent == []


def test_a_remote_stop_sends_a_transaction_id_without_a_session_here(carol_api, world, transport):
    unknown = (ChargingSession.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1000
    transport.result = CommandResult("answered", {"status": "Rejected"})

    response = carol_api.post(station_url("stop", world), {"transaction_id": unknown}, format="json")

    assert response.status_code == 200 and response.json()["status"] == "Rejected"
    assert transport.sent == [("ALPHA-1", "RemoteStopTransaction", {"transaction_id": unknown})]


def test_an_unlock_sends_a_connector_number_without_a_row_here(carol_api, world, transport):
    transport.result = CommandResult("no_answer")

    response = carol_api.post(station_url("unlock", world), {"connector": 9}, format="json")

    assert response.status_code == 200 and response.json()["outcome"] == "no_answer"
    assert transport.sent == [("ALPHA-1", "UnlockConnector", {"connector_id": 9})]


@pytest.mark.parametrize(("name", "body"), [("stop", {}), ("unlock", {"connector": 0}), ("unlock", {})])
def test_stop_and_unlock_need_their_number(carol_api, world, transport, name, body):
    response = carol_api.post(station_url(name, world), body, format="json")
    assert response.status_code == 400
    assert transport.sent == []


@pytest.mark.parametrize("name", ["start", "stop", "unlock"])
def test_another_operators_station_is_not_found(carol_api, world, transport, name):
    body = {"card": world.alice_card.pk, "transaction_id": 1, "connector": 1}
    response = carol_api.post(reverse(f"api:operator_station_{name}", args=[world.cp_b.pk]), body, format="json")
    assert response.status_code == 404
    assert transport.sent == []
