"""OCPP 2.0.1's SignCertificate over the in-process consumer: answered as 1.6's, the certificate then sent with
CertificateSigned (its type ChargingStationCertificate), a V2GCertificate request refused with its reason; the
charger's password (SetVariables SecurityCtrlr.BasicAuthPassword) masked in the command history and the logs.

tests/e2e/test_ocpp_v201_security.py runs it, and security profiles 1 to 3, with a 2.0.1 charger on the real server.
"""

import asyncio
import json
import logging

import pytest

from sessions_app import charger_security
from sessions_app.models import ChargerCertificate, ChargerCommand
from sessions_app.ocpp import certificates
from sessions_app.ocpp.log_redaction import MASK, command_redacted, redact
from sessions_app.ocpp.v16 import CertificateRequests
from tests.sessions_app.websocket import ChargerSocket
from tests.threads import in_thread
from tests.tls_certificates import make_ca, make_csr

pytestmark = pytest.mark.django_db(transaction=True)

V201 = ("ocpp2.0.1",)


@pytest.fixture
def operator_ca(tmp_path, settings):
    ca = make_ca()
    settings.OCPP_CA_CERT_FILE, settings.OCPP_CA_KEY_FILE = map(str, ca.write(tmp_path, "ca"))
    return ca


@pytest.fixture
def followed(monkeypatch) -> list[dict]:
    """The certificate follow-ups scheduled (none is run)."""
    calls: list[dict] = []
    monkeypatch.setattr(charger_security, "certificate_sign_followup", lambda **kwargs: calls.append(kwargs))
    return calls


def _sign_and_answer(request: dict) -> tuple[list, list]:
    """Send SignCertificate as a 2.0.1 charger, answer the CertificateSigned that follows with Accepted: both frames."""

    async def scenario():
        async with ChargerSocket("ALPHA-1", subprotocols=V201) as charger:
            answer = await charger.call("SignCertificate", request)
            signed = json.loads((await charger.communicator.receive_output(10))["text"])
            reply = json.dumps([3, signed[1], {"status": "Accepted"}])
            await charger.communicator.send_input({"type": "websocket.receive", "text": reply})
            for _attempt in range(100):  # connected until the server has kept the charger's answer
                if await in_thread(ChargerCertificate.objects.filter(status=ChargerCertificate.Status.ACCEPTED).exists):
                    break
                await asyncio.sleep(0.05)
            return answer, signed

    return asyncio.run(scenario())


def _sign_rejected(request: dict) -> tuple[list, list]:
    """SignCertificate and a Heartbeat after it (by then the step after the answer has run): both answers."""

    async def scenario():
        async with ChargerSocket("ALPHA-1", subprotocols=V201) as charger:
            return await charger.call("SignCertificate", request), await charger.call("Heartbeat", {})

    return asyncio.run(scenario())


@pytest.mark.parametrize("certificate_type", ["ChargingStationCertificate", None])
def test_a_2_0_1_sign_certificate_is_accepted_and_certificate_signed_follows_with_its_type(
    world, operator_ca, certificate_type
):
    request = {"csr": make_csr("ALPHA-1", world.org_a.name)}
    if certificate_type:
        request["certificateType"] = certificate_type

    answer, signed = _sign_and_answer(request)

    assert answer[2] == {"status": "Accepted"}
    assert signed[2] == "CertificateSigned"
    assert signed[3]["certificateType"] == "ChargingStationCertificate"  # also for a request naming no type
    assert certificates.chain_verifies(signed[3]["certificateChain"], operator_ca.certificate)
    issued = ChargerCertificate.objects.get()
    assert (issued.charge_point, issued.status) == (world.cp_a, ChargerCertificate.Status.ACCEPTED)
    command = ChargerCommand.objects.get(action="CertificateSigned")
    assert (command.request["certificate_type"], command.status) == ("ChargingStationCertificate", "Accepted")


def test_a_v2g_certificate_request_is_rejected_with_its_reason_and_nothing_follows(
    world, operator_ca, followed, caplog
):
    request = {"csr": make_csr("ALPHA-1", world.org_a.name), "certificateType": "V2GCertificate"}

    with caplog.at_level(logging.WARNING):
        answer, heartbeat = _sign_rejected(request)

    assert answer[2]["status"] == "Rejected"
    assert answer[2]["statusInfo"]["reasonCode"] == "UnsupportedParam"
    assert "No V2G CA" in answer[2]["statusInfo"]["additionalInfo"]
    assert heartbeat[0] == 3 and followed == []
    assert not ChargerCertificate.objects.exists()
    assert "V2GCertificate" in caplog.text


@pytest.mark.parametrize(
    ("ca", "common_name", "logged"),
    [(True, "BETA-1", "not ALPHA-1"), (False, "ALPHA-1", "OCPP_CA_CERT_FILE and OCPP_CA_KEY_FILE")],
)
def test_a_2_0_1_csr_for_another_charger_or_without_a_ca_is_rejected_as_in_1_6(
    world, settings, tmp_path, followed, caplog, ca, common_name, logged
):
    if ca:
        settings.OCPP_CA_CERT_FILE, settings.OCPP_CA_KEY_FILE = map(str, make_ca().write(tmp_path, "ca"))
    else:
        settings.OCPP_CA_CERT_FILE = settings.OCPP_CA_KEY_FILE = ""

    with caplog.at_level(logging.WARNING):
        answer, heartbeat = _sign_rejected({"csr": make_csr(common_name, world.org_a.name)})

    assert answer[2] == {"status": "Rejected"} and heartbeat[0] == 3
    assert followed == [] and not ChargerCertificate.objects.exists()
    assert logged in caplog.text


def test_an_accepted_request_is_followed_up_once_and_a_rejected_one_never(world, operator_ca, followed):
    requests = CertificateRequests()
    csr = make_csr("ALPHA-1", world.org_a.name)

    async def scenario():
        accepted = await requests.answer(world.cp_a, csr, "m-1")
        rejected = await requests.answer(world.cp_a, make_csr("BETA-1", world.org_a.name), "m-2")
        for call_id in ("m-1", "m-1", "m-2"):  # the step after an answer, run again for m-1
            await requests.send(world.cp_a, csr, call_id)
        return accepted, rejected

    assert asyncio.run(scenario()) == (True, False)
    assert [(call["charge_point"], call["csr"]) for call in followed] == [(world.cp_a, csr)]


def test_a_2_0_1_chargers_password_is_masked_in_the_command_history_and_in_logged_frames():
    password = {"attribute_value": "s3cret-Passw0rd", "component": {"name": "SecurityCtrlr"}}
    other = {"attribute_value": "60", "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
    request = {"set_variable_data": [{**password, "variable": {"name": "basicAuthPassword"}}, other]}

    kept, _answer = command_redacted("SetVariables", request, {})
    (frame,) = redact(
        '[2, "m-1", "SetVariables", {"setVariableData": [{"attributeValue": "s3cret-Passw0rd", '
        '"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}}]}]'
    )

    assert [item["attribute_value"] for item in kept["set_variable_data"]] == [MASK, "60"]
    assert "s3cret-Passw0rd" not in frame and f'"attributeValue": "{MASK}"' in frame
