"""The OCPP 1.6 security extension's messages: password rotation (transport replaced), security events and
certificate requests over the in-process consumer, certificates and their checks, redaction of the password.

tests/e2e/test_ocpp_security_extension.py runs them with an ``ocpp``-package charger on the real server.
"""

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.core.cache import cache
from django.urls import reverse

from sessions_app import charger_security, hooks, services
from sessions_app.models import ChargePoint, ChargerCertificate, ChargerCommand, SecurityEvent
from sessions_app.ocpp import certificates, command_payloads, commands
from sessions_app.ocpp.command_payloads import CommandPayloadError
from sessions_app.ocpp.commands import CommandResult
from sessions_app.ocpp.log_redaction import MASK, command_redacted, redact
from sessions_app.services import charger_command_record
from tests.sessions_app.websocket import ChargerSocket
from tests.threads import in_thread
from tests.tls_certificates import make_ca, make_csr

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_ca(tmp_path, settings):
    ca = make_ca()
    cert_path, key_path = ca.write(tmp_path, "ca")
    settings.OCPP_CA_CERT_FILE, settings.OCPP_CA_KEY_FILE = str(cert_path), str(key_path)
    return ca


@pytest.fixture(autouse=True)
def _no_rotation_lock():
    cache.clear()
    yield
    cache.clear()


# --- password rotation ---------------------------------------------------------------------------------------


def test_an_accepted_rotation_stores_the_new_password_and_raises_profile_0_to_1(world, transport):
    now = datetime(2026, 5, 1, 12, tzinfo=UTC)
    rotation = charger_security.charge_point_password_rotate(charge_point=world.cp_a, by=world.carol, now=now)

    (ocpp_id, action, payload) = transport.sent[0]
    assert (ocpp_id, action, payload["key"]) == ("ALPHA-1", "ChangeConfiguration", "AuthorizationKey")
    assert bytes.fromhex(payload["value"]).decode("ascii") == rotation.password
    assert len(rotation.password) == 20 and len(payload["value"]) == 40 and rotation.password.isalnum()
    assert rotation.stored and rotation.outcome == "answered"
    world.cp_a.refresh_from_db()
    assert world.cp_a.check_password(rotation.password)
    assert world.cp_a.password_changed_at == now
    assert world.cp_a.security_profile == ChargePoint.SecurityProfile.BASIC


def test_a_charger_may_present_its_rotated_password_decoded_or_as_the_hex_value_it_was_sent(world, transport):
    rotation = charger_security.charge_point_password_rotate(
        charge_point=world.cp_a, by=world.carol, now=datetime(2026, 5, 1, 12, tzinfo=UTC)
    )
    sent = transport.sent[0][2]["value"]
    world.cp_a.refresh_from_db()

    assert world.cp_a.check_password(rotation.password)
    assert world.cp_a.check_password(sent) and world.cp_a.check_password(sent.lower())
    assert not world.cp_a.check_password(sent[:-2] + "00")
    assert not world.cp_a.check_password("zz" * 20)


@pytest.mark.parametrize(
    ("result", "shown", "told"),
    [
        (CommandResult("answered", {"status": "Rejected"}), False, "The charger answered Rejected. Its password"),
        (CommandResult("answered", {"status": "NotSupported"}), False, "The charger answered NotSupported. Its"),
        (CommandResult("offline"), False, "The charger was offline, so nothing was sent. Its password is unchanged."),
        (CommandResult("error", code="InternalError"), False, "The charger returned an error: InternalError. Its"),
        (CommandResult("timeout"), True, "The charger did not answer in time. The stored password is unchanged"),
        (CommandResult("no_answer"), True, "The charger's connection ended before it answered. The stored"),
    ],
)
def test_a_rotation_not_accepted_keeps_the_old_password(world, transport, result, shown, told):
    world.cp_a.set_password("the-old-password-16")
    world.cp_a.save()
    transport.result = result
    rotation = charger_security.charge_point_password_rotate(
        charge_point=world.cp_a, by=world.carol, now=datetime.now(UTC)
    )

    assert not rotation.stored
    assert bool(rotation.password) is shown  # shown when the charger may have taken it without answering
    world.cp_a.refresh_from_db()
    assert world.cp_a.check_password("the-old-password-16")
    assert world.cp_a.password_changed_at is None
    assert rotation.message.startswith(told) and "unchanged" in rotation.message  # the words of every outcome


def test_reboot_required_stores_the_password_and_says_to_restart(world, transport):
    transport.result = CommandResult("answered", {"status": "RebootRequired"})
    rotation = charger_security.charge_point_password_rotate(
        charge_point=world.cp_a, by=world.carol, now=datetime.now(UTC)
    )
    assert rotation.stored and "Reset" in rotation.message


def test_a_second_rotation_while_one_runs_is_refused(world, transport):
    cache.add(f"password-rotation:{world.cp_a.pk}", 1, 60)
    rotation = charger_security.charge_point_password_rotate(
        charge_point=world.cp_a, by=world.carol, now=datetime.now(UTC)
    )
    assert rotation.outcome == "busy" and transport.sent == []


def test_the_password_is_never_kept_in_the_command_history_nor_logged(world, caplog):
    payload = {"key": "AuthorizationKey", "value": "5365637265745365637265745365637265743132"}
    now = datetime.now(UTC)
    charger_command_record(
        charge_point=world.cp_a,
        action="ChangeConfiguration",
        request=payload,
        outcome="answered",
        answer={"status": "Accepted"},
        sent_at=now,
        finished_at=now,
    )
    charger_command_record(
        charge_point=world.cp_a,
        action="GetConfiguration",
        request={},
        outcome="answered",
        answer={"configuration_key": [{"key": "authorizationkey", "readonly": False, "value": "leaked-secret"}]},
        sent_at=now,
        finished_at=now,
    )
    change, read = ChargerCommand.objects.order_by("pk")
    assert change.request == {"key": "AuthorizationKey", "value": MASK}
    assert read.answer["configuration_key"][0]["value"] == MASK
    frame = (
        '[2,"1","ChangeConfiguration",{"key":"AuthorizationKey","value":"5365637265745365637265745365637265743132"}]'
    )
    assert "5365" not in redact(frame)[0]
    assert command_redacted("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "60"}, {}) == (
        {"key": "HeartbeatInterval", "value": "60"},
        {},
    )
    with caplog.at_level(logging.INFO):
        logging.getLogger("ocpp").info("ALPHA-1: send %s", frame)
    assert "5365637265745365637265745365637265743132" not in caplog.text


def test_a_password_in_a_chargers_answer_is_masked_once_and_returned_as_the_history_keeps_it(world, monkeypatch):
    secret = "5365637265745365637265745365637265743132"
    answer = {"configuration_key": [{"key": "AuthorizationKey", "readonly": False, "value": secret}]}

    async def charger_answers(charge_point, action, payload, timeout=30):
        return CommandResult("answered", answer)

    masked: list[str] = []

    def counted(action, request, answer):
        masked.append(action)
        return command_redacted(action, request, answer)

    monkeypatch.setattr(commands, "command_send_async", charger_answers)
    monkeypatch.setattr(services, "command_redacted", counted)

    result = commands.command_send(world.cp_a, "GetConfiguration", {"key": ["AuthorizationKey"]})

    kept = ChargerCommand.objects.get()
    assert result.payload == kept.answer
    assert kept.answer["configuration_key"][0]["value"] == MASK and secret not in str(result)
    assert masked == ["GetConfiguration"]


def test_changing_authorization_key_by_hand_is_refused_in_the_form_and_the_api(client, world, transport, carol_api):
    client.force_login(world.carol)
    url = reverse("admin:sessions_app_chargepoint_commands", args=[world.cp_a.pk])
    response = client.post(url, {"action": "ChangeConfiguration", "key": "authorizationKey", "value": "x" * 16})
    assert "Rotate" in " ".join(response.context["form"].errors["key"])
    answer = carol_api.post(
        f"/api/v1/operator/stations/{world.cp_a.pk}/configuration/change/",
        {"key": "AuthorizationKey", "value": "x" * 16},
        format="json",
    )
    assert answer.status_code == 400 and "key" in answer.json()["errors"] if "errors" in answer.json() else True
    assert transport.sent == []


def test_the_admin_action_rotates_after_confirming_and_shows_the_password_once(client, world, transport):
    client.force_login(world.carol)
    changelist = reverse("admin:sessions_app_chargepoint_changelist")
    confirm = client.post(changelist, {"action": "rotate_password", "_selected_action": [world.cp_a.pk]})
    assert confirm.status_code == 200 and transport.sent == []
    done = client.post(
        changelist, {"action": "rotate_password", "_selected_action": [world.cp_a.pk], "rotate_confirmed": "yes"}
    )
    rotation = done.context["rotation"]
    assert rotation.stored and rotation.password in done.content.decode()
    assert "no-store" in done["Cache-Control"]
    world.cp_a.refresh_from_db()
    assert world.cp_a.check_password(rotation.password)


def test_another_operator_cannot_rotate_the_password(client, world, transport):
    client.force_login(world.dave)
    changelist = reverse("admin:sessions_app_chargepoint_changelist")
    client.post(
        changelist, {"action": "rotate_password", "_selected_action": [world.cp_a.pk], "rotate_confirmed": "yes"}
    )
    assert transport.sent == []
    world.cp_a.refresh_from_db()
    assert not world.cp_a.password_hash


def test_the_api_rotates_for_the_operator_and_refuses_others(world, transport, carol_api, client):
    url = f"/api/v1/operator/stations/{world.cp_a.pk}/password/rotate/"
    answer = carol_api.post(url)
    assert answer.status_code == 200
    body = answer.json()
    assert body["stored"] is True and body["outcome"] == "answered" and len(body["password"]) == 20
    assert answer["Cache-Control"] == "no-store"
    other = carol_api.post(f"/api/v1/operator/stations/{world.cp_b.pk}/password/rotate/")
    assert other.status_code == 404
    client.force_login(world.alice)
    assert client.post(url).status_code in (401, 403)
    assert len(transport.sent) == 1


# --- commands of the security extension ----------------------------------------------------------------------


def test_builders_check_what_ocpp_allows(operator_ca):
    pem = operator_ca.pem
    built = command_payloads.install_certificate(certificate_type="CentralSystemRootCertificate", certificate=pem)
    assert built.certificate.startswith("-----BEGIN CERTIFICATE-----")
    with pytest.raises(CommandPayloadError) as refused:
        command_payloads.install_certificate(certificate_type="CentralSystemRootCertificate", certificate="nope")
    assert refused.value.field == "certificate"
    with pytest.raises(CommandPayloadError):
        command_payloads.install_certificate(certificate_type="V2GRootCertificate", certificate=pem)
    with pytest.raises(CommandPayloadError) as refused:
        command_payloads.delete_certificate(
            hash_algorithm="SHA256", issuer_name_hash="zz", issuer_key_hash="aa", serial_number="01"
        )
    assert refused.value.field == "issuer_name_hash"
    with pytest.raises(CommandPayloadError):
        command_payloads.extended_trigger_message(requested_message="DiagnosticsStatusNotification")
    data = certificates.certificate_hash_data(operator_ca.certificate)
    action, payload = command_payloads.command_payload(command_payloads.delete_certificate(**data))
    assert action == "DeleteCertificate" and payload["certificate_hash_data"] == data
    own = charger_security.install_certificate_call(
        certificate_type="CentralSystemRootCertificate", use_operator_ca=True
    )
    assert own.certificate == pem


def test_the_admin_form_sends_the_certificate_commands(client, world, transport, operator_ca):
    client.force_login(world.carol)
    url = reverse("admin:sessions_app_chargepoint_commands", args=[world.cp_a.pk])
    client.post(
        url,
        {"action": "InstallCertificate", "certificate_type": "CentralSystemRootCertificate", "use_operator_ca": "on"},
    )
    client.post(url, {"action": "GetInstalledCertificateIds", "certificate_type": "ManufacturerRootCertificate"})
    client.post(url, {"action": "ExtendedTriggerMessage", "extended_message": "SignChargePointCertificate"})
    data = certificates.certificate_hash_data(operator_ca.certificate)
    client.post(url, {"action": "DeleteCertificate", **data})
    assert [(action, sorted(payload)) for _id, action, payload in transport.sent] == [
        ("InstallCertificate", ["certificate", "certificate_type"]),
        ("GetInstalledCertificateIds", ["certificate_type"]),
        ("ExtendedTriggerMessage", ["requested_message"]),
        ("DeleteCertificate", ["certificate_hash_data"]),
    ]


def test_the_api_certificate_commands_are_the_operators_own(world, transport, carol_api, operator_ca):
    base = f"/api/v1/operator/stations/{world.cp_a.pk}"
    assert (
        carol_api.post(f"{base}/extended-trigger/", {"requested_message": "SignChargePointCertificate"}).status_code
        == 200
    )
    assert (
        carol_api.post(
            f"{base}/certificates/install/", {"certificate_type": "CentralSystemRootCertificate", "certificate": "x"}
        ).status_code
        == 400
    )
    assert (
        carol_api.post(
            f"{base}/certificates/installed/", {"certificate_type": "CentralSystemRootCertificate"}
        ).status_code
        == 200
    )
    other = f"/api/v1/operator/stations/{world.cp_b.pk}/certificates/installed/"
    assert carol_api.post(other, {"certificate_type": "CentralSystemRootCertificate"}).status_code == 404
    assert [action for _id, action, _payload in transport.sent] == [
        "ExtendedTriggerMessage",
        "GetInstalledCertificateIds",
    ]


# --- certificates ----------------------------------------------------------------------------------------------


def test_a_sound_csr_is_issued_a_client_certificate_that_chains_to_the_ca(operator_ca):
    now = datetime.now(UTC)
    request = certificates.csr_check(make_csr("ALPHA-1"), ocpp_id="ALPHA-1", organization_name="alpha charge ")
    issued = certificates.certificate_issue(request, ca=certificates.operator_ca(), now=now, days=30)
    assert issued.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "ALPHA-1"
    assert certificates.chain_verifies(
        certificates.chain_pem(issued, certificates.operator_ca()), operator_ca.certificate
    )
    assert issued.not_valid_after_utc <= now + timedelta(days=30)


@pytest.mark.parametrize(
    ("csr", "problem"),
    [
        (lambda: make_csr("BETA-1"), "not ALPHA-1"),
        (lambda: make_csr("ALPHA-1", "Someone Else"), "not the operator"),
        (lambda: make_csr("ALPHA-1", key=rsa.generate_private_key(public_exponent=65537, key_size=1024)), "fewer than"),  # noqa: S505 - a weak key on purpose
        (lambda: "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----", "not a PEM"),
    ],
)
def test_a_csr_not_for_this_charger_is_refused(operator_ca, csr, problem):
    with pytest.raises(certificates.CertificateError, match=problem):
        certificates.csr_check(csr(), ocpp_id="ALPHA-1", organization_name="Alpha Charge")


def test_without_a_ca_sign_certificate_is_rejected_with_the_reason_logged(world, settings, caplog):
    settings.OCPP_CA_CERT_FILE = settings.OCPP_CA_KEY_FILE = ""
    with caplog.at_level(logging.WARNING):
        assert not charger_security.sign_certificate_accepts(charge_point=world.cp_a, csr=make_csr("ALPHA-1"))
    assert "OCPP_CA_CERT_FILE and OCPP_CA_KEY_FILE" in caplog.text


def test_a_charger_not_accepted_gets_no_certificate(world, operator_ca):
    world.cp_a.registration_status = ChargePoint.RegistrationStatus.PENDING
    world.cp_a.save()
    csr = make_csr("ALPHA-1", world.org_a.name)
    assert "not accepted" in charger_security.csr_problem(charge_point=world.cp_a, csr=csr)
    assert charger_security.certificate_sign_and_send(charge_point=world.cp_a, csr=csr, now=datetime.now(UTC)) is None
    assert not ChargerCertificate.objects.exists()


def test_ca_settings_check(settings, tmp_path, operator_ca):
    assert certificates.ca_settings_check() == []
    settings.OCPP_CA_KEY_FILE = ""
    assert [message.id for message in certificates.ca_settings_check()] == ["ocpp_ca.W001"]
    settings.OCPP_CA_CERT_FILE, settings.OCPP_CA_KEY_FILE = "", str(tmp_path / "ca.key")
    assert [message.id for message in certificates.ca_settings_check()] == ["ocpp_ca.E001"]
    other = make_ca("Other CA")
    _cert, other_key = other.write(tmp_path, "other")
    settings.OCPP_CA_CERT_FILE, settings.OCPP_CA_KEY_FILE = str(tmp_path / "ca.pem"), str(other_key)
    assert [message.id for message in certificates.ca_settings_check()] == ["ocpp_ca.E001"]


# --- over the consumer --------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_sign_certificate_is_answered_then_certificate_signed_follows(world, operator_ca):
    csr = make_csr("ALPHA-1", world.org_a.name)

    async def scenario():
        async with ChargerSocket("ALPHA-1") as charger:
            answer = await charger.call("SignCertificate", {"csr": csr})
            signed = await charger.communicator.receive_output(10)
            frame = __import__("json").loads(signed["text"])
            reply = [3, frame[1], {"status": "Accepted"}]
            await charger.communicator.send_input(
                {"type": "websocket.receive", "text": __import__("json").dumps(reply)}
            )
            for _attempt in range(100):
                if await in_thread(
                    lambda: ChargerCertificate.objects.filter(status=ChargerCertificate.Status.ACCEPTED).exists()
                ):
                    break
                await asyncio.sleep(0.05)
            return answer, frame

    answer, frame = asyncio.run(scenario())
    assert answer[2] == {"status": "Accepted"}
    assert frame[2] == "CertificateSigned"
    assert certificates.chain_verifies(frame[3]["certificateChain"], operator_ca.certificate)
    issued = ChargerCertificate.objects.get()
    assert issued.charge_point == world.cp_a and issued.status == ChargerCertificate.Status.ACCEPTED
    assert ChargerCommand.objects.get(action="CertificateSigned").status == "Accepted"


@pytest.mark.django_db(transaction=True)
def test_a_rejected_sign_certificate_schedules_no_follow_up(world, operator_ca, monkeypatch):
    followed: list[str] = []
    monkeypatch.setattr(
        charger_security, "certificate_sign_followup", lambda *, charge_point, csr, now: followed.append(csr)
    )

    async def scenario():
        async with ChargerSocket("ALPHA-1") as charger:
            answer = await charger.call("SignCertificate", {"csr": make_csr("BETA-1", world.org_a.name)})
            # the after-handler is scheduled as the answer goes: by the next answer it has run
            heartbeat = await charger.call("Heartbeat", {})
            return answer, heartbeat

    answer, heartbeat = asyncio.run(scenario())

    assert answer[2] == {"status": "Rejected"} and heartbeat[0] == 3
    assert followed == []
    assert not ChargerCertificate.objects.exists() and not ChargerCommand.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_security_events_are_kept_counted_and_the_alarming_ones_alert(world, monkeypatch):
    alerted = []
    monkeypatch.setattr(hooks, "security_alert_handlers", [alerted.append])

    async def scenario():
        async with ChargerSocket("ALPHA-1") as charger:
            answers = [
                await charger.call(
                    "SecurityEventNotification", {"type": "StartupOfTheDevice", "timestamp": "2026-05-01T10:00:00Z"}
                ),
                await charger.call(
                    "SecurityEventNotification",
                    {"type": "TamperDetectionActivated", "timestamp": "2026-05-01T10:01:00Z", "techInfo": "door"},
                ),
                await charger.call(
                    "SecurityEventNotification",
                    {"type": "TamperDetectionActivated", "timestamp": "2026-05-01T10:02:00Z", "techInfo": "door"},
                ),
            ]
            return answers

    answers = asyncio.run(scenario())
    assert [answer[2] for answer in answers] == [{}, {}, {}]
    events = {
        event.event_type: event for event in SecurityEvent.objects.filter(kind=SecurityEvent.Kind.CHARGER_REPORTED)
    }
    assert set(events) == {"StartupOfTheDevice", "TamperDetectionActivated"}
    tamper = events["TamperDetectionActivated"]
    assert (tamper.detail, tamper.count, tamper.organization, tamper.charge_point) == (
        "door",
        2,
        world.org_a,
        world.cp_a,
    )
    assert alerted == [tamper.pk]  # once, not for the routine event, not again for the counted repeat
    assert list(
        charger_security.security_alerts_between(
            organization=world.org_a, start=datetime(2026, 1, 1, tzinfo=UTC), end=datetime(2027, 1, 1, tzinfo=UTC)
        )
    ) == [tamper]


def test_the_security_events_page_shows_charger_reports_to_their_operator_only(client, world):
    SecurityEvent.objects.create(
        kind=SecurityEvent.Kind.CHARGER_REPORTED,
        ocpp_id="ALPHA-1",
        charge_point=world.cp_a,
        organization=world.org_a,
        event_type="InvalidFirmwareSignature",
        detail="bad signature",
    )
    url = reverse("admin:sessions_app_securityevent_changelist")
    client.force_login(world.carol)
    page = client.get(url + "?alerting=yes").content.decode()
    assert "InvalidFirmwareSignature" in page and "bad signature" in page
    client.force_login(world.dave)
    assert "InvalidFirmwareSignature" not in client.get(url).content.decode()


def test_charger_certificates_page_is_scoped(client, world, operator_ca):
    now = datetime.now(UTC)
    ChargerCertificate.objects.create(
        charge_point=world.cp_a,
        serial_number="abc123",
        subject="CN=ALPHA-1",
        certificate_pem="x",
        not_before=now,
        not_after=now + timedelta(days=1),
    )
    url = reverse("admin:sessions_app_chargercertificate_changelist")
    client.force_login(world.carol)
    assert "abc123" in client.get(url).content.decode()
    client.force_login(world.dave)
    assert "abc123" not in client.get(url).content.decode()


def test_commands_module_knows_the_security_actions():
    for action in (
        "CertificateSigned",
        "ExtendedTriggerMessage",
        "InstallCertificate",
        "GetInstalledCertificateIds",
        "DeleteCertificate",
    ):
        assert action in commands.ACTIONS
