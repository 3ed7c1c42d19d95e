"""OCPP 2.0.1 chargers (the ``ocpp`` package's v201 client) under security profiles 1 to 3 on the project's server
(uvicorn with TLS as `make serve` starts it: the ``tls_server`` fixture), and a 2.0.1 SignCertificate answered with
CertificateSigned whose certificate then connects the charger under profile 3. tests/e2e/test_ocpp_tls.py has the
same for 1.6, with the refusals' security events. A 2.0.1 charger's password is rotated with SetVariables
(SecurityCtrlr.BasicAuthPassword, the command translation of 1.6's ChangeConfiguration AuthorizationKey)."""

import asyncio

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import global_settings
from django.conf import settings as django_settings
from ocpp.routing import on
from ocpp.v201 import call, call_result
from ocpp.v201.enums import Action

from sessions_app.models import ChargePoint, ChargerCertificate, ChargerCommand
from sessions_app.ocpp import certificates
from tests.e2e.ocpp_client import connected
from tests.e2e.test_ocpp_commands import needs_redis
from tests.e2e.test_ocpp_security_extension import rotate_from_thread
from tests.e2e.test_ocpp_v201 import Charger201
from tests.e2e.tls_client import CHALLENGE, certificate_answer_kept, client_context, new_charger, refusal, wss
from tests.threads import in_thread
from tests.tls_certificates import Issued, make_client_certificate, make_csr

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "a-long-charger-secret-201"
V201 = ("ocpp2.0.1",)
Profile = ChargePoint.SecurityProfile


class SigningCharger201(Charger201):
    """A 2.0.1 charger that installs the certificate CertificateSigned brings."""

    __test__ = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.signed: asyncio.Future[tuple[str, str | None]] = asyncio.get_running_loop().create_future()

    @on(Action.certificate_signed)
    async def on_certificate_signed(self, certificate_chain: str, certificate_type: str | None = None, **_custom):
        self.signed.set_result((certificate_chain, certificate_type))
        return call_result.CertificateSigned(status="Accepted")


class RotatingCharger201(Charger201):
    """A 2.0.1 charger that takes a new password with SetVariables SecurityCtrlr.BasicAuthPassword."""

    __test__ = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.new_password: str | None = None

    @on(Action.set_variables)
    async def on_set_variables(self, set_variable_data: list[dict], **_custom):
        results = []
        for item in set_variable_data:
            ours = (item["component"]["name"], item["variable"]["name"]) == ("SecurityCtrlr", "BasicAuthPassword")
            if ours:
                self.new_password = item["attribute_value"]
            results.append(
                {
                    "attribute_status": "Accepted" if ours else "UnknownVariable",
                    "component": item["component"],
                    "variable": item["variable"],
                }
            )
        return call_result.SetVariables(set_variable_result=results)


@pytest.fixture(autouse=True)
def _hashers(settings):
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS  # as the server process checks them


async def boot_201(url: str, ocpp_id: str, **options) -> tuple[str | None, str]:
    """Connect as a 2.0.1 charger and boot: the subprotocol agreed and the boot's status."""
    async with connected(url, ocpp_id, subprotocols=V201, charger_class=Charger201, **options) as charger:  # type: ignore[arg-type]
        return charger._connection.subprotocol, (await charger.boot()).status


def test_profile_1_a_2_0_1_charger_boots_with_its_password_and_a_wrong_one_is_refused(world, asgi_server):
    charger = new_charger(world, Profile.BASIC, password=SECRET)

    assert asyncio.run(boot_201(asgi_server, charger.ocpp_id, password=SECRET)) == ("ocpp2.0.1", "Accepted")
    assert asyncio.run(refusal(asgi_server, charger.ocpp_id, password="not-" + SECRET, subprotocols=V201)) == (
        401,
        CHALLENGE,
    )
    charger.refresh_from_db()
    assert charger.ocpp_protocol == ChargePoint.OcppProtocol.OCPP201


def test_profile_2_a_2_0_1_charger_boots_over_wss_with_its_password_and_none_is_refused(world, pki, tls_server):
    charger = new_charger(world, Profile.BASIC_TLS, password=SECRET)
    context = client_context(pki)

    assert asyncio.run(boot_201(wss(tls_server), charger.ocpp_id, password=SECRET, ssl=context)) == (
        "ocpp2.0.1",
        "Accepted",
    )
    assert asyncio.run(refusal(wss(tls_server), charger.ocpp_id, context=context, subprotocols=V201)) == (
        401,
        CHALLENGE,
    )


def test_profile_3_a_2_0_1_charger_gets_a_certificate_with_sign_certificate_and_connects_with_it(
    world, pki, tls_server
):
    charger = new_charger(world, Profile.CLIENT_CERTIFICATE)
    url = wss(tls_server)
    given = make_client_certificate(pki["ca"], charger.ocpp_id)
    of_another = make_client_certificate(pki["ca"], new_charger(world, Profile.CLIENT_CERTIFICATE).ocpp_id)
    key = ec.generate_private_key(ec.SECP256R1())

    async def scenario():
        refused = await refusal(
            url, charger.ocpp_id, context=client_context(pki, of_another, "other"), subprotocols=V201
        )
        options = {"subprotocols": V201, "charger_class": SigningCharger201, "ssl": client_context(pki, given)}
        async with connected(url, charger.ocpp_id, **options) as station:  # type: ignore[arg-type]
            booted = (await station.boot()).status
            csr = make_csr(charger.ocpp_id, world.org_a.name, key)
            request = call.SignCertificate(csr=csr, certificate_type="ChargingStationCertificate")
            answer = (await station.call(request, suppress=False)).status
            chain, certificate_type = await asyncio.wait_for(station.signed, 15)
            for _attempt in range(100):  # connected until the server has kept the charger's answer
                if await in_thread(certificate_answer_kept):
                    break
                await asyncio.sleep(0.1)
        issued = Issued(x509.load_pem_x509_certificates(chain.encode("ascii"))[0], key)
        again = await boot_201(url, charger.ocpp_id, ssl=client_context(pki, issued, "issued"))
        return refused, booted, answer, chain, certificate_type, again

    refused, booted, answer, chain, certificate_type, again = asyncio.run(scenario())

    assert refused == (401, CHALLENGE)  # our CA's certificate, but for another charge point
    assert (booted, answer, certificate_type) == ("Accepted", "Accepted", "ChargingStationCertificate")
    assert certificates.chain_verifies(chain, pki["ca"].certificate)
    assert again == ("ocpp2.0.1", "Accepted")  # the certificate it was sent is its profile-3 credential
    kept = ChargerCertificate.objects.get(charge_point=charger)
    assert kept.status == ChargerCertificate.Status.ACCEPTED


@needs_redis
def test_a_2_0_1_chargers_password_is_rotated_with_set_variables_and_the_old_one_is_refused(world, asgi_server):
    charger = new_charger(world, Profile.BASIC, password=SECRET)
    options = {"subprotocols": V201, "charger_class": RotatingCharger201}

    async def scenario():
        async with connected(asgi_server, charger.ocpp_id, SECRET, **options) as station:  # type: ignore[arg-type]
            await station.boot()
            rotation = await rotate_from_thread(charger.ocpp_id)
        with_new = await refusal(asgi_server, charger.ocpp_id, password=station.new_password, subprotocols=V201)
        with_old = await refusal(asgi_server, charger.ocpp_id, password=SECRET, subprotocols=V201)
        return rotation, station.new_password, with_new, with_old

    rotation, new_password, with_new, with_old = asyncio.run(scenario())

    assert rotation.stored and rotation.password == new_password  # BasicAuthPassword is the password itself
    assert (with_new, with_old) == ((101, None), (401, CHALLENGE))
    command = ChargerCommand.objects.get(charge_point=charger, action="SetVariables")
    assert command.request["set_variable_data"][0]["attribute_value"] == "***"  # the history keeps no password
    assert command.answer["set_variable_result"][0]["attribute_status"] == "Accepted"
    server_log = (django_settings.BASE_DIR / "var" / "e2e-server.log").read_text(errors="replace")
    assert new_password not in server_log
