"""The OCPP 1.6 security extension's messages for real: an ``ocpp``-package charger on the uvicorn server.

Password rotation (the charger takes the hex-encoded AuthorizationKey, reconnects with the new password and the old
one is refused; a refusal keeps the old one), SecurityEventNotification kept and shown to its operator only,
SignCertificate answered with a certificate from the operator's CA (asked directly and through
ExtendedTriggerMessage), a CSR for another charger refused, and the root certificate commands round trip.
"""

import asyncio

import pytest
import websockets
from cryptography import x509
from cryptography.x509.oid import NameOID
from django.conf import global_settings, settings
from django.urls import reverse
from django.utils import timezone
from ocpp.routing import after, on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action

from sessions_app import charger_security
from sessions_app.models import ChargePoint, ChargerCertificate, ChargerCommand, SecurityEvent
from sessions_app.ocpp import certificates, command_payloads
from tests.e2e.ocpp_client import TestCharger, connected, iso
from tests.e2e.test_ocpp_commands import needs_redis, send_from_thread
from tests.e2e.tls_client import certificate_answer_kept
from tests.threads import in_thread
from tests.tls_certificates import make_ca, make_csr

pytestmark = pytest.mark.django_db(transaction=True)

OLD_PASSWORD = "the-old-password-1234"


class SecureCharger(TestCharger):
    """A charger of the security extension: takes a new password, keeps root certificates, installs its own."""

    __test__ = False
    password_answer = "Accepted"
    install_answer = "Accepted"
    organization = ""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.new_password: str | None = None
        self.roots: list[x509.Certificate] = []
        self.chain: str | None = None
        self.signed = asyncio.Event()

    @on(Action.change_configuration)
    async def on_change_configuration(self, key, value):
        if key == "AuthorizationKey" and self.password_answer == "Accepted":
            self.new_password = bytes.fromhex(value).decode("ascii")  # the whitepaper's hex encoding
        return call_result.ChangeConfiguration(status=self.password_answer)

    @on(Action.certificate_signed)
    async def on_certificate_signed(self, certificate_chain):
        self.chain = certificate_chain
        self.signed.set()
        return call_result.CertificateSigned(status="Accepted")

    @on(Action.extended_trigger_message)
    async def on_extended_trigger_message(self, requested_message, **optional):
        return call_result.ExtendedTriggerMessage(status="Accepted")

    @after(Action.extended_trigger_message)
    async def after_extended_trigger_message(self, requested_message, **optional):
        if requested_message == "SignChargePointCertificate":
            await self.call(call.SignCertificate(csr=make_csr(self.id, self.organization)))

    @on(Action.install_certificate)
    async def on_install_certificate(self, certificate_type, certificate):
        if self.install_answer == "Accepted":
            self.roots.append(x509.load_pem_x509_certificate(certificate.encode("ascii")))
        return call_result.InstallCertificate(status=self.install_answer)

    @on(Action.get_installed_certificate_ids)
    async def on_get_installed_certificate_ids(self, certificate_type):
        if not self.roots:
            return call_result.GetInstalledCertificateIds(status="NotFound")
        data = [certificates.certificate_hash_data(root) for root in self.roots]
        return call_result.GetInstalledCertificateIds(status="Accepted", certificate_hash_data=data)

    @on(Action.delete_certificate)
    async def on_delete_certificate(self, certificate_hash_data):
        for root in self.roots:
            if certificates.certificate_hash_data(root, algorithm=certificate_hash_data["hash_algorithm"]) == (
                certificate_hash_data
            ):
                self.roots.remove(root)
                return call_result.DeleteCertificate(status="Accepted")
        return call_result.DeleteCertificate(status="NotFound")


async def handshake_status(url: str, ocpp_id: str, password: str) -> int:
    try:
        async with connected(url, ocpp_id, password=password):
            return 101
    except websockets.exceptions.InvalidStatus as refusal:
        return refusal.response.status_code


async def rotate_from_thread(ocpp_id: str) -> charger_security.PasswordRotation:
    return await in_thread(
        lambda: charger_security.charge_point_password_rotate(
            charge_point=ChargePoint.objects.get(ocpp_id=ocpp_id), by=None, now=timezone.now(), timeout=10
        )
    )


@pytest.fixture
def secured(world, settings):
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS  # as the server process checks them
    world.cp_a.set_password(OLD_PASSWORD)
    world.cp_a.security_profile = ChargePoint.SecurityProfile.BASIC
    world.cp_a.save()
    return world


@needs_redis
def test_an_accepted_password_is_the_one_the_charger_connects_with_and_the_old_one_is_refused(asgi_server, secured):
    async def scenario():
        async with connected(asgi_server, "ALPHA-1", password=OLD_PASSWORD, charger_class=SecureCharger) as charger:
            await charger.boot()
            rotation = await rotate_from_thread("ALPHA-1")
        new_password = charger.new_password
        with_new = await handshake_status(asgi_server, "ALPHA-1", new_password)
        with_old = await handshake_status(asgi_server, "ALPHA-1", OLD_PASSWORD)
        return rotation, new_password, with_new, with_old

    rotation, new_password, with_new, with_old = asyncio.run(scenario())

    assert rotation.stored and rotation.password == new_password
    assert (with_new, with_old) == (101, 401)
    command = ChargerCommand.objects.get(action="ChangeConfiguration")
    assert command.request == {"key": "AuthorizationKey", "value": "***"} and command.status == "Accepted"
    server_log = (settings.BASE_DIR / "var" / "e2e-server.log").read_text(errors="replace")
    assert new_password.encode("ascii").hex().upper() not in server_log  # frames are logged, the password masked


@needs_redis
def test_a_refused_password_leaves_the_old_one_working(asgi_server, secured):
    class RefusingCharger(SecureCharger):
        __test__ = False
        password_answer = "Rejected"

    async def scenario():
        async with connected(asgi_server, "ALPHA-1", password=OLD_PASSWORD, charger_class=RefusingCharger) as charger:
            await charger.boot()
            rotation = await rotate_from_thread("ALPHA-1")
        return rotation, await handshake_status(asgi_server, "ALPHA-1", OLD_PASSWORD)

    rotation, with_old = asyncio.run(scenario())

    assert (rotation.outcome, rotation.status, rotation.stored, rotation.password) == (
        "answered",
        "Rejected",
        False,
        "",
    )
    assert with_old == 101
    secured.cp_a.refresh_from_db()
    assert secured.cp_a.check_password(OLD_PASSWORD) and secured.cp_a.password_changed_at is None


def test_security_events_are_kept_and_shown_to_their_operator_only(asgi_server, world, client):
    async def scenario():
        async with connected(asgi_server, "ALPHA-1") as charger:
            await charger.boot()
            for event_type, tech_info in (("TamperDetectionActivated", "cabinet door"), ("StartupOfTheDevice", None)):
                await charger.call(
                    call.SecurityEventNotification(type=event_type, timestamp=iso(), tech_info=tech_info),
                    suppress=False,
                )

    asyncio.run(scenario())

    events = {
        event.event_type: event for event in SecurityEvent.objects.filter(kind=SecurityEvent.Kind.CHARGER_REPORTED)
    }
    assert set(events) == {"TamperDetectionActivated", "StartupOfTheDevice"}
    tamper = events["TamperDetectionActivated"]
    assert (tamper.detail, tamper.charge_point, tamper.organization) == ("cabinet door", world.cp_a, world.org_a)
    url = reverse("admin:sessions_app_securityevent_changelist") + "?alerting=yes"
    client.force_login(world.carol)
    page = client.get(url)
    assert list(page.context["cl"].result_list) == [tamper]  # the alarming one: the boot is listed, not alerting
    assert "cabinet door" in page.content.decode()
    client.force_login(world.dave)
    assert list(client.get(url).context["cl"].result_list) == []


@pytest.fixture
def ca_server(world, server_process, tmp_path):
    ca = make_ca()
    cert_path, key_path = ca.write(tmp_path, "operator-ca")
    server = server_process(OCPP_CA_CERT_FILE=str(cert_path), OCPP_CA_KEY_FILE=str(key_path), CELERY_EAGER="1")
    server.start()
    return server, ca


def test_a_charger_asking_for_a_certificate_gets_one_from_the_operators_ca(ca_server, world):
    server, ca = ca_server

    async def scenario():
        async with connected(server.url, "ALPHA-1", charger_class=SecureCharger) as charger:
            await charger.boot()
            answer = await charger.call(call.SignCertificate(csr=make_csr("ALPHA-1", world.org_a.name)), suppress=False)
            await asyncio.wait_for(charger.signed.wait(), 15)
            for _attempt in range(100):  # connected until the server has the charger's answer
                if await in_thread(certificate_answer_kept):
                    break
                await asyncio.sleep(0.1)
            return answer, charger.chain

    answer, chain = asyncio.run(scenario())

    assert answer.status == "Accepted"
    assert certificates.chain_verifies(chain, ca.certificate)
    issued = x509.load_pem_x509_certificates(chain.encode("ascii"))[0]
    assert issued.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "ALPHA-1"
    kept = ChargerCertificate.objects.get(charge_point=world.cp_a)
    command = ChargerCommand.objects.get(action="CertificateSigned")
    assert (command.outcome, command.status, kept.status) == (
        "answered",
        "Accepted",
        ChargerCertificate.Status.ACCEPTED,
    )
    assert kept.serial_number == certificates.serial_hex(issued)


def test_a_csr_for_another_charger_is_rejected_and_nothing_is_issued(ca_server, world):
    server, _ca = ca_server

    async def scenario():
        async with connected(server.url, "ALPHA-1", charger_class=SecureCharger) as charger:
            await charger.boot()
            answer = await charger.call(call.SignCertificate(csr=make_csr("BETA-1", world.org_a.name)), suppress=False)
            await asyncio.sleep(1)  # nothing follows
            return answer, charger.chain

    answer, chain = asyncio.run(scenario())

    assert (answer.status, chain) == ("Rejected", None)
    assert not ChargerCertificate.objects.exists()
    assert "not ALPHA-1" in server.log_tail()


@needs_redis
def test_the_operator_triggers_a_new_certificate_with_extended_trigger_message(ca_server, world):
    server, ca = ca_server

    class OperatorsCharger(SecureCharger):
        __test__ = False
        organization = world.org_a.name

    async def scenario():
        async with connected(server.url, "ALPHA-1", charger_class=OperatorsCharger) as charger:
            await charger.boot()
            action, payload = command_payloads.command_payload(
                command_payloads.extended_trigger_message(requested_message="SignChargePointCertificate")
            )
            trigger = await send_from_thread("ALPHA-1", action, payload)
            await asyncio.wait_for(charger.signed.wait(), 15)
            return trigger, charger.chain

    trigger, chain = asyncio.run(scenario())

    assert (trigger.outcome, trigger.status) == ("answered", "Accepted")
    assert certificates.chain_verifies(chain, ca.certificate)


@needs_redis
def test_root_certificates_are_installed_listed_and_deleted(asgi_server, world):
    root = make_ca("Operator Root")

    def built(request):
        return command_payloads.command_payload(request)

    install = built(
        command_payloads.install_certificate(certificate_type="CentralSystemRootCertificate", certificate=root.pem)
    )
    listing = built(command_payloads.get_installed_certificate_ids(certificate_type="CentralSystemRootCertificate"))

    async def scenario():
        async with connected(asgi_server, "ALPHA-1", charger_class=SecureCharger) as charger:
            await charger.boot()
            installed = await send_from_thread("ALPHA-1", *install)
            listed = await send_from_thread("ALPHA-1", *listing)
            data = listed.payload["certificate_hash_data"][0]
            deleted = await send_from_thread("ALPHA-1", *built(command_payloads.delete_certificate(**data)))
            again = await send_from_thread("ALPHA-1", *built(command_payloads.delete_certificate(**data)))
            empty = await send_from_thread("ALPHA-1", *listing)
            return installed, listed, deleted, again, empty

    installed, listed, deleted, again, empty = asyncio.run(scenario())

    assert installed.status == "Accepted"
    assert listed.status == "Accepted"
    assert listed.payload["certificate_hash_data"] == [certificates.certificate_hash_data(root.certificate)]
    assert (deleted.status, again.status, empty.status) == ("Accepted", "NotFound", "NotFound")
    history = list(ChargerCommand.objects.filter(charge_point=world.cp_a).order_by("sent_at", "pk"))
    assert [(row.action, row.status) for row in history] == [
        ("InstallCertificate", "Accepted"),
        ("GetInstalledCertificateIds", "Accepted"),
        ("DeleteCertificate", "Accepted"),
        ("DeleteCertificate", "NotFound"),
        ("GetInstalledCertificateIds", "NotFound"),
    ]


@needs_redis
def test_a_charger_refusing_a_root_certificate_is_reported(asgi_server, world):
    class RefusingCharger(SecureCharger):
        __test__ = False
        install_answer = "Rejected"

    install = command_payloads.command_payload(
        command_payloads.install_certificate(certificate_type="ManufacturerRootCertificate", certificate=make_ca().pem)
    )

    async def scenario():
        async with connected(asgi_server, "ALPHA-1", charger_class=RefusingCharger) as charger:
            await charger.boot()
            return await send_from_thread("ALPHA-1", *install), charger.roots

    result, roots = asyncio.run(scenario())

    assert (result.outcome, result.status, roots) == ("answered", "Rejected", [])
    assert ChargerCommand.objects.get(action="InstallCertificate").status == "Rejected"
