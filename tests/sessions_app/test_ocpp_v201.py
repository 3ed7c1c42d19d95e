"""OCPP 2.0.1 beside 1.6 on one endpoint: the version negotiated at the handshake, remembered on the charge
point, and the first 2.0.1 messages (boot, heartbeat, status, authorize) answered by the same services."""

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.testing import ApplicationCommunicator
from channels.routing import URLRouter
from django.urls import reverse
from ocpp.exceptions import NotSupportedError

from accounts.models import IdTag
from accounts.services import id_tag_block
from sessions_app.evse import EvseNumbering
from sessions_app.models import ChargePoint, Connector, ConnectorStatus, SecurityEvent
from sessions_app.ocpp.consumer import negotiate
from sessions_app.ocpp.routing import websocket_urlpatterns
from sessions_app.ocpp.v201 import CONNECTOR_STATUS, evse_connector_number
from tests.factories import make_tag
from tests.sessions_app.websocket import ChargerSocket

pytestmark = pytest.mark.django_db(transaction=True)

V201 = ("ocpp2.0.1",)


BOOT = {"chargingStation": {"vendorName": "Acme", "model": "Two", "serialNumber": "SN-9"}, "reason": "PowerUp"}


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _protocol_chosen(offered: tuple[str, ...]) -> tuple[str | None, str]:
    async def scenario():
        async with ChargerSocket("ALPHA-1", subprotocols=offered) as charger:
            return charger.subprotocol

    chosen = asyncio.run(scenario())
    return chosen, ChargePoint.objects.get(ocpp_id="ALPHA-1").ocpp_protocol


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [
        (("ocpp2.0.1",), "ocpp2.0.1"),
        (("ocpp1.6", "ocpp2.0.1"), "ocpp2.0.1"),  # the newest both speak, whatever the charger's order
        (("ocpp2.0.1", "ocpp1.6"), "ocpp2.0.1"),
        (("ocpp1.6",), "ocpp1.6"),
        (("ocpp1.5", "ocpp1.6"), "ocpp1.6"),
        (("ocpp1.6", "ocpp2.0.1", "ocpp2.1"), "ocpp2.1"),
        (("ocpp2.1",), "ocpp2.1"),
    ],
)
def test_the_newest_version_both_sides_speak_is_chosen_and_remembered(world, offered, chosen):
    assert _protocol_chosen(offered) == (chosen, chosen)


def test_a_charger_back_on_1_6_is_remembered_as_1_6_again(world):
    _protocol_chosen(V201)
    assert _protocol_chosen(("ocpp1.6",)) == ("ocpp1.6", "ocpp1.6")


def test_negotiate_refuses_what_offers_none_of_ours():
    assert negotiate(["ocpp1.5", "ocpp2.0"]) is None
    assert negotiate([]) is None


def test_a_charger_offering_none_of_our_versions_is_refused_before_a_channel_is_taken(world):
    scope = {
        "type": "websocket",
        "path": "/ocpp/ALPHA-1",
        "subprotocols": ["ocpp1.5", "ocpp2.0"],
        "headers": [],
        "client": ("127.0.0.1", 50000),
    }

    async def scenario():
        communicator = ApplicationCommunicator(URLRouter(websocket_urlpatterns), scope)
        await communicator.send_input({"type": "websocket.connect"})
        answer = await communicator.receive_output(10)
        await communicator.wait(10)
        return answer

    assert asyncio.run(scenario())["type"] == "websocket.close"
    event = SecurityEvent.objects.get(kind=SecurityEvent.Kind.SUBPROTOCOL_REFUSED)
    assert event.charge_point == world.cp_a and event.detail == "offered: ocpp1.5, ocpp2.0"
    assert ChargePoint.objects.get(pk=world.cp_a.pk).channel_name == ""


@pytest.mark.parametrize(
    ("evse_id", "connector_id", "number"),
    [(1, 1, 1), (2, 1, 2), (3, 0, 3), (0, 0, 0)],
)
def test_a_single_connector_evse_is_our_connector_numbered_as_the_evse(evse_id, connector_id, number):
    assert evse_connector_number(EvseNumbering(), evse_id, connector_id) == number


def test_a_second_connector_on_one_evse_not_described_is_not_supported():
    with pytest.raises(NotSupportedError):
        evse_connector_number(EvseNumbering(), 1, 2)


def test_every_2_0_1_connector_status_has_a_status_of_ours():
    assert set(CONNECTOR_STATUS.values()) <= set(ConnectorStatus.values)
    assert {status.value: ours for status, ours in CONNECTOR_STATUS.items()} == {
        "Available": "Available",
        "Occupied": "Preparing",
        "Reserved": "Reserved",
        "Unavailable": "Unavailable",
        "Faulted": "Faulted",
    }


def _calls(*calls: tuple[str, dict], ocpp_id: str = "ALPHA-1") -> list[list]:
    async def scenario():
        async with ChargerSocket(ocpp_id, subprotocols=V201) as charger:
            return [await charger.call(action, payload) for action, payload in calls]

    return asyncio.run(scenario())


def test_boot_is_accepted_with_the_servers_interval_and_the_station_recorded(world):
    ChargePoint.objects.filter(pk=world.cp_a.pk).update(heartbeat_interval=120)

    boot, heartbeat = _calls(("BootNotification", BOOT), ("Heartbeat", {}))

    assert boot[0] == 3 and boot[2]["status"] == "Accepted" and boot[2]["interval"] == 120
    assert heartbeat[0] == 3 and heartbeat[2]["currentTime"]
    cp = ChargePoint.objects.get(pk=world.cp_a.pk)
    assert (cp.vendor, cp.model, cp.serial_number) == ("Acme", "Two", "SN-9") and cp.last_boot_at is not None
    assert cp.last_boot_reason == "PowerUp"


@pytest.mark.parametrize(
    ("registration", "answer"),
    [(ChargePoint.RegistrationStatus.PENDING, "Pending"), (ChargePoint.RegistrationStatus.REJECTED, "Rejected")],
)
def test_boot_of_a_charger_not_accepted_is_answered_as_in_1_6(world, registration, answer):
    ChargePoint.objects.filter(pk=world.cp_a.pk).update(registration_status=registration)

    (boot,) = _calls(("BootNotification", BOOT))

    assert boot[2]["status"] == answer


def test_status_notification_changes_the_evses_connector(world):
    status = {"timestamp": _now(), "connectorStatus": "Occupied", "evseId": 2, "connectorId": 1}
    faulted = {"timestamp": _now(), "connectorStatus": "Faulted", "evseId": 1, "connectorId": 1}

    answers = _calls(("StatusNotification", status), ("StatusNotification", faulted))

    assert [answer[0] for answer in answers] == [3, 3]
    connectors = {c.number: c for c in Connector.objects.filter(charge_point=world.cp_a)}
    assert (connectors[2].status, connectors[2].error_code) == ("Preparing", "NoError")
    assert (connectors[1].status, connectors[1].error_code) == ("Faulted", "OtherError")


def test_status_of_a_second_connector_on_an_evse_is_a_call_error_and_the_connection_stays(world):
    second = {"timestamp": _now(), "connectorStatus": "Available", "evseId": 1, "connectorId": 2}

    refused, heartbeat = _calls(("StatusNotification", second), ("Heartbeat", {}))

    assert refused[0] == 4 and refused[2] == "NotSupported"
    assert heartbeat[0] == 3


@pytest.mark.parametrize("token_type", ["ISO14443", "ISO15693", "KeyCode", "Central", "MacAddress"])
def test_authorize_looks_up_the_token_whatever_its_type(world, token_type):
    (answer,) = _calls(("Authorize", {"idToken": {"idToken": "04a1b2c3", "type": token_type}}))

    assert answer[2]["idTokenInfo"]["status"] == "Accepted"


def test_authorize_of_an_emaid_tag(world):
    make_tag(world.alice.customer_account, world.alice, uid="SE-CPO-C12345678-9", kind=IdTag.Kind.EMAID)

    (answer,) = _calls(("Authorize", {"idToken": {"idToken": "SE-CPO-C12345678-9", "type": "eMAID"}}))

    assert answer[2]["idTokenInfo"]["status"] == "Accepted"


def test_authorize_tells_expiry_and_group_as_2_0_1_does(world):
    expiry = datetime(2099, 1, 1, tzinfo=UTC)
    fleet = make_tag(world.alice.customer_account, None, uid="0F1EE700")
    IdTag.objects.filter(pk=world.alice_card.pk).update(expires_at=expiry, parent=fleet)

    (answer,) = _calls(("Authorize", {"idToken": {"idToken": "04A1B2C3", "type": "ISO14443"}}))

    info = answer[2]["idTokenInfo"]
    assert info["status"] == "Accepted"
    assert info["cacheExpiryDateTime"] == "2099-01-01T00:00:00Z"
    assert info["groupIdToken"] == {"idToken": "0F1EE700", "type": "Central"}


def test_authorize_refusals(world):
    id_tag_block(id_tag=world.bob_card)
    IdTag.objects.filter(pk=world.alice_card.pk).update(expires_at=datetime.now(UTC) - timedelta(days=1))

    unknown, blocked, expired, no_authorization = _calls(
        ("Authorize", {"idToken": {"idToken": "DEADBEEF", "type": "ISO14443"}}),
        ("Authorize", {"idToken": {"idToken": "04B0B0B0", "type": "ISO14443"}}),
        ("Authorize", {"idToken": {"idToken": "04A1B2C3", "type": "ISO14443"}}),
        ("Authorize", {"idToken": {"idToken": "", "type": "NoAuthorization"}}),
    )

    assert [answer[2]["idTokenInfo"]["status"] for answer in (unknown, blocked, expired, no_authorization)] == [
        "Invalid",
        "Blocked",
        "Expired",
        "Invalid",
    ]


def test_a_charger_not_accepted_learns_nothing_about_cards(world):
    ChargePoint.objects.filter(pk=world.cp_a.pk).update(registration_status=ChargePoint.RegistrationStatus.PENDING)

    (answer,) = _calls(("Authorize", {"idToken": {"idToken": "04A1B2C3", "type": "ISO14443"}}))

    assert answer[2]["idTokenInfo"]["status"] == "Invalid"


def test_actions_not_handled_get_the_proper_call_error_and_the_connection_stays(world):
    certificate = {"iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef", "action": "Install", "exiRequest": "AA=="}

    not_yet, unknown, start_16, heartbeat = _calls(
        ("Get15118EVCertificate", certificate),
        ("FlyToTheMoon", {}),
        ("StartTransaction", {"connectorId": 1, "idTag": "04A1B2C3", "meterStart": 0, "timestamp": _now()}),
        ("Heartbeat", {}),
    )

    assert (not_yet[0], not_yet[2]) == (4, "NotSupported")
    assert (unknown[0], unknown[2]) == (4, "NotImplemented")
    assert (start_16[0], start_16[2]) == (4, "NotImplemented")  # a 1.6 action is no 2.0.1 one
    assert heartbeat[0] == 3


def test_an_unreadable_frame_is_a_format_violation_as_2_0_1_spells_it(world):
    """1.6 calls it FormationViolation; a 2.0.1 charger is answered in its own version's words."""

    async def scenario():
        async with ChargerSocket("ALPHA-1", subprotocols=V201) as charger:
            await charger.communicator.send_input({"type": "websocket.receive", "text": '[2, "m-1", "Heartbeat"'})
            return json.loads((await charger.communicator.receive_output(10))["text"])

    answer = asyncio.run(scenario())

    assert answer[0] == 4 and answer[2] == "FormatViolation"


def test_the_version_is_shown_to_the_operator_in_the_api_and_the_admin(world, carol_api, client):
    _protocol_chosen(V201)

    station = carol_api.get(reverse("api:operator_station", args=[world.cp_a.pk])).json()
    client.force_login(world.carol)
    page = client.get(reverse("admin:sessions_app_chargepoint_change", args=[world.cp_a.pk])).content.decode()

    assert station["ocpp_protocol"] == "ocpp2.0.1"
    assert "OCPP 2.0.1" in page
