"""Chargers over TLS served by the project's own server (uvicorn, as `make serve` starts it with OCPP_TLS_CERT_FILE,
OCPP_TLS_KEY_FILE and OCPP_CA_CERT_FILE): security profile 2 (password over wss://) and 3 (client certificate of
the operator's CA, its CN the charge point id). A CA, the server's certificate and the chargers' are made here."""

import asyncio
import base64
import contextlib
import ssl
import uuid
from pathlib import Path

import pytest
import websockets
from django.conf import global_settings
from django.contrib.auth.hashers import make_password

from sessions_app.models import ChargePoint, SecurityEvent
from tests.e2e.ocpp_client import TestCharger
from tests.factories import make_charge_point
from tests.tls_certificates import Issued, make_ca, make_client_certificate, make_server_certificate

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "a-long-charger-secret-42"
CHALLENGE = 'Basic realm="OCPP"'
Profile = ChargePoint.SecurityProfile


@pytest.fixture
def pki(tmp_path):
    """The operator's CA, and the server's certificate for 127.0.0.1 and localhost, as files."""
    ca = make_ca()
    ca_path = tmp_path / "ca.pem"
    ca_path.write_text(ca.pem)
    server_cert, server_key = make_server_certificate(ca).write(tmp_path, "server")
    return {"ca": ca, "ca_file": ca_path, "cert": server_cert, "key": server_key, "dir": tmp_path}


@pytest.fixture
def tls_server(server_process, pki):
    """The server as `make serve` runs it with the TLS settings (Makefile, TLS_ARGS): uvicorn's own TLS, client
    certificates optional, the project's websocket protocol passing them on."""
    server = server_process(
        OCPP_TLS_CERT_FILE=str(pki["cert"]),
        OCPP_TLS_KEY_FILE=str(pki["key"]),
        OCPP_CA_CERT_FILE=str(pki["ca_file"]),
        # uvicorn's options from the environment: --ssl-certfile, --ssl-keyfile, --ssl-ca-certs, --ssl-cert-reqs (and
        # --ws, as every test server has it: conftest)
        UVICORN_SSL_CERTFILE=str(pki["cert"]),
        UVICORN_SSL_KEYFILE=str(pki["key"]),
        UVICORN_SSL_CA_CERTS=str(pki["ca_file"]),
        UVICORN_SSL_CERT_REQS=str(int(ssl.CERT_OPTIONAL)),
    )
    server.start()
    return server


def client_context(pki, certificate: Issued | None = None, name: str = "client") -> ssl.SSLContext:
    """A charger's TLS: it trusts the operator's CA for the server, and presents ``certificate`` if given."""
    context = ssl.create_default_context(cafile=str(pki["ca_file"]))
    if certificate is not None:
        context.load_cert_chain(*certificate.write(Path(pki["dir"]), name))
    return context


def new_charger(world, profile: int, *, password: str | None = None) -> ChargePoint:
    """A charger of its own per test (lockout counts of the server's cache outlive a test in Redis)."""
    charger = make_charge_point(world.site_a, f"TLS-{uuid.uuid4().hex[:8]}")
    charger.security_profile = profile
    charger.password_hash = make_password(password) if password else ""
    charger.save()
    return charger


def _headers(ocpp_id: str, password: str | None) -> dict[str, str]:
    if password is None:
        return {}
    return {"Authorization": "Basic " + base64.b64encode(f"{ocpp_id}:{password}".encode()).decode()}


async def boot(url: str, ocpp_id: str, *, password: str | None = None, context: ssl.SSLContext | None = None) -> str:
    """Connect as the ``ocpp`` package's charger and boot: the central system's answer status."""
    async with websockets.connect(
        f"{url}/ocpp/{ocpp_id}",
        subprotocols=["ocpp1.6"],
        additional_headers=_headers(ocpp_id, password),
        ssl=context,
    ) as ws:
        charger = TestCharger(ocpp_id, ws, response_timeout=10)
        loop = asyncio.create_task(charger.start())
        try:
            return (await charger.boot()).status
        finally:
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop


async def refusal(
    url: str, ocpp_id: str, *, password: str | None = None, context: ssl.SSLContext | None = None
) -> tuple[int, str | None]:
    """The HTTP status and challenge a handshake is refused with; (101, None) when it is accepted."""
    try:
        async with websockets.connect(
            f"{url}/ocpp/{ocpp_id}",
            subprotocols=["ocpp1.6"],
            additional_headers=_headers(ocpp_id, password),
            ssl=context,
        ):
            return 101, None
    except websockets.exceptions.InvalidStatus as refused:
        return refused.response.status_code, refused.response.headers.get("WWW-Authenticate")


def wss(server) -> str:
    return f"wss://127.0.0.1:{server.port}"


def test_profile_2_boots_with_its_password_over_wss_and_is_refused_over_plain_ws(
    world, settings, pki, tls_server, server_process
):
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS  # as the server process checks them
    charger = new_charger(world, Profile.BASIC_TLS, password=SECRET)
    plain = server_process()  # a second port without TLS, as an install serving both would have
    plain.start()

    assert asyncio.run(boot(wss(tls_server), charger.ocpp_id, password=SECRET, context=client_context(pki))) == (
        "Accepted"
    )
    assert asyncio.run(refusal(wss(tls_server), charger.ocpp_id, context=client_context(pki))) == (401, CHALLENGE)
    assert asyncio.run(refusal(plain.url, charger.ocpp_id, password=SECRET)) == (401, CHALLENGE)

    assert list(SecurityEvent.objects.filter(charge_point=charger).order_by("pk").values_list("kind", "detail")) == [
        (SecurityEvent.Kind.BAD_PASSWORD, "missing"),
        (SecurityEvent.Kind.TLS_REQUIRED, "profile 2, plain ws (a password was sent in the clear: change it)"),
    ]
    assert "Refused charger" in plain.log_tail()


def test_profile_3_boots_with_its_client_certificate_alone_and_wrong_or_missing_ones_are_refused(
    world, pki, tls_server
):
    charger = new_charger(world, Profile.CLIENT_CERTIFICATE)
    other = new_charger(world, Profile.CLIENT_CERTIFICATE)
    own = make_client_certificate(pki["ca"], charger.ocpp_id)

    # Its own certificate, no password: accepted, and it boots.
    assert asyncio.run(boot(wss(tls_server), charger.ocpp_id, context=client_context(pki, own))) == "Accepted"

    # A certificate of another CA: the TLS layer refuses it, before any HTTP (the application never hears of it).
    foreign = make_client_certificate(make_ca("Somebody Else's CA"), charger.ocpp_id)
    with pytest.raises((ssl.SSLError, OSError, EOFError, websockets.exceptions.InvalidHandshake)):
        asyncio.run(refusal(wss(tls_server), charger.ocpp_id, context=client_context(pki, foreign, "foreign")))

    # Our CA's certificate for another charge point: refused with 401, a security event.
    assert asyncio.run(
        refusal(
            wss(tls_server),
            charger.ocpp_id,
            context=client_context(pki, make_client_certificate(pki["ca"], other.ocpp_id), "other"),
        )
    ) == (401, CHALLENGE)
    # No certificate at all, a password instead: refused too.
    assert asyncio.run(refusal(wss(tls_server), charger.ocpp_id, password=SECRET, context=client_context(pki))) == (
        401,
        CHALLENGE,
    )

    assert list(SecurityEvent.objects.filter(charge_point=charger).order_by("pk").values_list("kind", "detail")) == [
        (SecurityEvent.Kind.CERTIFICATE_REFUSED, f"issued to CN {other.ocpp_id}, not {charger.ocpp_id}"),
        (SecurityEvent.Kind.CERTIFICATE_REFUSED, "missing"),
    ]
    charger.refresh_from_db()
    assert charger.last_boot_at is not None and charger.vendor == "Test"
