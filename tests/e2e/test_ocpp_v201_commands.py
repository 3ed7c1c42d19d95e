"""Commands to an OCPP 2.0.1 charger end to end: the system's command vocabulary (1.6's actions and payloads) sent
with ``commands.command_send`` from this process, through Redis, to the `ocpp` package's 2.0.1 client connected to
the real server; the charger validates each request against 2.0.1's schema, records it and answers, and the caller
reads the answer in its own action's shape. After its boot the charger gets 1.6's follow-ups (the local list)."""

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from ocpp.routing import on
from ocpp.v201 import ChargePoint as OcppChargePoint201
from ocpp.v201 import call, call_result

from sessions_app.models import ChargePoint, ChargerCommand, ChargingSession, Connector
from sessions_app.ocpp import command_payloads, commands
from sessions_app.ocpp.command_payloads import command_payload
from tests.e2e.ocpp_client import connected
from tests.e2e.test_ocpp_commands import needs_redis
from tests.factories import make_session
from tests.threads import in_thread

pytestmark = [pytest.mark.django_db(transaction=True), needs_redis]
LATER = datetime.now(UTC) + timedelta(days=1)


def _variable_results(key: str, status: str, value: str | None = None):
    """An answer to GetVariables/SetVariables: every variable asked for, ``status`` (and ``value``) for each."""

    def answer(payload: dict) -> list[dict]:
        return [
            {"attribute_status": status, "component": data["component"], "variable": data["variable"]}
            | ({"attribute_value": value} if value is not None else {})
            for data in payload[key]
        ]

    return answer


#: What the charger answers to each action it takes, from the request's payload.
ANSWERS = {
    "RequestStartTransaction": lambda p: call_result.RequestStartTransaction(status="Accepted"),
    "RequestStopTransaction": lambda p: call_result.RequestStopTransaction(status="Accepted"),
    "Reset": lambda p: call_result.Reset(status="Scheduled"),
    "ChangeAvailability": lambda p: call_result.ChangeAvailability(status="Accepted"),
    "UnlockConnector": lambda p: call_result.UnlockConnector(status="Unlocked"),
    "TriggerMessage": lambda p: call_result.TriggerMessage(status="Accepted"),
    "GetVariables": lambda p: call_result.GetVariables(
        get_variable_result=_variable_results("get_variable_data", "Accepted", "300")(p)
    ),
    "SetVariables": lambda p: call_result.SetVariables(
        set_variable_result=_variable_results("set_variable_data", "RebootRequired")(p)
    ),
    "ClearCache": lambda p: call_result.ClearCache(status="Accepted"),
    "GetLocalListVersion": lambda p: call_result.GetLocalListVersion(version_number=5),
    "SendLocalList": lambda p: call_result.SendLocalList(status="Accepted"),
    "ReserveNow": lambda p: call_result.ReserveNow(status="Accepted"),
    "CancelReservation": lambda p: call_result.CancelReservation(status="Accepted"),
    "SetChargingProfile": lambda p: call_result.SetChargingProfile(status="Accepted"),
    "ClearChargingProfile": lambda p: call_result.ClearChargingProfile(status="Accepted"),
    "GetCompositeSchedule": lambda p: call_result.GetCompositeSchedule(
        status="Accepted",
        schedule={
            "evse_id": p["evse_id"],
            "duration": p["duration"],
            "schedule_start": "2026-12-05T08:00:00Z",
            "charging_rate_unit": "A",
            "charging_schedule_period": [{"start_period": 0, "limit": 16}],
        },
    ),
    "UpdateFirmware": lambda p: call_result.UpdateFirmware(status="Accepted"),
    "GetLog": lambda p: call_result.GetLog(status="Accepted", filename="log.tar"),
    "CertificateSigned": lambda p: call_result.CertificateSigned(status="Accepted"),
    "InstallCertificate": lambda p: call_result.InstallCertificate(status="Accepted"),
    "GetInstalledCertificateIds": lambda p: call_result.GetInstalledCertificateIds(status="NotFound"),
    "DeleteCertificate": lambda p: call_result.DeleteCertificate(status="NotFound"),
    "DataTransfer": lambda p: call_result.DataTransfer(status="Accepted", data="pong"),
    "GetBaseReport": lambda p: call_result.GetBaseReport(status="Accepted"),
    "GetReport": lambda p: call_result.GetReport(status="EmptyResultSet"),
    "CostUpdated": lambda p: call_result.CostUpdated(),
}


class Charger201(OcppChargePoint201):
    """A cooperative 2.0.1 charger that remembers every command it got (its handlers are added below)."""

    __test__ = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.commands: list[tuple[str, dict]] = []

    async def boot(self):
        station = {"vendor_name": "Test", "model": "E2E-201", "firmware_version": "2.0"}
        return await self.call(call.BootNotification(charging_station=station, reason="PowerUp"), suppress=False)


def _recording(action: str):
    async def handler(self, **payload):
        self.commands.append((action, payload))
        return ANSWERS[action](payload)

    handler.__name__ = f"on_{action}"  # the ``ocpp`` package routes by the handler's name
    return on(action)(handler)


for _action in ANSWERS:
    setattr(Charger201, f"on_{_action}", _recording(_action))


def _connected_201(asgi_server):
    return connected(asgi_server, "ALPHA-1", subprotocols=("ocpp2.0.1",), charger_class=Charger201)  # type: ignore[arg-type]


async def _send(action: str, payload: dict) -> commands.CommandResult:
    """``command_send`` as a view calls it (the charger's row read fresh), in a thread: this loop runs the charger."""

    return await in_thread(
        lambda: commands.command_send(ChargePoint.objects.get(ocpp_id="ALPHA-1"), action, payload, 10)
    )


def _commands(world, session: ChargingSession) -> list[tuple[str, dict, str, dict, dict]]:
    """(action, payload as callers send it, the 2.0.1 action, what of the request arrived, what of the answer the
    caller reads), for every command of the vocabulary and the 2.0.1-only ones."""
    profile = command_payload(
        command_payloads.set_charging_profile(
            connector_id=1,
            charging_profile_id=3,
            stack_level=0,
            charging_profile_purpose="TxDefaultProfile",
            charging_profile_kind="Relative",
            charging_rate_unit="A",
            schedule_periods=[(0, Decimal("16"))],
        )
    )[1]
    hashes = {"hash_algorithm": "SHA256", "issuer_name_hash": "aa", "issuer_key_hash": "bb", "serial_number": "01"}
    variable = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
    token = {"id_token": world.alice_card.uid, "type": "ISO14443"}
    return [
        (
            "RemoteStartTransaction",
            {"connector_id": 2, "id_tag": world.alice_card.uid},
            "RequestStartTransaction",
            {"id_token": token, "evse_id": 2},
            {"status": "Accepted"},
        ),
        (
            "RemoteStopTransaction",
            {"transaction_id": session.pk},
            "RequestStopTransaction",
            {"transaction_id": "E2E-TX-1"},
            {"status": "Accepted"},
        ),
        ("Reset", {"type": "Soft"}, "Reset", {"type": "OnIdle"}, {"status": "Scheduled"}),
        (
            "ChangeAvailability",
            {"connector_id": 1, "type": "Inoperative"},
            "ChangeAvailability",
            {"operational_status": "Inoperative", "evse": {"id": 1}},
            {"status": "Accepted"},
        ),
        (
            "UnlockConnector",
            {"connector_id": 3},
            "UnlockConnector",
            {"evse_id": 2, "connector_id": 2},
            {"status": "Unlocked"},
        ),
        (
            "TriggerMessage",
            {"requested_message": "DiagnosticsStatusNotification"},
            "TriggerMessage",
            {"requested_message": "LogStatusNotification"},
            {"status": "Accepted"},
        ),
        (
            "GetConfiguration",
            {"key": ["HeartbeatInterval", "NumberOfConnectors"]},
            "GetVariables",
            {"get_variable_data": [variable]},
            {
                "configuration_key": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
                "unknown_key": ["NumberOfConnectors"],
            },
        ),
        (
            "ChangeConfiguration",
            {"key": "HeartbeatInterval", "value": "120"},
            "SetVariables",
            {"set_variable_data": [{"attribute_value": "120", **variable}]},
            {"status": "RebootRequired"},
        ),
        ("ClearCache", {}, "ClearCache", {}, {"status": "Accepted"}),
        ("GetLocalListVersion", {}, "GetLocalListVersion", {}, {"list_version": 5}),
        (
            "SendLocalList",
            {"list_version": 6, "update_type": "Differential", "local_authorization_list": [{"id_tag": "04B0B0B0"}]},
            "SendLocalList",
            {
                "version_number": 6,
                "update_type": "Differential",
                "local_authorization_list": [{"id_token": {"id_token": "04B0B0B0", "type": "ISO14443"}}],
            },
            {"status": "Accepted"},
        ),
        (
            "ReserveNow",
            command_payload(
                command_payloads.reserve_now(
                    connector_id=1, expiry_date=LATER, id_tag=world.alice_card.uid, reservation_id=77
                )
            )[1],
            "ReserveNow",
            {"id": 77, "id_token": token, "evse_id": 1},
            {"status": "Accepted"},
        ),
        ("CancelReservation", {"reservation_id": 77}, "CancelReservation", {"reservation_id": 77}, {}),
        (
            "SetChargingProfile",
            profile,
            "SetChargingProfile",
            {"evse_id": 1},
            {"status": "Accepted"},
        ),
        (
            "ClearChargingProfile",
            {"id": 3},
            "ClearChargingProfile",
            {"charging_profile_id": 3},
            {"status": "Accepted"},
        ),
        (
            "GetCompositeSchedule",
            {"connector_id": 1, "duration": 600},
            "GetCompositeSchedule",
            {"evse_id": 1, "duration": 600},
            {"status": "Accepted", "connector_id": 1, "schedule_start": "2026-12-05T08:00:00Z"},
        ),
        (
            "UpdateFirmware",
            command_payload(command_payloads.update_firmware(location="https://fw.example/f.bin", retrieve_date=LATER))[
                1
            ],
            "UpdateFirmware",
            {"firmware": {"location": "https://fw.example/f.bin"}},
            {"status": "Accepted"},
        ),
        (
            "GetDiagnostics",
            {"location": "https://up.example/diag/"},
            "GetLog",
            {"log": {"remote_location": "https://up.example/diag/"}, "log_type": "DiagnosticsLog"},
            {"status": "Accepted", "file_name": "log.tar"},
        ),
        (
            "CertificateSigned",
            {"certificate_chain": "-----BEGIN CERTIFICATE-----"},
            "CertificateSigned",
            {"certificate_type": "ChargingStationCertificate"},
            {"status": "Accepted"},
        ),
        (
            "InstallCertificate",
            {"certificate_type": "CentralSystemRootCertificate", "certificate": "-----BEGIN CERTIFICATE-----"},
            "InstallCertificate",
            {"certificate_type": "CSMSRootCertificate"},
            {"status": "Accepted"},
        ),
        (
            "GetInstalledCertificateIds",
            {"certificate_type": "ManufacturerRootCertificate"},
            "GetInstalledCertificateIds",
            {"certificate_type": ["ManufacturerRootCertificate"]},
            {"status": "NotFound", "certificate_hash_data": []},
        ),
        (
            "DeleteCertificate",
            {"certificate_hash_data": hashes},
            "DeleteCertificate",
            {"certificate_hash_data": hashes},
            {"status": "NotFound"},
        ),
        (
            "DataTransfer",
            {"vendor_id": "ACME", "data": "ping"},
            "DataTransfer",
            {"vendor_id": "ACME", "data": "ping"},
            {"status": "Accepted", "data": "pong"},
        ),
        (
            "ExtendedTriggerMessage",
            {"requested_message": "SignChargePointCertificate"},
            "TriggerMessage",
            {"requested_message": "SignChargingStationCertificate"},
            {"status": "Accepted"},
        ),
        ("GetVariables", {"get_variable_data": [variable]}, "GetVariables", {"get_variable_data": [variable]}, {}),
        (
            "GetBaseReport",
            {"request_id": 8, "report_base": "FullInventory"},
            "GetBaseReport",
            {"request_id": 8, "report_base": "FullInventory"},
            {"status": "Accepted"},
        ),
        (
            "GetReport",
            {"request_id": 9, "component_criteria": ["Problem"]},
            "GetReport",
            {"request_id": 9},
            {"status": "EmptyResultSet"},
        ),
        (
            "CostUpdated",
            {"total_cost": 2.5, "transaction_id": "E2E-TX-1"},
            "CostUpdated",
            {"total_cost": 2.5, "transaction_id": "E2E-TX-1"},
            {},
        ),
    ]


def test_every_command_reaches_a_2_0_1_charger_in_2_0_1_and_is_answered_in_its_callers_words(asgi_server, world):
    Connector.objects.create(charge_point=world.cp_a, number=3, max_power_kw=22, evse_id=2, evse_connector_id=2)
    session = make_session(world.cp_a.connectors.get(number=1), world.alice_card, energy_wh=None)
    ChargingSession.objects.filter(pk=session.pk).update(charger_transaction_id="E2E-TX-1")
    sent = _commands(world, session)

    async def scenario():
        async with _connected_201(asgi_server) as charger:
            results = [await _send(action, payload) for action, payload, *_rest in sent]
            return results, charger.commands

    results, received = asyncio.run(scenario())

    assert [action for action, _payload in received] == [expected for _a, _p, expected, _r, _answer in sent]
    for (action, _payload, _expected, arrived, answer), (_got, payload), result in zip(
        sent, received, results, strict=True
    ):
        assert result.outcome == "answered", (action, result)
        assert _within(arrived, payload), (action, payload)
        assert answer.items() <= result.payload.items(), (action, result.payload)
    history = ChargerCommand.objects.filter(charge_point=world.cp_a)
    assert set(history.values_list("action", flat=True)) == {expected for _a, _p, expected, _r, _answer in sent}
    start = history.get(action="RequestStartTransaction")
    assert received[0][1]["remote_start_id"] == start.request["remote_start_id"]


def _within(part: dict, whole: dict) -> bool:
    """Every field of ``part`` in ``whole``, nested objects compared field by field."""
    return all(
        _within(value, whole.get(key) or {}) if isinstance(value, dict) else whole.get(key) == value
        for key, value in part.items()
    )


def test_after_its_boot_a_2_0_1_charger_gets_its_local_list_in_2_0_1(asgi_server, world):
    ChargePoint.objects.filter(pk=world.cp_a.pk).update(local_auth_list=True)

    async def scenario():
        async with _connected_201(asgi_server) as charger:
            await charger.boot()
            for _ in range(100):  # the follow-ups run once the boot is answered
                if any(action == "SendLocalList" for action, _payload in charger.commands):
                    break
                await asyncio.sleep(0.1)
            return charger.commands

    received = asyncio.run(scenario())

    actions = [action for action, _payload in received]
    assert actions[:2] == ["GetVariables", "GetLocalListVersion"]
    assert "SendLocalList" in actions
    asked = received[0][1]["get_variable_data"]
    assert {"component": {"name": "LocalAuthListCtrlr"}, "variable": {"name": "Enabled"}} in asked
