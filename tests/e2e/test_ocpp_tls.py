"""Chargers over TLS served by the project's own server (uvicorn, as `make serve` starts it with OCPP_TLS_CERT_FILE,
OCPP_TLS_KEY_FILE and OCPP_CA_CERT_FILE): security profile 2 (password over wss://) and 3 (client certificate of
the operator's CA, its CN the charge point id). A CA, the server's certificate and the chargers' are made here."""

import asyncio
import ssl

import pytest
import websockets
from django.conf import global_settings

from sessions_app.models import ChargePoint, SecurityEvent
from tests.e2e.ocpp_client import connected
from tests.e2e.tls_client import CHALLENGE, client_context, new_charger, refusal, wss
from tests.tls_certificates import make_ca, make_client_certificate

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "a-long-charger-secret-42"
Profile = ChargePoint.SecurityProfile


async def boot(url: str, ocpp_id: str, *, password: str | None = None, context: ssl.SSLContext | None = None) -> str:
    """Connect as the ``ocpp`` package's charger and boot: the central system's answer status."""
    async with connected(url, ocpp_id, password, ssl=context) as charger:
        return (await charger.boot()).status


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
