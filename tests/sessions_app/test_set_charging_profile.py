"""SetChargingProfile: the typed builder and OCPP 1.6's rules for a charging profile, the admin's command form
(periods typed one per line) and the operator API's stations/<id>/charging-profiles/; the remote start's TxProfile
checked by the same rules.

Only the transport is replaced (``commands.command_send``); tests/e2e/test_ocpp_charging_profiles.py sends it for real.
"""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from sessions_app.ocpp import command_payloads
from sessions_app.ocpp.command_payloads import CommandPayloadError, set_charging_profile
from sessions_app.ocpp.commands import ACTIONS

pytestmark = pytest.mark.django_db

JAN_1 = datetime(2026, 1, 1, tzinfo=UTC)
DEFAULT = {
    "connector_id": 1,
    "charging_profile_id": 7,
    "stack_level": 0,
    "charging_profile_purpose": "TxDefaultProfile",
    "charging_profile_kind": "Relative",
    "charging_rate_unit": "A",
    "schedule_periods": [(0, 16)],
}


def refused(**changes) -> CommandPayloadError:
    with pytest.raises(CommandPayloadError) as error:
        set_charging_profile(**{**DEFAULT, **changes})
    return error.value


# --- the builder ---------------------------------------------------------------------------------------------


def test_the_builder_gives_the_ocpp_package_call_with_every_field_in_ocpp_types():
    request = set_charging_profile(
        connector_id=2,
        charging_profile_id=12,
        stack_level=3,
        charging_profile_purpose="TxProfile",
        charging_profile_kind="Absolute",
        transaction_id=4711,
        valid_from=datetime(2026, 1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
        valid_to=JAN_1 + timedelta(days=1),
        charging_rate_unit="W",
        schedule_periods=[(0, Decimal("11000")), (1800, 7400.5, 1), {"start_period": 3600, "limit": 3700}],
        duration=7200,
        start_schedule=JAN_1,
        min_charging_rate=Decimal("1400.5"),
    )

    assert command_payloads.command_payload(request) == (
        "SetChargingProfile",
        {
            "connector_id": 2,
            "cs_charging_profiles": {
                "charging_profile_id": 12,
                "stack_level": 3,
                "charging_profile_purpose": "TxProfile",
                "charging_profile_kind": "Absolute",
                "transaction_id": 4711,
                "valid_from": "2026-01-01T00:00:00Z",  # sent in UTC
                "valid_to": "2026-01-02T00:00:00Z",
                "charging_schedule": {
                    "charging_rate_unit": "W",
                    "charging_schedule_period": [
                        {"start_period": 0, "limit": 11000.0},
                        {"start_period": 1800, "limit": 7400.5, "number_phases": 1},
                        {"start_period": 3600, "limit": 3700.0},
                    ],
                    "duration": 7200,
                    "start_schedule": "2026-01-01T00:00:00Z",
                    "min_charging_rate": 1400.5,
                },
            },
        },
    )
    profile = request.cs_charging_profiles
    assert all(type(period.limit) is float for period in profile.charging_schedule.charging_schedule_period)


def test_absent_optional_fields_are_left_out_even_inside_the_profile():
    action, payload = command_payloads.command_payload(set_charging_profile(**DEFAULT))
    assert (action, payload) == (
        "SetChargingProfile",
        {
            "connector_id": 1,
            "cs_charging_profiles": {
                "charging_profile_id": 7,
                "stack_level": 0,
                "charging_profile_purpose": "TxDefaultProfile",
                "charging_profile_kind": "Relative",
                "charging_schedule": {
                    "charging_rate_unit": "A",
                    "charging_schedule_period": [{"start_period": 0, "limit": 16.0}],
                },
            },
        },
    )


def test_a_charge_point_max_profile_is_set_on_connector_0_and_a_tx_default_profile_anywhere():
    for connector_id, purpose in ((0, "ChargePointMaxProfile"), (0, "TxDefaultProfile"), (3, "TxDefaultProfile")):
        request = set_charging_profile(**{**DEFAULT, "connector_id": connector_id, "charging_profile_purpose": purpose})
        assert request.connector_id == connector_id


def test_the_profile_set_is_the_one_charging_profile_builds_and_checks_from_the_same_fields():
    profile = {name: value for name, value in DEFAULT.items() if name != "connector_id"}
    assert set_charging_profile(connector_id=1, **profile).cs_charging_profiles == command_payloads.charging_profile(
        **profile
    )
    with pytest.raises(TypeError):  # a field charging_profile does not take is not taken here either
        set_charging_profile(connector_id=1, **profile, limit=16)


def test_a_recurring_profile_repeats_daily_or_weekly_from_its_start():
    request = set_charging_profile(
        **{
            **DEFAULT,
            "charging_profile_kind": "Recurring",
            "recurrency_kind": "Daily",
            "start_schedule": JAN_1,
            "schedule_periods": [(0, 10), (8 * 3600, 32), (22 * 3600, 16)],
            "duration": 86400,
        }
    )
    assert request.cs_charging_profiles.recurrency_kind == "Daily"
    assert "SetChargingProfile" in ACTIONS


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {"charging_profile_purpose": "ChargePointMaxProfile", "connector_id": 1},
            "connector_id",
            "A ChargePointMaxProfile limits the whole charger: set it on connector 0.",
        ),
        (
            {"charging_profile_purpose": "TxProfile", "connector_id": 0, "transaction_id": 5},
            "connector_id",
            "A TxProfile is set on the connector of its transaction, not on 0.",
        ),
        (
            {"charging_profile_purpose": "TxProfile"},
            "transaction_id",
            "A TxProfile names the running transaction it limits.",
        ),
        ({"transaction_id": 5}, "transaction_id", "Only a TxProfile names a transaction."),
        ({"connector_id": -1}, "connector_id", "Give a connector from 0 (the whole charger) to 1000."),
        ({"connector_id": 1001}, "connector_id", "Give a connector from 0 (the whole charger) to 1000."),
        ({"charging_profile_purpose": ""}, "charging_profile_purpose", "Required for this command."),
        ({"charging_profile_purpose": "Max"}, "charging_profile_purpose", "Choose one of ChargePointMaxProfile"),
        ({"charging_profile_kind": ""}, "charging_profile_kind", "Required for this command."),
        ({"charging_profile_kind": "Once"}, "charging_profile_kind", "Choose one of Absolute, Recurring, Relative."),
        ({"charging_profile_id": -1}, "charging_profile_id", "Give a profile id from 0 to 2147483647."),
        ({"charging_profile_id": 2**31}, "charging_profile_id", "Give a profile id from 0 to 2147483647."),
        ({"stack_level": -1}, "stack_level", "A stack level is 0 or more."),
        ({"charging_rate_unit": ""}, "charging_rate_unit", "Required for this command."),
        ({"charging_rate_unit": "kW"}, "charging_rate_unit", "Choose one of W, A."),
        (
            {"charging_profile_kind": "Recurring", "start_schedule": JAN_1},
            "recurrency_kind",
            "A Recurring profile repeats Daily or Weekly: choose one.",
        ),
        ({"recurrency_kind": "Daily"}, "recurrency_kind", "Only a Recurring profile has a recurrence."),
        (
            {"charging_profile_kind": "Recurring", "recurrency_kind": "Monthly", "start_schedule": JAN_1},
            "recurrency_kind",
            "Choose one of Daily, Weekly.",
        ),
        (
            {"charging_profile_kind": "Recurring", "recurrency_kind": "Weekly"},
            "start_schedule",
            "A Recurring schedule repeats from its start: give it.",
        ),
        ({"start_schedule": JAN_1}, "start_schedule", "A Relative schedule starts with the transaction"),
        (
            {"charging_profile_kind": "Absolute", "start_schedule": datetime(2026, 1, 1)},  # noqa: DTZ001
            "start_schedule",
            "Give the time with its time zone.",
        ),
        ({"valid_from": datetime(2026, 1, 1)}, "valid_from", "Give the time with its time zone."),  # noqa: DTZ001
        ({"valid_to": datetime(2026, 1, 1)}, "valid_to", "Give the time with its time zone."),  # noqa: DTZ001
        (
            {"valid_from": JAN_1, "valid_to": JAN_1 - timedelta(seconds=1)},
            "valid_to",
            "The profile must end after it becomes valid.",
        ),
        ({"valid_from": JAN_1, "valid_to": JAN_1}, "valid_to", "The profile must end after it becomes valid."),
        ({"duration": 0}, "duration", "Give the schedule's duration in seconds, more than 0."),
        (
            {
                "charging_profile_kind": "Recurring",
                "recurrency_kind": "Daily",
                "start_schedule": JAN_1,
                "duration": 86401,
            },
            "duration",
            "A Daily schedule lasts at most 86400 s.",
        ),
        ({"min_charging_rate": 0}, "min_charging_rate", "The minimum charging rate is a number more than 0."),
        (
            {"min_charging_rate": Decimal("6.25")},
            "min_charging_rate",
            "The minimum charging rate has at most one decimal, e.g. 7.5.",
        ),
        ({"schedule_periods": []}, "schedule_periods", "Give at least one period, the first starting at 0 s."),
        ({"schedule_periods": [(60, 16)]}, "schedule_periods", "The first period starts at 0 s, not 60."),
        (
            {"schedule_periods": [(0, 16), (600, 10), (600, 8)]},
            "schedule_periods",
            "Period 3 starts at 600 s, not after the one before it (600 s).",
        ),
        (
            {"schedule_periods": [(0, 16), (600, 10), (300, 8)]},
            "schedule_periods",
            "Period 3 starts at 300 s, not after the one before it (600 s).",
        ),
        ({"schedule_periods": [(0, 16), (1.5, 8)]}, "schedule_periods", "Period 2: its start is a whole number"),
        (
            {"schedule_periods": [(0, 16), (3600, 8)], "duration": 3600},
            "schedule_periods",
            "Period 2 starts at 3600 s, after the schedule's 3600 s are over.",
        ),
        (
            {
                "charging_profile_kind": "Recurring",
                "recurrency_kind": "Daily",
                "start_schedule": JAN_1,
                "schedule_periods": [(0, 16), (86400, 8)],
            },
            "schedule_periods",
            "Period 2 starts at 86400 s, after the schedule's 86400 s are over.",
        ),
        ({"schedule_periods": [(0, 0)]}, "schedule_periods", "Period 1: the limit is a number more than 0."),
        ({"schedule_periods": [(0, -6)]}, "schedule_periods", "Period 1: the limit is a number more than 0."),
        (
            {"schedule_periods": [(0, Decimal("NaN"))]},
            "schedule_periods",
            "Period 1: the limit is a number more than 0.",
        ),
        ({"schedule_periods": [(0, "a lot")]}, "schedule_periods", "Period 1: the limit is a number more than 0."),
        (
            {"schedule_periods": [(0, 16), (60, 7.25)]},
            "schedule_periods",
            "Period 2: the limit has at most one decimal, e.g. 7.5.",
        ),
        ({"schedule_periods": [(0, 16, 0)]}, "schedule_periods", "Period 1: from 1 to 3 phases."),
        ({"schedule_periods": [(0, 16, 4)]}, "schedule_periods", "Period 1: from 1 to 3 phases."),
        ({"schedule_periods": [(0,)]}, "schedule_periods", "Period 1: give its start in seconds, its limit"),
        (
            {"schedule_periods": [(start * 60, 16) for start in range(1001)]},
            "schedule_periods",
            "At most 1000 periods.",
        ),
    ],
)
def test_the_builder_refuses_what_ocpp_1_6_does_not_allow_naming_the_field(changes, field, message):
    error = refused(**changes)
    assert error.field == field
    assert message in error.message


def test_a_limit_with_a_trailing_zero_has_one_decimal():
    request = set_charging_profile(**{**DEFAULT, "schedule_periods": [(0, Decimal("16.50")), (60, 8.0)]})
    limits = [period.limit for period in request.cs_charging_profiles.charging_schedule.charging_schedule_period]
    assert limits == [16.5, 8.0]


# --- the remote start's TxProfile, checked by the same rules ---------------------------------------------------

TX_PROFILE = {
    "charging_profile_id": 7,
    "stack_level": 0,
    "charging_profile_purpose": "TxProfile",
    "charging_profile_kind": "Relative",
    "charging_schedule": {"charging_rate_unit": "A", "charging_schedule_period": [{"start_period": 0, "limit": 16}]},
}


@pytest.mark.parametrize(
    ("schedule", "profile", "message"),
    [
        (
            {"charging_schedule_period": [{"start_period": 30, "limit": 16}]},
            {},
            "charging_schedule.charging_schedule_period: The first period starts at 0 s, not 30.",
        ),
        (
            {"charging_schedule_period": [{"start_period": 0, "limit": 16}, {"start_period": 0, "limit": 8}]},
            {},
            "charging_schedule.charging_schedule_period: Period 2 starts at 0 s, not after the one before it (0 s).",
        ),
        (
            {"charging_schedule_period": [{"start_period": 0, "limit": 16, "number_phases": 5}]},
            {},
            "Period 1: from 1 to 3 phases.",
        ),
        ({"start_schedule": "2026-01-01T00:00:00Z"}, {}, "charging_schedule.start_schedule: A Relative schedule"),
        (
            {},
            {"valid_from": "2026-01-02T00:00:00Z", "valid_to": "2026-01-01T00:00:00Z"},
            "valid_to: The profile must end after it becomes valid.",
        ),
        ({}, {"valid_from": "2026-01-02T00:00:00"}, "valid_from: Give the time with its time zone."),
        ({}, {"valid_from": "soon"}, "valid_from: Give the time in ISO 8601 with its time zone."),
        ({}, {"recurrency_kind": "Daily"}, "recurrency_kind: Only a Recurring profile has a recurrence."),
    ],
)
def test_the_operator_apis_remote_start_refuses_a_profile_by_the_same_rules(
    carol_api, world, transport, schedule, profile, message
):
    charging_profile = {
        **TX_PROFILE,
        **profile,
        "charging_schedule": {**TX_PROFILE["charging_schedule"], **schedule},
    }
    body = {"card": world.alice_card.pk, "charging_profile": charging_profile}

    response = carol_api.post(reverse("api:operator_station_start", args=[world.cp_a.pk]), body, format="json")

    assert response.status_code == 400
    assert message in " ".join(response.json()["error"]["fields"]["charging_profile"])
    assert transport.sent == []


def test_the_remote_start_sends_a_valid_profile_as_given(carol_api, world, transport):
    """Also a limit such as 7.1, which as a float is no exact "multiple of 0.1" for OCPP's schema."""
    schedule = {"charging_rate_unit": "A", "charging_schedule_period": [{"start_period": 0, "limit": 7.1}]}
    profile = {**TX_PROFILE, "valid_to": "2030-01-01T00:00:00+01:00", "charging_schedule": schedule}
    body = {"card": world.alice_card.pk, "connector": 1, "charging_profile": profile}

    response = carol_api.post(reverse("api:operator_station_start", args=[world.cp_a.pk]), body, format="json")

    assert response.status_code == 200, response.content
    assert transport.sent[0][2]["charging_profile"] == profile


# --- the admin's command form ------------------------------------------------------------------------------------


def commands_url(world, charge_point=None) -> str:
    return reverse("admin:sessions_app_chargepoint_commands", args=[(charge_point or world.cp_a).pk])


FORM = {
    "action": "SetChargingProfile",
    "connector_id": 0,
    "charging_profile_id": 3,
    "stack_level": 1,
    "charging_profile_purpose": "TxDefaultProfile",
    "charging_profile_kind": "Absolute",
    "charging_rate_unit": "A",
    "start_schedule": "2026-01-01 08:00",
    "schedule_periods": "0 16\n\n 3600  10,5  3 \n7200 6.0",
}


def test_the_admin_form_sends_the_profile_with_the_periods_typed_one_per_line(client, world, transport, settings):
    settings.TIME_ZONE = "UTC"
    client.force_login(world.carol)

    response = client.post(commands_url(world), {**FORM, "duration": 86000, "valid_to": "2026-02-01 00:00"})

    assert response.context["form"].errors == {}
    assert transport.sent == [
        (
            "ALPHA-1",
            "SetChargingProfile",
            {
                "connector_id": 0,
                "cs_charging_profiles": {
                    "charging_profile_id": 3,
                    "stack_level": 1,
                    "charging_profile_purpose": "TxDefaultProfile",
                    "charging_profile_kind": "Absolute",
                    "valid_to": "2026-02-01T00:00:00Z",
                    "charging_schedule": {
                        "charging_rate_unit": "A",
                        "charging_schedule_period": [
                            {"start_period": 0, "limit": 16.0},
                            {"start_period": 3600, "limit": 10.5, "number_phases": 3},
                            {"start_period": 7200, "limit": 6.0},
                        ],
                        "duration": 86000,
                        "start_schedule": "2026-01-01T08:00:00Z",
                    },
                },
            },
        )
    ]


def test_a_tx_profile_from_the_admin_names_its_transaction(client, world, transport):
    client.force_login(world.carol)
    data = {
        **FORM,
        "connector_id": 1,
        "charging_profile_purpose": "TxProfile",
        "charging_profile_kind": "Relative",
        "start_schedule": "",
        "transaction_id": 42,
    }

    response = client.post(commands_url(world), data)

    assert response.context["form"].errors == {}
    profile = transport.sent[0][2]["cs_charging_profiles"]
    assert (profile["charging_profile_purpose"], profile["transaction_id"]) == ("TxProfile", 42)


@pytest.mark.parametrize(
    ("changes", "field", "messages"),
    [
        (
            {"schedule_periods": "0 16\n60\n120 ten\nx 8\n180 8 4\n240 8 3"},
            "schedule_periods",
            [
                "Line 2: give the start in seconds, the limit and maybe the phases, e.g. 3600 10.5 3.",
                "Line 3: the limit is a number, e.g. 16 or 7.5.",
                "Line 4: the start is a whole number of seconds.",
                "Line 5: the phases are 1, 2 or 3.",
            ],
        ),
        ({"schedule_periods": ""}, "schedule_periods", ["Give at least one period, the first starting at 0 s."]),
        ({"schedule_periods": "0 16\n0 8"}, "schedule_periods", ["Period 2 starts at 0 s, not after the one before"]),
        ({"schedule_periods": "0 16,25"}, "schedule_periods", ["Period 1: the limit has at most one decimal"]),
        ({"connector_id": 2, "charging_profile_purpose": "ChargePointMaxProfile"}, "connector_id", ["connector 0"]),
        ({"charging_profile_purpose": "TxProfile"}, "connector_id", ["not on 0"]),
        ({"charging_profile_kind": ""}, "charging_profile_kind", ["Required for this command."]),
        ({"charging_rate_unit": ""}, "charging_rate_unit", ["Required for this command."]),
        ({"charging_profile_kind": "Recurring"}, "recurrency_kind", ["Daily or Weekly"]),
        (
            {"valid_from": "2026-01-02 00:00", "valid_to": "2026-01-01 00:00"},
            "valid_to",
            ["The profile must end after it becomes valid."],
        ),
    ],
)
def test_the_admin_form_refuses_a_profile_ocpp_does_not_allow_and_sends_nothing(
    client, world, transport, changes, field, messages
):
    client.force_login(world.carol)
    response = client.post(commands_url(world), {**FORM, **changes})
    errors = response.context["form"].errors[field]
    for message in messages:
        assert any(message in error for error in errors), errors
    assert "Required for this command." not in errors or changes.get(field) == ""
    assert transport.sent == []


def test_the_profiles_fields_show_only_for_set_charging_profile(client, world):
    client.force_login(world.carol)
    page = client.get(commands_url(world))
    form = page.context["form"]
    for name in ("charging_profile_id", "charging_profile_kind", "recurrency_kind", "schedule_periods"):
        assert form.fields[name].widget.attrs["data-commands"] == "SetChargingProfile"
    assert "SetChargingProfile" in form.fields["charging_rate_unit"].widget.attrs["data-commands"].split()
    assert 'value="SetChargingProfile"' in page.content.decode()


def test_another_operators_charger_has_no_command_page_and_gets_nothing(client, world, transport):
    client.force_login(world.dave)
    response = client.post(commands_url(world), FORM)
    assert response.status_code in (302, 403, 404)
    assert transport.sent == []


# --- the operator API ------------------------------------------------------------------------------------------

API_BODY = {
    "connector": 0,
    "charging_profile_id": 9,
    "stack_level": 0,
    "charging_profile_purpose": "ChargePointMaxProfile",
    "charging_profile_kind": "Recurring",
    "recurrency_kind": "Weekly",
    "start_schedule": "2026-01-05T00:00:00+01:00",
    "valid_from": "2026-01-01T00:00:00Z",
    "charging_rate_unit": "W",
    "periods": [{"start_period": 0, "limit": 22000}, {"start_period": 28800, "limit": 11000.5, "number_phases": 3}],
}


def api_url(world, charge_point=None) -> str:
    return reverse("api:operator_station_charging_profiles", args=[(charge_point or world.cp_a).pk])


def test_the_operator_api_sends_the_profile_and_the_answer(carol_api, world, transport):
    response = carol_api.post(api_url(world), API_BODY, format="json")

    assert response.status_code == 200, response.content
    assert (response.json()["action"], response.json()["status"]) == ("SetChargingProfile", "Accepted")
    assert transport.sent == [
        (
            "ALPHA-1",
            "SetChargingProfile",
            {
                "connector_id": 0,
                "cs_charging_profiles": {
                    "charging_profile_id": 9,
                    "stack_level": 0,
                    "charging_profile_purpose": "ChargePointMaxProfile",
                    "charging_profile_kind": "Recurring",
                    "recurrency_kind": "Weekly",
                    "valid_from": "2026-01-01T00:00:00Z",
                    "charging_schedule": {
                        "charging_rate_unit": "W",
                        "charging_schedule_period": [
                            {"start_period": 0, "limit": 22000.0},
                            {"start_period": 28800, "limit": 11000.5, "number_phases": 3},
                        ],
                        "start_schedule": "2026-01-04T23:00:00Z",
                    },
                },
            },
        )
    ]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"connector": 1}, "connector"),
        ({"charging_profile_purpose": "TxProfile", "connector": 1}, "transaction_id"),
        ({"charging_profile_purpose": "Other"}, "charging_profile_purpose"),
        ({"recurrency_kind": None}, "recurrency_kind"),
        ({"valid_to": "2025-12-31T00:00:00Z"}, "valid_to"),
        ({"periods": []}, "periods"),
        ({"periods": [{"start_period": 0, "limit": 16.05}]}, "periods"),
        ({"periods": [{"start_period": 0, "limit": 16, "number_phases": 4}]}, "periods"),
        ({"periods": [{"start_period": 0}]}, "periods"),
        ({"min_charging_rate": -1}, "min_charging_rate"),
    ],
)
def test_the_operator_api_refuses_what_ocpp_does_not_allow_naming_the_field(
    carol_api, world, transport, changes, field
):
    response = carol_api.post(api_url(world), {**API_BODY, **changes}, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"], response.json()
    assert transport.sent == []


def test_another_operators_station_is_not_found_and_a_driver_is_refused(carol_api, world, transport):
    assert carol_api.post(api_url(world, world.cp_b), API_BODY, format="json").status_code == 404
    driver = APIClient()
    driver.force_authenticate(world.alice)
    assert driver.post(api_url(world), API_BODY, format="json").status_code == 403
    assert transport.sent == []


def test_the_schema_documents_the_endpoint_and_its_periods(client):
    schema = client.get(reverse("api_schema"), {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/operator/stations/{id}/charging-profiles/"]["post"]
    reference = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    body = schema["components"]["schemas"][reference]
    assert {"connector", "charging_profile_purpose", "charging_profile_kind", "periods"} <= set(body["required"])
    period = schema["components"]["schemas"][body["properties"]["periods"]["items"]["$ref"].rsplit("/", 1)[-1]]
    assert period["properties"]["limit"]["type"] == "number"
