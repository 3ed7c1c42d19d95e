"""What a charger must present on its websocket handshake: the OCPP 1.6 security profiles (DOMAIN.md, "OCPP
security").

- 0: nothing; a password is checked if the operator set one (chargers from before profiles existed).
- 1: HTTP Basic, user name the charge point id, the password whose hash the charger has.
- 2: the same, over TLS.
- 3: TLS with a client certificate issued by the operator's CA (``OCPP_CA_CERT_FILE``) whose subject CN is
  the charge point id, valid now; no password.

The profile is the operator's setting on the charge point; whatever the charger sends never lowers it (a
profile-3 charger offering a password over plain ws is refused like any other without its certificate).
The TLS layer (uvicorn with ``--ssl-ca-certs``, or a trusted proxy) has verified a certificate it passes on;
its issuer, validity and CN are checked here again, so a server started with the wrong CA bundle does not
let a certificate for another name in.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID
from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.db import DatabaseError

from sessions_app.models import ChargePoint, SecurityEvent
from sessions_app.ocpp.certificates import CertificateError, ca_certificates

logger = logging.getLogger(__name__)
Profile = ChargePoint.SecurityProfile


@dataclass(frozen=True)
class Transport:
    """How the handshake arrived: over TLS or not, with the client certificate the TLS layer verified (PEM)."""

    tls: bool = False
    client_certificate: str | None = None


PLAIN = Transport()


@dataclass(frozen=True)
class Refusal:
    """Why a handshake is refused: the security event's kind and detail; ``failed_attempt`` counts it towards
    the charger id's and the address's lockout (a guessed password; not a missing certificate)."""

    kind: str
    detail: str
    failed_attempt: bool = False


def authenticated(charge_point: ChargePoint) -> bool:
    """Whether an accepted handshake of this charger proved who it is (a password or a certificate): such a
    connection may replace a live one; an unauthenticated newcomer may not (DOMAIN.md: hijack)."""
    return bool(charge_point.password_hash) or charge_point.security_profile == Profile.CLIENT_CERTIFICATE


def handshake_refusal(
    *, charge_point: ChargePoint, password: str | None, transport: Transport, at: datetime
) -> Refusal | None:
    """Why this handshake may not become ``charge_point``'s connection under its security profile; None: it may."""
    profile = charge_point.security_profile
    if profile >= Profile.BASIC_TLS and not transport.tls:
        sent = " (a password was sent in the clear: change it)" if password and profile == Profile.BASIC_TLS else ""
        return Refusal(SecurityEvent.Kind.TLS_REQUIRED, f"profile {profile}, plain ws{sent}")
    if profile == Profile.CLIENT_CERTIFICATE:
        problem = certificate_problem(transport.client_certificate, ocpp_id=charge_point.ocpp_id, at=at)
        return Refusal(SecurityEvent.Kind.CERTIFICATE_REFUSED, problem) if problem else None
    if profile >= Profile.BASIC and not charge_point.password_hash:
        return Refusal(SecurityEvent.Kind.BAD_PASSWORD, f"profile {profile}, no password set for the charger")
    if charge_point.password_hash and not (password and charge_point.check_password(password)):
        return Refusal(SecurityEvent.Kind.BAD_PASSWORD, "missing" if password is None else "wrong", True)
    return None


def certificate_problem(pem: str | None, *, ocpp_id: str, at: datetime) -> str:
    """What is wrong with a charger's client certificate (a security event's detail); "" when nothing."""
    if not pem:
        return "missing"
    try:
        certificate = x509.load_pem_x509_certificate(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return "unreadable"
    names = [str(attribute.value) for attribute in certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if names != [ocpp_id]:
        return f"issued to CN {', '.join(names)[:100] or '(none)'}, not {ocpp_id}"
    if at < certificate.not_valid_before_utc:
        return f"not valid before {certificate.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
    if at > certificate.not_valid_after_utc:
        return f"expired {certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
    authorities = operator_ca_certificates()
    if authorities is not None and not any(_issued_by(certificate, authority) for authority in authorities):
        return f"not issued by the operator's CA (issuer {certificate.issuer.rfc4514_string()[:100]})"
    return ""


def _issued_by(certificate: x509.Certificate, authority: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(authority)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def operator_ca_certificates() -> list[x509.Certificate] | None:
    """The certificates in ``OCPP_CA_CERT_FILE`` (a CA, or a CA and its intermediates); None when it is not
    set (then the TLS layer's verification is all). An unreadable file trusts nothing (a system check says so)."""
    if not settings.OCPP_CA_CERT_FILE:
        return None
    try:
        return ca_certificates()
    except CertificateError as error:
        logger.error("%s: no client certificate is accepted", error)
        return []


# --- system checks -----------------------------------------------------------------------------------------


def tls_files_check(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """ocpp_tls.E001: the TLS and CA files the settings name can be read, the certificates as PEM."""
    errors: list[checks.CheckMessage] = []
    for name, certificates in (("OCPP_TLS_CERT_FILE", True), ("OCPP_TLS_KEY_FILE", False), ("OCPP_CA_CERT_FILE", True)):
        path = getattr(settings, name)
        if not path:
            continue
        try:
            with open(path, "rb") as handle:
                content = handle.read()
            if certificates:
                x509.load_pem_x509_certificates(content)
        except OSError as exc:
            problem = f"cannot be read ({exc.strerror})"
        except ValueError:
            problem = "holds no PEM certificate"
        else:
            continue
        errors.append(
            checks.Error(
                f"{name} {path} {problem}.",
                hint="Give the path of a PEM file the server process may read (README, TLS for chargers).",
                id="ocpp_tls.E001",
            )
        )
    return errors


def tls_profiles_check(
    app_configs: Sequence[AppConfig] | None = None, databases: Sequence[str] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """ocpp_tls.W001/W002: chargers whose security profile needs TLS, or a client certificate, while the
    settings offer neither (they cannot connect). A database check: it runs with ``migrate`` (``make serve``)
    and ``check --database``."""
    warnings: list[checks.CheckMessage] = []
    served_tls = bool(settings.OCPP_TLS_CERT_FILE)
    proxied = bool(settings.TRUSTED_PROXIES)
    for alias in databases or ():
        try:
            profiles = set(
                ChargePoint.objects.using(alias)
                .filter(security_profile__gte=Profile.BASIC_TLS)
                .values_list("security_profile", flat=True)
                .distinct()
            )
        except DatabaseError:  # not migrated yet
            continue
        if profiles and not served_tls and not proxied:
            warnings.append(
                checks.Warning(
                    "Chargers with security profile 2 or 3 exist, but the server has no TLS certificate "
                    "(OCPP_TLS_CERT_FILE, OCPP_TLS_KEY_FILE) and no TLS-ending proxy (TRUSTED_PROXIES).",
                    hint="They are refused until they connect over TLS: set the certificate and key (README, "
                    "TLS for chargers).",
                    id="ocpp_tls.W001",
                )
            )
        certificate_source = (served_tls and settings.OCPP_CA_CERT_FILE) or (
            proxied and settings.OCPP_TLS_PROXY_CERT_HEADER
        )
        if Profile.CLIENT_CERTIFICATE in profiles and not certificate_source:
            warnings.append(
                checks.Warning(
                    "Chargers with security profile 3 exist, but no client certificate can reach the server: "
                    "OCPP_CA_CERT_FILE with OCPP_TLS_CERT_FILE, or OCPP_TLS_PROXY_CERT_HEADER behind a proxy, is "
                    "missing.",
                    hint="They are refused until the server asks for client certificates of the operator's CA.",
                    id="ocpp_tls.W002",
                )
            )
    return warnings
