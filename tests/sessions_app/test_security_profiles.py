"""Charger security profiles on the handshake (OCPP 1.6 security whitepaper): 1 a password, 2 a password over
TLS, 3 a client certificate of the operator's CA for the charge point id; never less than the profile says."""

import asyncio
import ssl
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from unittest import mock
from urllib.parse import quote

import pytest
from asgiref.testing import ApplicationCommunicator
from channels.routing import URLRouter
from django.contrib.auth.hashers import make_password
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from chargeportal import uvicorn_tls
from sessions_app import charger_auth
from sessions_app.charger_auth import Transport, tls_files_check, tls_profiles_check
from sessions_app.models import ChargePoint, SecurityEvent
from sessions_app.ocpp.routing import websocket_urlpatterns
from sessions_app.ocpp.tls import handshake_transport
from sessions_app.services import charge_point_connect
from tests.tls_certificates import make_ca, make_client_certificate, make_server_certificate

SECRET = "a-long-charger-secret-42"
Profile = ChargePoint.SecurityProfile


@pytest.fixture(scope="module")
def ca():
    return make_ca()


@pytest.fixture
def ca_file(ca, tmp_path, settings):
    path = tmp_path / "ca.pem"
    path.write_text(ca.pem)
    settings.OCPP_CA_CERT_FILE = str(path)
    return path


@pytest.fixture(autouse=True)
def _fast_hashes(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def charger(world, profile: int, *, password: str | None = SECRET) -> ChargePoint:
    cp = world.cp_a
    cp.security_profile = profile
    cp.password_hash = make_password(password) if password else ""
    cp.save()
    return cp


def handshake(
    ocpp_id: str = "ALPHA-1", *, password: str | None = None, transport: Transport = charger_auth.PLAIN, at=None
):
    return charge_point_connect(
        ocpp_id=ocpp_id,
        organization_slug=None,
        password=password,
        remote_address="198.51.100.7",
        channel_name=f"test.{uuid.uuid4().hex}",
        at=at or timezone.now(),
        transport=transport,
    )


def events() -> list[tuple[str, str]]:
    return list(SecurityEvent.objects.order_by("pk").values_list("kind", "detail"))


# --- profiles 0 to 2 ---------------------------------------------------------------------------------------


def test_profile_0_without_a_password_connects_as_before_and_with_one_checks_it(world):
    charger(world, Profile.UNSECURED, password=None)
    assert handshake().accepted
    charger(world, Profile.UNSECURED)
    assert not handshake(password="wrong-password-123").accepted
    assert handshake(password=SECRET).accepted


def test_profile_1_needs_the_password_and_a_charger_without_one_set_cannot_connect(world):
    charger(world, Profile.BASIC)
    refused = handshake()
    assert not refused.accepted and refused.unauthorized
    assert handshake(password=SECRET).accepted

    charger(world, Profile.BASIC, password=None)
    assert not handshake().accepted
    assert events()[-1] == (SecurityEvent.Kind.BAD_PASSWORD, "profile 1, no password set for the charger")


def test_profile_2_refuses_plain_ws_even_with_the_right_password_and_never_checks_it(world):
    charger(world, Profile.BASIC_TLS)
    with mock.patch.object(ChargePoint, "check_password") as check:
        refused = handshake(password=SECRET)
    check.assert_not_called()
    assert not refused.accepted and refused.unauthorized
    assert events() == [
        (SecurityEvent.Kind.TLS_REQUIRED, "profile 2, plain ws (a password was sent in the clear: change it)")
    ]


def test_profile_2_over_tls_needs_the_password_and_no_certificate(world):
    charger(world, Profile.BASIC_TLS)
    tls = Transport(tls=True)
    assert not handshake(transport=tls).accepted
    assert not handshake(password="wrong-password-123", transport=tls).accepted
    assert handshake(password=SECRET, transport=tls).accepted
    assert [kind for kind, _detail in events()][:2] == [SecurityEvent.Kind.BAD_PASSWORD] * 2


# --- profile 3 ---------------------------------------------------------------------------------------------


def test_profile_3_connects_with_its_certificate_and_no_password(world, ca, ca_file):
    charger(world, Profile.CLIENT_CERTIFICATE)
    certificate = make_client_certificate(ca, "ALPHA-1")
    with mock.patch.object(ChargePoint, "check_password") as check:
        assert handshake(transport=Transport(tls=True, client_certificate=certificate.pem)).accepted
    check.assert_not_called()


@pytest.mark.parametrize(
    ("presented", "detail"),
    [
        (lambda ca, other: None, "missing"),
        (lambda ca, other: make_client_certificate(ca, "BETA-1").pem, "issued to CN BETA-1, not ALPHA-1"),
        (lambda ca, other: "-----BEGIN CERTIFICATE-----\nnonsense\n-----END CERTIFICATE-----\n", "unreadable"),
        (
            lambda ca, other: make_client_certificate(other, "ALPHA-1").pem,
            "not issued by the operator's CA (issuer CN=Another CA,O=Test Operator)",
        ),
    ],
    ids=["missing", "another-charger", "unreadable", "another-ca"],
)
def test_profile_3_refuses_a_missing_or_wrong_certificate_before_anything_else(world, ca, ca_file, presented, detail):
    charger(world, Profile.CLIENT_CERTIFICATE)
    pem = presented(ca, make_ca("Another CA"))
    refused = handshake(password=SECRET, transport=Transport(tls=True, client_certificate=pem))
    assert not refused.accepted and refused.unauthorized
    assert events() == [(SecurityEvent.Kind.CERTIFICATE_REFUSED, detail)]
    event = SecurityEvent.objects.get()
    assert (event.charge_point, event.organization) == (world.cp_a, world.org_a)


def test_profile_3_refuses_a_certificate_outside_its_validity(world, ca, ca_file):
    charger(world, Profile.CLIENT_CERTIFICATE)
    now = datetime.now(UTC)
    expired = make_client_certificate(
        ca, "ALPHA-1", valid_from=now - timedelta(days=10), valid_to=now - timedelta(days=1)
    )
    future = make_client_certificate(
        ca, "ALPHA-1", valid_from=now + timedelta(days=1), valid_to=now + timedelta(days=9)
    )
    for certificate in (expired, future):
        assert not handshake(transport=Transport(tls=True, client_certificate=certificate.pem)).accepted
    details = [detail for _kind, detail in events()]
    assert details[0].startswith("expired ") and details[1].startswith("not valid before ")


def test_profile_3_over_plain_ws_is_refused_whatever_it_sends(world, ca, ca_file):
    charger(world, Profile.CLIENT_CERTIFICATE)
    certificate = make_client_certificate(ca, "ALPHA-1")
    assert not handshake(password=SECRET, transport=Transport(tls=False, client_certificate=certificate.pem)).accepted
    assert events() == [(SecurityEvent.Kind.TLS_REQUIRED, "profile 3, plain ws")]


def test_without_the_ca_setting_the_tls_layers_verification_is_trusted_for_the_issuer(world, settings):
    settings.OCPP_CA_CERT_FILE = ""
    charger(world, Profile.CLIENT_CERTIFICATE)
    certificate = make_client_certificate(make_ca("Whatever uvicorn trusts"), "ALPHA-1")
    assert handshake(transport=Transport(tls=True, client_certificate=certificate.pem)).accepted


def test_an_unreadable_ca_file_trusts_no_certificate(world, ca, settings, tmp_path):
    settings.OCPP_CA_CERT_FILE = str(tmp_path / "missing.pem")
    charger(world, Profile.CLIENT_CERTIFICATE)
    certificate = make_client_certificate(ca, "ALPHA-1")
    assert not handshake(transport=Transport(tls=True, client_certificate=certificate.pem)).accepted


def test_a_profile_3_charger_is_authenticated_so_its_new_connection_replaces_a_live_one(world, ca, ca_file):
    charger(world, Profile.CLIENT_CERTIFICATE)
    tls = Transport(tls=True, client_certificate=make_client_certificate(ca, "ALPHA-1").pem)
    first = handshake(transport=tls)
    second = handshake(transport=tls)
    assert second.accepted and second.replaced_channel == first.charge_point.channel_name
    assert events()[-1][0] == SecurityEvent.Kind.CONNECTION_REPLACED


def test_certificate_refusals_do_not_lock_the_charger_out(world, ca, ca_file, settings):
    settings.OCPP_AUTH_FAILURES_PER_ID = 2
    charger(world, Profile.CLIENT_CERTIFICATE)
    for _ in range(3):
        assert not handshake(transport=Transport(tls=True)).accepted
    good = Transport(tls=True, client_certificate=make_client_certificate(ca, "ALPHA-1").pem)
    assert handshake(transport=good).accepted


# --- the websocket edge --------------------------------------------------------------------------------------


def test_the_transport_is_read_from_the_scheme_and_the_asgi_tls_extension():
    assert handshake_transport({"scheme": "ws"}) == Transport(tls=False)
    assert handshake_transport({"scheme": "wss", "extensions": {"tls": {"client_cert_chain": []}}}) == Transport(True)
    scope = {"scheme": "wss", "extensions": {"tls": {"client_cert_chain": ["LEAF", "INTERMEDIATE"]}}}
    assert handshake_transport(scope) == Transport(tls=True, client_certificate="LEAF")


def _socket(ocpp_id: str, *, scheme: str, certificate: str | None = None) -> ApplicationCommunicator:
    extensions: dict = {"websocket.http.response": {}}
    if certificate:
        extensions["tls"] = {"client_cert_chain": [certificate], "server_cert": None}
    scope = {
        "type": "websocket",
        "scheme": scheme,
        "path": f"/ocpp/{ocpp_id}",
        "subprotocols": ["ocpp1.6"],
        "headers": [],
        "client": ("127.0.0.1", 50000),
        "extensions": extensions,
    }
    return ApplicationCommunicator(URLRouter(websocket_urlpatterns), scope)


async def _first_answer(socket: ApplicationCommunicator) -> dict:
    await socket.send_input({"type": "websocket.connect"})
    answer = await socket.receive_output(10)
    if answer["type"] == "websocket.accept":
        await socket.send_input({"type": "websocket.disconnect", "code": 1000})
    await socket.wait(10)
    return answer


@pytest.mark.django_db(transaction=True)
def test_the_consumer_accepts_a_certificate_from_the_tls_extension_and_refuses_none_with_401(world, ca, ca_file):
    charger(world, Profile.CLIENT_CERTIFICATE, password=None)
    certificate = make_client_certificate(ca, "ALPHA-1").pem

    accepted = asyncio.run(_first_answer(_socket("ALPHA-1", scheme="wss", certificate=certificate)))
    refused = asyncio.run(_first_answer(_socket("ALPHA-1", scheme="wss")))

    assert accepted["type"] == "websocket.accept"
    assert (refused["type"], refused["status"]) == ("websocket.http.response.start", 401)
    assert events()[-1] == (SecurityEvent.Kind.CERTIFICATE_REFUSED, "missing")


# --- uvicorn's side: the TLS extension ---------------------------------------------------------------------


def _tls_pair(ca, tmp_path, client_certificate=None) -> tuple[ssl.SSLObject, str]:
    """A server and a client SSLObject shaking hands in memory, as uvicorn's transport holds one."""
    server_cert, server_key = make_server_certificate(ca).write(tmp_path, "server")
    ca_path = tmp_path / "ca.pem"
    ca_path.write_text(ca.pem)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(server_cert, server_key)
    server_context.load_verify_locations(ca_path)
    server_context.verify_mode = ssl.CERT_OPTIONAL
    client_context = ssl.create_default_context(cafile=str(ca_path))
    if client_certificate is not None:
        client_context.load_cert_chain(*client_certificate.write(tmp_path, "client"))
    pipes = [ssl.MemoryBIO() for _ in range(4)]
    server = server_context.wrap_bio(pipes[0], pipes[1], server_side=True)
    client = client_context.wrap_bio(pipes[2], pipes[3], server_hostname="localhost")
    for _ in range(10):
        for side, outgoing, incoming in ((client, pipes[3], pipes[0]), (server, pipes[1], pipes[2])):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                pass
            incoming.write(outgoing.read())
    server.do_handshake()
    return server, str(server_cert)


def test_the_protocol_puts_the_verified_client_certificate_into_the_scope(ca, tmp_path):
    client = make_client_certificate(ca, "ALPHA-1")
    ssl_object, server_cert = _tls_pair(ca, tmp_path, client)

    extension = uvicorn_tls.tls_extension(ssl_object, server_cert)

    assert extension["client_cert_chain"] == [client.pem]
    assert extension["client_cert_name"] == "CN=ALPHA-1,O=Test Operator"
    assert extension["server_cert"].startswith("-----BEGIN CERTIFICATE-----")
    assert extension["tls_version"] in (0x0303, 0x0304)
    without, _path = _tls_pair(ca, tmp_path)
    assert uvicorn_tls.tls_extension(without, None)["client_cert_chain"] == []


def _protocol(peer: str, headers: list, *, ssl_object=None) -> SimpleNamespace:
    protocol = SimpleNamespace(
        config=SimpleNamespace(forwarded_allow_ips="*", ssl_certfile=None),  # uvicorn's own list does not count
        scope={"headers": headers, "extensions": {"websocket.http.response": {}}},
        transport=SimpleNamespace(get_extra_info=lambda name: ssl_object if name == "ssl_object" else None),
        client=(peer, 40000),
    )
    uvicorn_tls.TLSScopeMixin._add_tls_extension(protocol)  # type: ignore[arg-type]
    return protocol


def test_a_forwarded_client_certificate_counts_only_from_a_trusted_proxy_with_the_header_set(ca, settings):
    pem = make_client_certificate(ca, "ALPHA-1").pem
    headers = [(b"x-client-cert", quote(pem).encode())]
    settings.OCPP_TLS_PROXY_CERT_HEADER = "X-Client-Cert"
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]

    forwarded = _protocol("10.0.0.2", headers).scope["extensions"]["tls"]
    assert forwarded["client_cert_chain"] == [pem.strip()]
    assert forwarded["client_cert_name"] == "CN=ALPHA-1,O=Test Operator"
    assert "tls" not in _protocol("203.0.113.9", headers).scope["extensions"]
    assert "tls" not in _protocol("10.0.0.2", [(b"x-client-cert", b"not a certificate")]).scope["extensions"]
    settings.OCPP_TLS_PROXY_CERT_HEADER = ""
    assert "tls" not in _protocol("10.0.0.2", headers).scope["extensions"]


# --- the admin and the system checks -------------------------------------------------------------------------


#: The change form's inline formsets (connectors, ...), posted empty.
INLINES: list[str] = []


def _post(cp: ChargePoint, **overrides) -> dict:
    data = {
        "site": cp.site_id,
        "ocpp_id": cp.ocpp_id,
        "name": cp.name,
        "registration_status": cp.registration_status,
        "security_profile": cp.security_profile,
    }
    for prefix in INLINES:
        data |= {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}
    return data | overrides


def test_the_operator_sets_the_profile_and_profiles_1_and_2_need_a_password(client, world):
    change = reverse("admin:sessions_app_chargepoint_change", args=[world.cp_a.pk])
    client.force_login(world.carol)
    response = client.get(change)
    INLINES[:] = [inline.formset.prefix for inline in response.context["inline_admin_formsets"]]
    page = response.content.decode()
    assert 'name="security_profile"' in page and "OCPP_CA_CERT_FILE" in page

    refused = client.post(change, _post(world.cp_a, security_profile=Profile.BASIC_TLS))
    assert refused.status_code == 200 and "need a password" in refused.content.decode()
    assert client.post(change, _post(world.cp_a, security_profile=2, new_password=SECRET)).status_code == 302
    assert client.post(change, _post(world.cp_a, security_profile=3, clear_password="on")).status_code == 302
    world.cp_a.refresh_from_db()
    assert (world.cp_a.security_profile, world.cp_a.password_hash) == (Profile.CLIENT_CERTIFICATE, "")


def test_another_operator_cannot_change_the_profile(client, world):
    client.force_login(world.carol)  # operator A
    change = reverse("admin:sessions_app_chargepoint_change", args=[world.cp_b.pk])
    response = client.post(change, _post(world.cp_b, security_profile=Profile.UNSECURED))
    assert response.status_code in (302, 403, 404)
    world.cp_b.refresh_from_db()
    assert world.cp_b.security_profile == Profile.UNSECURED and client.get(change).status_code != 200


def _ids(messages) -> list[str]:
    return [message.id for message in messages]


def test_system_checks_warn_about_profile_2_and_3_chargers_the_settings_cannot_serve(world, settings, ca, tmp_path):
    settings.OCPP_TLS_CERT_FILE = settings.OCPP_CA_CERT_FILE = settings.OCPP_TLS_PROXY_CERT_HEADER = ""
    settings.TRUSTED_PROXIES = []
    assert tls_profiles_check(databases=["default"]) == []
    charger(world, Profile.BASIC_TLS)
    assert _ids(tls_profiles_check(databases=["default"])) == ["ocpp_tls.W001"]
    charger(world, Profile.CLIENT_CERTIFICATE)
    assert _ids(tls_profiles_check(databases=["default"])) == ["ocpp_tls.W001", "ocpp_tls.W002"]

    server_cert, server_key = make_server_certificate(ca).write(tmp_path, "server")
    settings.OCPP_TLS_CERT_FILE, settings.OCPP_TLS_KEY_FILE = str(server_cert), str(server_key)
    assert _ids(tls_profiles_check(databases=["default"])) == ["ocpp_tls.W002"]
    settings.OCPP_CA_CERT_FILE = str(server_cert)
    assert tls_profiles_check(databases=["default"]) == []
    assert tls_files_check() == []
    assert tls_profiles_check() == []  # not a database run: nothing read

    settings.OCPP_CA_CERT_FILE = str(server_key)  # a key, not a certificate
    settings.OCPP_TLS_KEY_FILE = str(tmp_path / "gone.key")
    assert [message.msg for message in tls_files_check()] == [
        f"OCPP_TLS_KEY_FILE {tmp_path / 'gone.key'} cannot be read (No such file or directory).",
        f"OCPP_CA_CERT_FILE {server_key} holds no PEM certificate.",
    ]


def test_the_checks_run_with_check_database(world, settings, capsys):
    settings.OCPP_TLS_CERT_FILE = settings.OCPP_CA_CERT_FILE = ""
    settings.TRUSTED_PROXIES = []
    charger(world, Profile.BASIC_TLS)
    call_command("check", "--database", "default")
    assert "ocpp_tls.W001" in capsys.readouterr().err
