"""Commands in the system's vocabulary (OCPP 1.6's actions and payloads) translated for an OCPP 2.0.1 charger, one
place at the edge (``sessions_app.ocpp.v201_commands``): each translation is what 2.0.1 says, valid against its
schema, and the charger's answer comes back in the shape the 1.6 action answers in."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from ocpp.charge_point import snake_to_camel_case
from ocpp.messages import MessageType, get_validator

from accounts.models import IdTag
from sessions_app import hooks
from sessions_app.models import ChargePoint, ChargerCommand, ChargerUpload, ChargingSession, Connector
from sessions_app.ocpp import command_payloads, commands, v201_commands
from sessions_app.ocpp.command_payloads import CommandPayloadError, command_payload
from tests.factories import make_session

WHEN = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)


@pytest.fixture
def cp201(world) -> ChargePoint:
    ChargePoint.objects.filter(pk=world.cp_a.pk).update(ocpp_protocol=ChargePoint.OcppProtocol.OCPP201)
    return ChargePoint.objects.get(pk=world.cp_a.pk)


def translated(charge_point: ChargePoint, action: str, payload: dict) -> v201_commands.Translation:
    """The translation, checked against OCPP 2.0.1's schema for its action (numbers as decimals, as the ``ocpp``
    package validates them)."""
    translation = commands.command_translation(charge_point, action, payload)
    message = json.loads(json.dumps(snake_to_camel_case(translation.payload), default=str), parse_float=Decimal)
    get_validator(MessageType.Call, translation.action, "2.0.1", parse_float=Decimal).validate(message)
    return translation


def running_session(world, charger_transaction_id: str = "tx-201-a") -> ChargingSession:
    session = make_session(world.cp_a.connectors.get(number=2), world.alice_card, energy_wh=None)
    ChargingSession.objects.filter(pk=session.pk).update(charger_transaction_id=charger_transaction_id)
    return session


def test_a_1_6_charger_gets_the_command_as_it_is_said_and_no_2_0_1_only_command(world):
    translation = commands.command_translation(world.cp_a, "Reset", {"type": "Hard"})

    assert (translation.action, translation.payload) == ("Reset", {"type": "Hard"})
    with pytest.raises(CommandPayloadError) as refused:
        commands.command_translation(world.cp_a, "GetVariables", {"get_variable_data": []})
    assert refused.value.field == "action"


def test_remote_start_is_request_start_with_a_typed_token_its_evse_and_a_fresh_remote_start_id(world, cp201):
    IdTag.objects.filter(pk=world.bob_card.pk).update(kind=IdTag.Kind.KEY_CODE)
    first = translated(cp201, "RemoteStartTransaction", {"connector_id": 2, "id_tag": world.alice_card.uid})
    second = translated(cp201, "RemoteStartTransaction", {"id_tag": world.bob_card.uid})
    stranger = translated(cp201, "RemoteStartTransaction", {"connector_id": 1, "id_tag": "NOT-OURS"})

    assert first.action == "RequestStartTransaction"
    assert first.payload["id_token"] == {"id_token": "04A1B2C3", "type": "ISO14443"}
    assert first.payload["evse_id"] == 2
    assert second.payload["id_token"]["type"] == "KeyCode" and "evse_id" not in second.payload
    assert stranger.payload["id_token"]["type"] == "Central"
    assert 0 < first.payload["remote_start_id"] <= command_payloads.REQUEST_MAX_ID
    assert first.payload["remote_start_id"] != second.payload["remote_start_id"]
    assert first.answer({"status": "Accepted", "transaction_id": None})["status"] == "Accepted"


def test_a_remote_start_profile_becomes_2_0_1s_with_its_schedule_in_a_list(world, cp201):
    profile = command_payload(
        command_payloads.set_charging_profile(
            connector_id=1,
            charging_profile_id=7,
            stack_level=1,
            charging_profile_purpose="TxProfile",
            charging_profile_kind="Relative",
            charging_rate_unit="A",
            schedule_periods=[(0, Decimal("16")), (3600, Decimal("10.5"), 3)],
            transaction_id=1,
        )
    )[1]["cs_charging_profiles"]
    del profile["transaction_id"]  # a remote start's profile names no transaction

    sent = translated(
        cp201, "RemoteStartTransaction", {"connector_id": 1, "id_tag": "04A1B2C3", "charging_profile": profile}
    ).payload["charging_profile"]

    assert sent["id"] == 7 and sent["charging_profile_purpose"] == "TxProfile" and "transaction_id" not in sent
    assert sent["charging_schedule"] == [
        {
            "id": 7,
            "charging_rate_unit": "A",
            "charging_schedule_period": [
                {"start_period": 0, "limit": profile["charging_schedule"]["charging_schedule_period"][0]["limit"]},
                {
                    "start_period": 3600,
                    "limit": profile["charging_schedule"]["charging_schedule_period"][1]["limit"],
                    "number_phases": 3,
                },
            ],
        }
    ]


def test_remote_stop_names_the_chargers_transaction_and_a_session_without_one_is_refused(world, cp201):
    session = running_session(world)
    old = make_session(world.cp_a.connectors.get(number=1), world.alice_card)

    stop = translated(cp201, "RemoteStopTransaction", {"transaction_id": session.pk})

    assert (stop.action, stop.payload) == ("RequestStopTransaction", {"transaction_id": "tx-201-a"})
    with pytest.raises(CommandPayloadError) as refused:
        commands.command_translation(cp201, "RemoteStopTransaction", {"transaction_id": old.pk})
    assert refused.value.field == "transaction_id"


def test_reset_availability_unlock_and_trigger_name_evses(world, cp201):
    Connector.objects.filter(charge_point=cp201, number=2).update(evse_id=1, evse_connector_id=2)

    assert translated(cp201, "Reset", {"type": "Hard"}).payload == {"type": "Immediate"}
    assert translated(cp201, "Reset", {"type": "Soft"}).payload == {"type": "OnIdle"}
    assert translated(cp201, "ChangeAvailability", {"connector_id": 0, "type": "Inoperative"}).payload == {
        "operational_status": "Inoperative"
    }
    assert translated(cp201, "ChangeAvailability", {"connector_id": 1, "type": "Operative"}).payload == {
        "operational_status": "Operative",
        "evse": {"id": 1},
    }
    assert translated(cp201, "ChangeAvailability", {"connector_id": 2, "type": "Operative"}).payload["evse"] == {
        "id": 1,
        "connector_id": 2,
    }
    assert translated(cp201, "UnlockConnector", {"connector_id": 1}).payload == {"evse_id": 1, "connector_id": 1}
    assert translated(cp201, "UnlockConnector", {"connector_id": 2}).payload == {"evse_id": 1, "connector_id": 2}
    trigger = translated(cp201, "TriggerMessage", {"requested_message": "StatusNotification", "connector_id": 2})
    assert trigger.payload == {"requested_message": "StatusNotification", "evse": {"id": 1, "connector_id": 2}}
    assert translated(cp201, "TriggerMessage", {"requested_message": "DiagnosticsStatusNotification"}).payload == {
        "requested_message": "LogStatusNotification"
    }
    extended = translated(cp201, "ExtendedTriggerMessage", {"requested_message": "SignChargePointCertificate"})
    assert (extended.action, extended.payload) == (
        "TriggerMessage",
        {"requested_message": "SignChargingStationCertificate"},
    )


def test_get_configuration_is_get_variables_and_its_answer_is_1_6s(world, cp201):
    translation = translated(
        cp201, "GetConfiguration", {"key": ["heartbeatinterval", "LocalAuthListEnabled", "NumberOfConnectors"]}
    )

    assert translation.action == "GetVariables"
    assert translation.payload["get_variable_data"] == [
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
        {"component": {"name": "LocalAuthListCtrlr"}, "variable": {"name": "Enabled"}},
    ]
    answer = translation.answer(
        {
            "get_variable_result": [
                {
                    "attribute_status": "Accepted",
                    "component": {"name": "LocalAuthListCtrlr"},
                    "variable": {"name": "Enabled"},
                    "attribute_value": "false",
                },
                {
                    "attribute_status": "UnknownVariable",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                },
            ]
        }
    )
    assert answer == {
        "configuration_key": [{"key": "LocalAuthListEnabled", "readonly": False, "value": "false"}],
        "unknown_key": ["NumberOfConnectors", "heartbeatinterval"],
    }


def test_get_configuration_of_every_key_asks_every_mapped_variable(cp201):
    translation = translated(cp201, "GetConfiguration", {})

    assert len(translation.payload["get_variable_data"]) == len(v201_commands.CONFIGURATION_VARIABLES)
    with pytest.raises(CommandPayloadError):
        commands.command_translation(cp201, "GetConfiguration", {"key": ["NumberOfConnectors"]})


def test_change_configuration_is_set_variables_and_an_unknown_key_is_refused(cp201):
    translation = translated(cp201, "ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "60"})

    assert translation.action == "SetVariables"
    assert translation.payload == {
        "set_variable_data": [
            {
                "attribute_value": "60",
                "component": {"name": "SampledDataCtrlr"},
                "variable": {"name": "TxUpdatedInterval"},
            }
        ]
    }
    assert translation.answer({"set_variable_result": [{"attribute_status": "RebootRequired"}]}) == {
        "status": "RebootRequired"
    }
    assert translation.answer({"set_variable_result": [{"attribute_status": "UnknownVariable"}]}) == {
        "status": "NotSupported"
    }
    with pytest.raises(CommandPayloadError) as refused:
        commands.command_translation(cp201, "ChangeConfiguration", {"key": "LightIntensity", "value": "3"})
    assert refused.value.field == "key"


def test_the_chargers_password_is_set_as_itself_not_hex_encoded(cp201):
    translation = translated(cp201, "ChangeConfiguration", {"key": "AuthorizationKey", "value": b"s3cret".hex()})

    data = translation.payload["set_variable_data"][0]
    assert (data["component"]["name"], data["variable"]["name"], data["attribute_value"]) == (
        "SecurityCtrlr",
        "BasicAuthPassword",
        "s3cret",
    )


def test_cache_data_transfer_and_local_list_version(cp201):
    assert translated(cp201, "ClearCache", {}).action == "ClearCache"
    version = translated(cp201, "GetLocalListVersion", {})
    assert version.answer({"version_number": 4}) == {"list_version": 4}
    transfer = translated(cp201, "DataTransfer", {"vendor_id": "ACME", "message_id": "Hello", "data": "x"})
    assert transfer.payload == {"vendor_id": "ACME", "message_id": "Hello", "data": "x"}


def test_send_local_list_sends_id_tokens_with_their_info(world, cp201):
    payload = command_payload(
        command_payloads.send_local_list(
            list_version=3,
            update_type="Differential",
            local_authorization_list=[
                {
                    "id_tag": "04A1B2C3",
                    "id_tag_info": {"status": "Accepted", "expiry_date": WHEN, "parent_id_tag": "FLEET1"},
                },
                {"id_tag": "04B0B0B0"},
            ],
        )
    )[1]

    translation = translated(cp201, "SendLocalList", payload)

    assert translation.payload == {
        "version_number": 3,
        "update_type": "Differential",
        "local_authorization_list": [
            {
                "id_token": {"id_token": "04A1B2C3", "type": "ISO14443"},
                "id_token_info": {
                    "status": "Accepted",
                    "cache_expiry_date_time": "2026-12-05T08:00:00Z",
                    "group_id_token": {"id_token": "FLEET1", "type": "Central"},
                },
            },
            {"id_token": {"id_token": "04B0B0B0", "type": "ISO14443"}},
        ],
    }


def test_reservations(world, cp201):
    reserve = command_payload(
        command_payloads.reserve_now(connector_id=2, expiry_date=WHEN, id_tag="04A1B2C3", reservation_id=12)
    )[1]

    translation = translated(cp201, "ReserveNow", reserve)

    assert translation.payload == {
        "id": 12,
        "expiry_date_time": "2026-12-05T08:00:00Z",
        "id_token": {"id_token": "04A1B2C3", "type": "ISO14443"},
        "evse_id": 2,
    }
    assert translated(cp201, "CancelReservation", {"reservation_id": 12}).payload == {"reservation_id": 12}


def test_charging_profiles_by_evse(world, cp201):
    session = running_session(world)
    built = command_payloads.set_charging_profile(
        connector_id=2,
        charging_profile_id=9,
        stack_level=0,
        charging_profile_purpose="TxProfile",
        charging_profile_kind="Absolute",
        charging_rate_unit="W",
        schedule_periods=[(0, Decimal("7400"))],
        start_schedule=WHEN,
        transaction_id=session.pk,
    )

    profile = translated(cp201, *command_payload(built)).payload

    assert profile["evse_id"] == 2
    assert profile["charging_profile"]["transaction_id"] == "tx-201-a"
    assert profile["charging_profile"]["charging_schedule"][0]["start_schedule"] == "2026-12-05T08:00:00Z"
    station_max = command_payloads.set_charging_profile(
        connector_id=0,
        charging_profile_id=1,
        stack_level=0,
        charging_profile_purpose="ChargePointMaxProfile",
        charging_profile_kind="Relative",
        charging_rate_unit="A",
        schedule_periods=[(0, Decimal("32"))],
    )
    station = translated(cp201, *command_payload(station_max)).payload
    assert station["evse_id"] == 0
    assert station["charging_profile"]["charging_profile_purpose"] == "ChargingStationMaxProfile"
    clear = translated(
        cp201, "ClearChargingProfile", {"connector_id": 1, "charging_profile_purpose": "TxDefaultProfile"}
    )
    assert clear.payload == {
        "charging_profile_criteria": {"evse_id": 1, "charging_profile_purpose": "TxDefaultProfile"}
    }
    assert translated(cp201, "ClearChargingProfile", {"id": 9}).payload == {"charging_profile_id": 9}


def test_composite_schedule_answers_as_1_6(cp201):
    translation = translated(
        cp201, "GetCompositeSchedule", {"connector_id": 1, "duration": 3600, "charging_rate_unit": "W"}
    )

    assert translation.payload == {"duration": 3600, "evse_id": 1, "charging_rate_unit": "W"}
    answer = translation.answer(
        {
            "status": "Accepted",
            "schedule": {
                "evse_id": 1,
                "duration": 3600,
                "schedule_start": "2026-12-05T08:00:00Z",
                "charging_rate_unit": "W",
                "charging_schedule_period": [{"start_period": 0, "limit": 7400}],
            },
        }
    )
    assert answer["connector_id"] == 1 and answer["schedule_start"] == "2026-12-05T08:00:00Z"
    assert answer["charging_schedule"]["charging_schedule_period"] == [{"start_period": 0, "limit": 7400}]
    assert translation.answer({"status": "Rejected", "schedule": None}) == {"status": "Rejected"}


def test_both_firmware_updates_are_update_firmware_with_a_request_id(cp201):
    plain = translated(
        cp201,
        *command_payload(command_payloads.update_firmware(location="https://fw.example/a.bin", retrieve_date=WHEN)),
    )
    signed_built = command_payloads.signed_update_firmware(
        request_id=44,
        location="https://fw.example/b.bin",
        retrieve_date_time=WHEN,
        signing_certificate="-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
        signature="c2lnbmF0dXJl",
        retries=2,
    )
    signed = translated(cp201, *command_payload(signed_built))

    assert plain.action == signed.action == "UpdateFirmware"
    assert plain.payload["firmware"] == {
        "location": "https://fw.example/a.bin",
        "retrieve_date_time": "2026-12-05T08:00:00Z",
    }
    assert plain.payload["request_id"] > 0
    assert signed.payload["request_id"] == 44 and signed.payload["retries"] == 2
    assert signed.payload["firmware"]["signature"] == "c2lnbmF0dXJl"
    assert signed.payload["firmware"]["signing_certificate"].startswith("-----BEGIN CERTIFICATE-----")


def test_diagnostics_are_the_diagnostics_log_named_by_the_uploads_id(world, cp201):
    upload = ChargerUpload.objects.create(
        charge_point=cp201, kind=ChargerUpload.Kind.DIAGNOSTICS, token="tok_en-123456", requested_at=WHEN
    )
    built = command_payloads.get_diagnostics(
        location="https://portal.example/ocpp-uploads/tok_en-123456/", start_time=WHEN
    )

    translation = translated(cp201, *command_payload(built))

    assert translation.action == "GetLog"
    assert translation.payload == {
        "log": {
            "remote_location": "https://portal.example/ocpp-uploads/tok_en-123456/",
            "oldest_timestamp": "2026-12-05T08:00:00Z",
        },
        "log_type": "DiagnosticsLog",
        "request_id": upload.pk,
    }
    assert translation.answer({"status": "Accepted", "filename": "diag.zip"}) == {
        "status": "Accepted",
        "file_name": "diag.zip",
    }
    log = command_payloads.get_log(log_type="SecurityLog", request_id=5, remote_location="https://up.example/x/")
    assert translated(cp201, *command_payload(log)).payload == command_payload(log)[1]


def test_certificates(cp201):
    signed = translated(cp201, "CertificateSigned", {"certificate_chain": "-----BEGIN CERTIFICATE-----"})
    assert signed.payload["certificate_type"] == "ChargingStationCertificate"
    install = translated(
        cp201, "InstallCertificate", {"certificate_type": "CentralSystemRootCertificate", "certificate": "PEM"}
    )
    assert install.payload == {"certificate_type": "CSMSRootCertificate", "certificate": "PEM"}
    ids = translated(cp201, "GetInstalledCertificateIds", {"certificate_type": "ManufacturerRootCertificate"})
    assert ids.payload == {"certificate_type": ["ManufacturerRootCertificate"]}
    hashes = {"hash_algorithm": "SHA256", "issuer_name_hash": "aa", "issuer_key_hash": "bb", "serial_number": "01"}
    answer = ids.answer(
        {
            "status": "Accepted",
            "certificate_hash_data_chain": [
                {"certificate_type": "ManufacturerRootCertificate", "certificate_hash_data": hashes}
            ],
        }
    )
    assert answer == {"status": "Accepted", "certificate_hash_data": [hashes]}
    delete = translated(cp201, "DeleteCertificate", {"certificate_hash_data": hashes})
    assert delete.payload == {"certificate_hash_data": hashes}


def test_2_0_1_only_commands_go_as_given_and_a_wrong_field_is_refused(cp201):
    get = {"get_variable_data": [{"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]}
    assert translated(cp201, "GetVariables", get).payload == get
    assert translated(cp201, "GetBaseReport", {"request_id": 3, "report_base": "FullInventory"}).action == (
        "GetBaseReport"
    )
    assert translated(cp201, "GetReport", {"request_id": 4, "component_criteria": ["Problem"]}).action == "GetReport"
    assert translated(cp201, "CostUpdated", {"total_cost": 1.25, "transaction_id": "tx"}).action == "CostUpdated"
    with pytest.raises(CommandPayloadError):
        commands.command_translation(cp201, "GetBaseReport", {"report": "FullInventory"})


def test_the_history_keeps_what_was_sent_and_the_caller_reads_its_actions_answer(world, cp201, monkeypatch):
    sent = []

    async def charger_answers(charge_point, action, payload, timeout=30):
        sent.append((action, payload))
        return commands.CommandResult("answered", {"version_number": 7, "custom_data": None})

    monkeypatch.setattr(commands, "command_send_async", charger_answers)

    result = commands.command_send(cp201, "GetLocalListVersion", {})

    assert sent == [("GetLocalListVersion", {})]
    assert (result.outcome, result.payload) == ("answered", {"list_version": 7})
    kept = ChargerCommand.objects.get(charge_point=cp201)
    assert (kept.action, kept.answer) == ("GetLocalListVersion", {"version_number": 7, "custom_data": None})


def test_the_remote_start_id_finds_its_start_in_the_history(world, cp201, monkeypatch):
    async def charger_answers(charge_point, action, payload, timeout=30):
        return commands.CommandResult("answered", {"status": "Accepted"})

    monkeypatch.setattr(commands, "command_send_async", charger_answers)
    commands.command_send(cp201, "RemoteStartTransaction", {"connector_id": 1, "id_tag": "04A1B2C3"})
    kept = ChargerCommand.objects.get(charge_point=cp201)

    found = v201_commands.remote_start_find(charge_point=cp201, remote_start_id=kept.request["remote_start_id"])

    assert found == kept and kept.action == "RequestStartTransaction"
    assert (
        v201_commands.remote_start_find(charge_point=world.cp_b, remote_start_id=kept.request["remote_start_id"])
        is None
    )


def test_a_command_that_cannot_be_said_to_the_charger_is_neither_sent_nor_kept(world, cp201, monkeypatch):
    async def must_not_send(*args, **kwargs):
        raise AssertionError("sent")

    monkeypatch.setattr(commands, "command_send_async", must_not_send)

    result = commands.command_send(cp201, "ChangeConfiguration", {"key": "LightIntensity", "value": "1"})

    assert (result.outcome, result.code) == ("error", "InvalidCommand")
    assert "LightIntensity" in result.description
    assert not ChargerCommand.objects.exists()


def test_the_2_0_1_only_commands_are_built_from_what_operators_give():
    variables = [
        {"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval", "value": "60"},
        {"component": "EVSE", "component_instance": "2", "variable": "Power", "attribute_type": "MaxSet"},
    ]

    got = command_payload(v201_commands.get_variables(variables=variables))
    report = command_payload(v201_commands.get_report(component_criteria=["Problem"], request_id=4))

    assert got == (
        "GetVariables",
        {
            "get_variable_data": [
                {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
                {
                    "component": {"name": "EVSE", "instance": "2"},
                    "variable": {"name": "Power"},
                    "attribute_type": "MaxSet",
                },
            ]
        },
    )
    assert (
        command_payload(v201_commands.set_variables(variables=variables[:1]))[1]["set_variable_data"][0][
            "attribute_value"
        ]
        == "60"
    )
    assert report == ("GetReport", {"request_id": 4, "component_criteria": ["Problem"]})
    assert command_payload(v201_commands.get_base_report(report_base="FullInventory"))[1]["request_id"] > 0
    assert command_payload(v201_commands.cost_updated(total_cost=Decimal("12.40"), transaction_id="tx"))[1] == {
        "total_cost": 12.4,
        "transaction_id": "tx",
    }
    for refused in (
        lambda: v201_commands.get_variables(variables=[]),
        lambda: v201_commands.get_variables(variables=[{"component": "Bad Name", "variable": "X"}]),
        lambda: v201_commands.set_variables(
            variables=[{"component": "SecurityCtrlr", "variable": "BasicAuthPassword", "value": "x"}]
        ),
        lambda: v201_commands.get_base_report(report_base="Everything"),
        lambda: v201_commands.get_report(component_criteria=["Broken"]),
    ):
        with pytest.raises(CommandPayloadError):
            refused()


# --- the admin's command page -------------------------------------------------------------------------------------


def commands_url(cp: ChargePoint) -> str:
    return reverse("admin:sessions_app_chargepoint_commands", args=[cp.pk])


def test_the_command_page_offers_2_0_1_commands_to_2_0_1_chargers_only(client, world, cp201):
    client.force_login(world.carol)

    to_201 = client.get(commands_url(cp201)).content.decode()
    ChargePoint.objects.filter(pk=cp201.pk).update(ocpp_protocol=ChargePoint.OcppProtocol.OCPP16)
    to_16 = client.get(commands_url(cp201)).content.decode()

    for action in ("GetVariables", "SetVariables", "GetBaseReport", "GetReport"):
        assert f'value="{action}"' in to_201 and f'value="{action}"' not in to_16
    assert 'value="RemoteStartTransaction"' in to_201


def test_the_command_page_sends_2_0_1_commands_from_their_fields(client, world, cp201, transport):
    client.force_login(world.carol)
    forms = [
        (
            {"action": "GetVariables", "variables": "OCPPCommCtrlr.HeartbeatInterval\nEVSE:1.Power"},
            {
                "get_variable_data": [
                    {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
                    {"component": {"name": "EVSE", "instance": "1"}, "variable": {"name": "Power"}},
                ]
            },
        ),
        (
            {"action": "SetVariables", "variables": "OCPPCommCtrlr.MessageAttempts:TransactionEvent = 5"},
            {
                "set_variable_data": [
                    {
                        "attribute_value": "5",
                        "component": {"name": "OCPPCommCtrlr"},
                        "variable": {"name": "MessageAttempts", "instance": "TransactionEvent"},
                    }
                ]
            },
        ),
        (
            {"action": "GetBaseReport", "report_base": "SummaryInventory", "request_id": 12},
            {"request_id": 12, "report_base": "SummaryInventory"},
        ),
        (
            {"action": "GetReport", "component_criteria": ["Problem", "Enabled"], "request_id": 13},
            {"request_id": 13, "component_criteria": ["Problem", "Enabled"]},
        ),
    ]

    for data, payload in forms:
        response = client.post(commands_url(cp201), data)
        assert response.status_code == 200, data
        assert transport.sent[-1] == ("ALPHA-1", data["action"], payload), response.context["form"].errors

    assert len(transport.sent) == len(forms)


def test_the_command_page_says_why_a_command_cannot_be_said_to_a_2_0_1_charger(client, world, cp201, transport):
    old = make_session(world.cp_a.connectors.get(number=1), world.alice_card, energy_wh=None)
    client.force_login(world.carol)

    unknown_key = client.post(commands_url(cp201), {"action": "GetConfiguration", "keys": "NumberOfConnectors"})
    no_transaction = client.post(commands_url(cp201), {"action": "RemoteStopTransaction", "session": old.pk})
    password = client.post(
        commands_url(cp201), {"action": "SetVariables", "variables": "SecurityCtrlr.BasicAuthPassword = x"}
    )

    assert "keys" in unknown_key.context["form"].errors
    assert "session" in no_transaction.context["form"].errors
    assert "variables" in password.context["form"].errors
    assert transport.sent == []


# --- the operator API ---------------------------------------------------------------------------------------------


def test_the_operator_api_sends_2_0_1_commands_to_2_0_1_stations(carol_api, world, cp201, transport):
    variable = {"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval"}
    calls = [
        ("api:operator_station_variables_read", {"variables": [variable]}, "GetVariables"),
        ("api:operator_station_variables_change", {"variables": [{**variable, "value": "60"}]}, "SetVariables"),
        ("api:operator_station_base_report", {"report_base": "ConfigurationInventory"}, "GetBaseReport"),
        ("api:operator_station_report", {"component_criteria": ["Problem"], "request_id": 3}, "GetReport"),
    ]

    for name, body, action in calls:
        response = carol_api.post(reverse(name, args=[cp201.pk]), body, format="json")
        assert response.status_code == 200, response.json()
        assert response.json()["action"] == action and transport.sent[-1][1] == action

    assert transport.sent[1][2]["set_variable_data"][0]["attribute_value"] == "60"
    assert transport.sent[3][2] == {"request_id": 3, "component_criteria": ["Problem"]}


def test_the_operator_api_refuses_what_the_stations_version_cannot_say(carol_api, world, cp201, transport):
    variables = {"variables": [{"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval"}]}

    to_16 = carol_api.post(
        reverse("api:operator_station_variables_read", args=[world.cp_b.pk]), variables, format="json"
    )
    ChargePoint.objects.filter(pk=cp201.pk).update(ocpp_protocol=ChargePoint.OcppProtocol.OCPP16)
    to_16_own = carol_api.post(
        reverse("api:operator_station_variables_read", args=[cp201.pk]), variables, format="json"
    )
    ChargePoint.objects.filter(pk=cp201.pk).update(ocpp_protocol=ChargePoint.OcppProtocol.OCPP201)
    unknown_key = carol_api.post(
        reverse("api:operator_station_configuration_read", args=[cp201.pk]), {"keys": ["NumberOfConnectors"]}
    )

    assert to_16.status_code == 404  # another operator's station
    assert to_16_own.status_code == 400 and "action" in to_16_own.json()["error"]["fields"]
    assert unknown_key.status_code == 400 and "key" in unknown_key.json()["error"]["fields"]
    assert transport.sent == []


def test_a_running_sessions_cost_is_sent_as_billing_prices_it(carol_api, world, cp201, transport, monkeypatch):
    session = running_session(world)
    finished = make_session(world.cp_a.connectors.get(number=1), world.alice_card)
    monkeypatch.setattr(hooks, "session_cost_handlers", [lambda session, at: Decimal("3.75")])

    response = carol_api.post(reverse("api:operator_session_cost", args=[session.pk]))
    over = carol_api.post(reverse("api:operator_session_cost", args=[finished.pk]))
    monkeypatch.setattr(hooks, "session_cost_handlers", [])
    unpriced = carol_api.post(reverse("api:operator_session_cost", args=[session.pk]))

    assert response.status_code == 200 and response.json()["action"] == "CostUpdated"
    assert transport.sent == [("ALPHA-1", "CostUpdated", {"total_cost": 3.75, "transaction_id": "tx-201-a"})]
    assert over.status_code == 404
    assert unpriced.status_code == 400


def test_billing_prices_the_cost_so_far_for_the_charger(world):
    """billing registers the hook: a session without a tariff has no cost to tell."""
    session = running_session(world)

    assert hooks.session_cost_handlers
    assert hooks.session_cost(session, datetime.now(UTC)) is None


# --- callers, unchanged, reaching a 2.0.1 charger -----------------------------------------------------------------


@pytest.fixture
def charger_answers(monkeypatch):
    """The channel layer replaced: every command is answered with ``answer.payload`` and recorded in ``sent``."""

    class Charger:
        answer = commands.CommandResult("answered", {"status": "Accepted"})
        sent: list[tuple[str, dict]] = []

        async def __call__(self, charge_point, action, payload, timeout=30):
            self.sent.append((action, payload))
            return self.answer

    charger = Charger()
    charger.sent = []
    monkeypatch.setattr(commands, "command_send_async", charger)
    return charger


def test_the_boards_stop_unlock_and_reset_reach_a_2_0_1_station(client, world, cp201, charger_answers):
    session = running_session(world)
    client.force_login(world.carol)
    url = reverse("admin:sessions_app_board_command", args=[cp201.pk])
    charger_answers.answer = commands.CommandResult("answered", {"status": "Scheduled"})

    client.post(url, {"target": f"stop:{session.pk}"})
    client.post(url, {"target": f"unlock:{world.cp_a.connectors.get(number=2).pk}"})
    reset = client.post(url, {"target": "reset"}, follow=True)

    assert charger_answers.sent == [
        ("RequestStopTransaction", {"transaction_id": "tx-201-a"}),
        ("UnlockConnector", {"evse_id": 2, "connector_id": 1}),
        ("Reset", {"type": "OnIdle"}),
    ]
    assert [message.level_tag for message in reset.context["messages"]][-1] == "success"


def test_a_2_0_1_chargers_firmware_update_refused_is_refused(world, cp201, charger_answers, settings, tmp_path):
    from sessions_app import firmware
    from tests.sessions_app.test_firmware import NOW, campaign_for, uploaded

    settings.MEDIA_ROOT, settings.OCPP_UPLOAD_BASE_URL = tmp_path, ""
    charger_answers.answer = commands.CommandResult("answered", {"status": "Rejected"})
    campaign = campaign_for(uploaded(world), [cp201])

    firmware.firmware_campaign_send(campaign_id=campaign.pk, now=NOW)

    assert charger_answers.sent[0][0] == "UpdateFirmware" and "firmware" in charger_answers.sent[0][1]
    assert campaign.updates.get().status == firmware.Status.REFUSED
