"""A charger's side of TLS against the project's server (security profiles 2 and 3): its TLS context, the wss://
address, a handshake's refusal, a charger of its own per test. The server and its certificates are the ``pki`` and
``tls_server`` fixtures (conftest)."""

import ssl
import uuid
from pathlib import Path

import websockets
from django.contrib.auth.hashers import make_password

from sessions_app.models import ChargePoint, ChargerCertificate
from tests.e2e.ocpp_client import basic_auth_headers
from tests.factories import make_charge_point
from tests.tls_certificates import Issued

#: The challenge a handshake refused for the charger's credentials carries.
CHALLENGE = 'Basic realm="OCPP"'


def client_context(pki, certificate: Issued | None = None, name: str = "client") -> ssl.SSLContext:
    """A charger's TLS: it trusts the operator's CA for the server, and presents ``certificate`` if given."""
    context = ssl.create_default_context(cafile=str(pki["ca_file"]))
    if certificate is not None:
        context.load_cert_chain(*certificate.write(Path(pki["dir"]), name))
    return context


def wss(server) -> str:
    return f"wss://127.0.0.1:{server.port}"


def new_charger(world, profile: int, *, password: str | None = None) -> ChargePoint:
    """A charger of its own per test (lockout counts of the server's cache outlive a test in Redis)."""
    charger = make_charge_point(world.site_a, f"TLS-{uuid.uuid4().hex[:8]}")
    charger.security_profile = profile
    charger.password_hash = make_password(password) if password else ""
    charger.save()
    return charger


async def refusal(
    url: str,
    ocpp_id: str,
    *,
    password: str | None = None,
    context: ssl.SSLContext | None = None,
    subprotocols: tuple[str, ...] = ("ocpp1.6",),
) -> tuple[int, str | None]:
    """The HTTP status and challenge a handshake is refused with; (101, None) when it is accepted."""
    try:
        async with websockets.connect(
            f"{url}/ocpp/{ocpp_id}",
            subprotocols=list(subprotocols),
            additional_headers=basic_auth_headers(ocpp_id, password),
            ssl=context,
        ):
            return 101, None
    except websockets.exceptions.InvalidStatus as refused:
        return refused.response.status_code, refused.response.headers.get("WWW-Authenticate")


def certificate_answer_kept() -> bool:
    """Whether the server has kept a charger's answer to a CertificateSigned."""
    return ChargerCertificate.objects.exclude(status=ChargerCertificate.Status.ISSUED).exists()
