"""ClearCache, GetLocalListVersion, DataTransfer, GetCompositeSchedule and ClearChargingProfile from the admin's
command form and the operator API: each built by its typed builder, refused field by field when OCPP does not allow it.

Only the transport is replaced (``commands.command_send``); tests/e2e/test_ocpp_more_commands.py sends them for real.
"""

import pytest
from django.urls import reverse

from sessions_app.ocpp import command_payloads
from sessions_app.ocpp.commands import CommandResult

pytestmark = pytest.mark.django_db

SENT = [
    ({"action": "ClearCache"}, {}),
    ({"action": "GetLocalListVersion"}, {}),
    ({"action": "DataTransfer", "vendor_id": "com.example"}, {"vendor_id": "com.example"}),
    (
        {"action": "DataTransfer", "vendor_id": "com.example", "message_id": "Ping", "data": '{"a": 1}'},
        {"vendor_id": "com.example", "message_id": "Ping", "data": '{"a": 1}'},
    ),
    (
        {"action": "GetCompositeSchedule", "connector_id": 0, "duration": 3600},
        {"connector_id": 0, "duration": 3600},
    ),
    (
        {"action": "GetCompositeSchedule", "connector_id": 1, "duration": 60, "charging_rate_unit": "A"},
        {"connector_id": 1, "duration": 60, "charging_rate_unit": "A"},
    ),
    ({"action": "ClearChargingProfile"}, {}),
    (
        {
            "action": "ClearChargingProfile",
            "profile_id": 7,
            "connector_id": 1,
            "charging_profile_purpose": "TxDefaultProfile",
            "stack_level": 0,
        },
        {"id": 7, "connector_id": 1, "charging_profile_purpose": "TxDefaultProfile", "stack_level": 0},
    ),
]


def commands_url(world) -> str:
    return reverse("admin:sessions_app_chargepoint_commands", args=[world.cp_a.pk])


@pytest.mark.parametrize(("data", "payload"), SENT)
def test_the_admin_form_sends_each_new_command_with_its_ocpp_payload(client, world, transport, data, payload):
    client.force_login(world.carol)
    response = client.post(commands_url(world), data)
    assert response.context["form"].errors == {}
    assert transport.sent == [("ALPHA-1", data["action"], payload)]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"action": "DataTransfer"}, "vendor_id", "Required for this command."),
        ({"action": "DataTransfer", "vendor_id": "v" * 256}, "vendor_id", "At most 255 characters."),
        ({"action": "DataTransfer", "vendor_id": "v", "message_id": "m" * 51}, "message_id", "At most 50 characters."),
        ({"action": "GetCompositeSchedule", "connector_id": 1}, "duration", "Required for this command."),
        ({"action": "GetCompositeSchedule", "duration": 60}, "connector_id", "Required for this command."),
        (
            {"action": "GetCompositeSchedule", "connector_id": 1, "duration": -1},
            "duration",
            "Give a duration in seconds from 0 to 604800 (one week).",
        ),
        (
            {"action": "GetCompositeSchedule", "connector_id": 1, "duration": 60, "charging_rate_unit": "kW"},
            "charging_rate_unit",
            "Select a valid choice.",
        ),
        ({"action": "ClearChargingProfile", "stack_level": -1}, "stack_level", "A stack level is 0 or more."),
        (
            {"action": "ClearChargingProfile", "connector_id": 1001},
            "connector_id",
            "Give a connector from 0 (the whole charger) to 1000.",
        ),
    ],
)
def test_the_admin_form_refuses_what_ocpp_does_not_allow_and_sends_nothing(
    client, world, transport, data, field, message
):
    client.force_login(world.carol)
    response = client.post(commands_url(world), data)
    assert message in " ".join(response.context["form"].errors[field])
    assert transport.sent == []


def test_each_field_says_which_commands_use_it_and_carries_them_for_the_script(client, world):
    client.force_login(world.carol)
    form = client.get(commands_url(world)).context["form"]
    assert str(form.fields["vendor_id"].help_text).endswith("Used by: DataTransfer.")
    assert form.fields["connector_id"].widget.attrs["data-commands"] == (
        "RemoteStartTransaction UnlockConnector ChangeAvailability TriggerMessage "
        "GetCompositeSchedule ClearChargingProfile SetChargingProfile"
    )
    assert "data-commands" not in form.fields["action"].widget.attrs


@pytest.mark.parametrize(
    ("data", "answer", "shown"),
    [
        ({"action": "GetLocalListVersion"}, {"list_version": 4}, "Local list version: 4"),
        ({"action": "GetLocalListVersion"}, {"list_version": -1}, "The charger keeps no local authorization list."),
        (
            {"action": "DataTransfer", "vendor_id": "com.example"},
            {"status": "Accepted", "data": "pong"},
            "&quot;data&quot;: &quot;pong&quot;",
        ),
        (
            {"action": "GetCompositeSchedule", "connector_id": 1, "duration": 60},
            {"status": "Accepted", "connector_id": 1, "schedule_start": "2026-01-01T00:00:00Z"},
            "&quot;schedule_start&quot;: &quot;2026-01-01T00:00:00Z&quot;",
        ),
    ],
)
def test_the_answer_beyond_its_status_is_shown(client, world, transport, data, answer, shown):
    transport.result = CommandResult("answered", answer)
    client.force_login(world.carol)
    assert shown in client.post(commands_url(world), data).content.decode()


API_CALLS = [
    ("api:operator_station_cache_clear", {}, "ClearCache", {}),
    ("api:operator_station_local_list_version", {}, "GetLocalListVersion", {}),
    (
        "api:operator_station_data_transfer",
        {"vendor_id": "com.example", "message_id": "Ping"},
        "DataTransfer",
        {"vendor_id": "com.example", "message_id": "Ping"},
    ),
    (
        "api:operator_station_composite_schedule",
        {"connector": 0, "duration": 600, "charging_rate_unit": "W"},
        "GetCompositeSchedule",
        {"connector_id": 0, "duration": 600, "charging_rate_unit": "W"},
    ),
    ("api:operator_station_charging_profiles_clear", {}, "ClearChargingProfile", {}),
    (
        "api:operator_station_charging_profiles_clear",
        {"id": 3, "connector": 2, "charging_profile_purpose": "TxProfile", "stack_level": 1},
        "ClearChargingProfile",
        {"id": 3, "connector_id": 2, "charging_profile_purpose": "TxProfile", "stack_level": 1},
    ),
]


@pytest.mark.parametrize(("name", "body", "action", "payload"), API_CALLS)
def test_the_operator_api_sends_each_new_command_with_its_ocpp_payload(
    carol_api, world, transport, name, body, action, payload
):
    response = carol_api.post(reverse(name, args=[world.cp_a.pk]), body, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["action"] == action and response.json()["status"] == "Accepted"
    assert transport.sent == [("ALPHA-1", action, payload)]


@pytest.mark.parametrize(
    ("name", "body", "field"),
    [
        ("api:operator_station_data_transfer", {}, "vendor_id"),
        ("api:operator_station_data_transfer", {"vendor_id": "v" * 256}, "vendor_id"),
        ("api:operator_station_composite_schedule", {"connector": 1, "duration": 10**7}, "duration"),
        ("api:operator_station_composite_schedule", {"connector": -1, "duration": 60}, "connector"),
        (
            "api:operator_station_charging_profiles_clear",
            {"charging_profile_purpose": "Other"},
            "charging_profile_purpose",
        ),
        ("api:operator_station_charging_profiles_clear", {"stack_level": -2}, "stack_level"),
    ],
)
def test_the_operator_api_refuses_what_ocpp_does_not_allow_naming_the_field(
    carol_api, world, transport, name, body, field
):
    response = carol_api.post(reverse(name, args=[world.cp_a.pk]), body, format="json")
    assert response.status_code == 400
    assert field in str(response.json()["error"]["fields"])
    assert transport.sent == []


def test_another_operators_station_is_not_found_and_gets_nothing(carol_api, world, transport):
    response = carol_api.post(reverse("api:operator_station_cache_clear", args=[world.cp_b.pk]), {}, format="json")
    assert response.status_code == 404
    assert transport.sent == []


def test_the_builders_give_the_ocpp_package_calls():
    assert command_payloads.command_payload(command_payloads.clear_cache()) == ("ClearCache", {})
    assert command_payloads.command_payload(
        command_payloads.clear_charging_profile(profile_id=5, charging_profile_purpose="ChargePointMaxProfile")
    ) == ("ClearChargingProfile", {"id": 5, "charging_profile_purpose": "ChargePointMaxProfile"})
    with pytest.raises(command_payloads.CommandPayloadError) as refused:
        command_payloads.get_composite_schedule(connector_id=1, duration=60, charging_rate_unit="kW")
    assert refused.value.field == "charging_rate_unit"
