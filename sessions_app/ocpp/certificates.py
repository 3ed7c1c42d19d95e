"""X.509 for the OCPP 1.6 security extension: checking a charger's CSR, issuing its certificate from the operator's
CA, and the certificates and hash data of InstallCertificate / GetInstalledCertificateIds / DeleteCertificate.

No database here: ``sessions_app.charger_security`` decides and keeps. The operator's CA is ``OCPP_CA_CERT_FILE``
(PEM: the CA, optionally with its own issuers) and ``OCPP_CA_KEY_FILE`` (its private key, PEM, unencrypted or
with ``OCPP_CA_KEY_PASSWORD``); the same CA the handshake checks profile-3 client certificates against.
"""

import functools
import os
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.conf import settings
from django.core import checks

#: OCPP 1.6 security whitepaper: a charge point's key is RSA of 2048 bits or more, or ECC of 224 bits or more.
RSA_MIN_BITS = 2048
EC_MIN_BITS = 224
#: A certificate starts a little in the past, for chargers whose clock runs behind.
BACKDATE = timedelta(minutes=5)
#: CertificateHashDataType's algorithms, by their OCPP names.
HASH_ALGORITHMS: dict[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    "SHA256": hashes.SHA256,
    "SHA384": hashes.SHA384,
    "SHA512": hashes.SHA512,
}


class CertificateError(ValueError):
    """Something wrong with a certificate, a CSR or the CA settings; the message says what, for people."""


@dataclass(frozen=True)
class OperatorCA:
    """The certificate that signs (the one in the file matching the key), its key, and what goes after an issued
    certificate in a chain: the signing CA and its issuers from the file, up to but not including a root."""

    certificate: x509.Certificate
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    chain: tuple[x509.Certificate, ...]

    @property
    def pem(self) -> str:
        return certificate_pem(self.certificate)


def ca_configured() -> bool:
    """Whether both CA settings are given (whether the files are good is ``operator_ca``'s question)."""
    return bool(settings.OCPP_CA_CERT_FILE and settings.OCPP_CA_KEY_FILE)


def operator_ca() -> OperatorCA:
    """The operator's CA from the settings; ``CertificateError`` says what is missing or wrong."""
    cert_path, key_path = settings.OCPP_CA_CERT_FILE, settings.OCPP_CA_KEY_FILE
    if not (cert_path and key_path):
        raise CertificateError("OCPP_CA_CERT_FILE and OCPP_CA_KEY_FILE are not both set: no CA to sign with.")
    try:
        stamps = (os.stat(cert_path).st_mtime_ns, os.stat(key_path).st_mtime_ns)
    except OSError as exc:
        raise CertificateError(f"Cannot read the CA files: {exc.strerror} ({exc.filename}).") from exc
    return _load_ca(cert_path, key_path, settings.OCPP_CA_KEY_PASSWORD or "", stamps)


def ca_certificates() -> list[x509.Certificate]:
    """The certificates in ``OCPP_CA_CERT_FILE`` (the operator's CA, maybe with intermediates), read again only when
    the file changes: the one reader for signing, installing the root and checking client certificates."""
    path = settings.OCPP_CA_CERT_FILE
    if not path:
        raise CertificateError("OCPP_CA_CERT_FILE is not set.")
    try:
        modified = os.stat(path).st_mtime_ns
    except OSError as exc:
        raise CertificateError(f"OCPP_CA_CERT_FILE {path} cannot be read ({exc.strerror}).") from exc
    return _ca_file_certificates(path, modified)


@functools.lru_cache(maxsize=4)
def _ca_file_certificates(path: str, modified: int) -> list[x509.Certificate]:
    """The file's certificates (``modified``: its mtime, so a changed file is read again)."""
    try:
        with open(path, "rb") as handle:
            return x509.load_pem_x509_certificates(handle.read())
    except OSError as exc:
        raise CertificateError(f"OCPP_CA_CERT_FILE {path} cannot be read ({exc.strerror}).") from exc
    except ValueError as exc:
        raise CertificateError(f"OCPP_CA_CERT_FILE {path} holds no PEM certificate.") from exc


@functools.lru_cache(maxsize=4)
def _load_ca(cert_path: str, key_path: str, password: str, stamps: tuple[int, int]) -> OperatorCA:
    """Read again when either file changes (``stamps``: their modification times)."""
    certificates = _ca_file_certificates(cert_path, stamps[0])
    try:
        with open(key_path, "rb") as handle:
            key = serialization.load_pem_private_key(handle.read(), password.encode() or None)
    except (OSError, ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise CertificateError(
            f"OCPP_CA_KEY_FILE {key_path} holds no PEM private key readable with the password given "
            "(OCPP_CA_KEY_PASSWORD)."
        ) from exc
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise CertificateError("OCPP_CA_KEY_FILE: the CA key must be RSA or EC, as chargers expect.")
    public = _public_der(key.public_key())
    signer = next((cert for cert in certificates if _public_der(cert.public_key()) == public), None)
    if signer is None:
        raise CertificateError("OCPP_CA_KEY_FILE is not the key of any certificate in OCPP_CA_CERT_FILE.")
    return OperatorCA(certificate=signer, key=key, chain=tuple(_issuers(signer, certificates)))


def operator_root_pem() -> str:
    """The root of the operator's CA (the self-signed certificate in OCPP_CA_CERT_FILE, else its first one), PEM:
    what a charger installs to trust the CA. Needs no key."""
    found = ca_certificates()
    return certificate_pem(next((cert for cert in found if _self_signed(cert)), found[0]))


def _public_der(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _self_signed(certificate: x509.Certificate) -> bool:
    return certificate.issuer == certificate.subject


def _issuers(signer: x509.Certificate, certificates: list[x509.Certificate]) -> list[x509.Certificate]:
    """The signer and its issuers found among ``certificates``, stopping before a root (a charger holds its own
    roots: InstallCertificate)."""
    chain: list[x509.Certificate] = []
    current = signer
    while not _self_signed(current) and current not in chain and len(chain) < 10:
        chain.append(current)
        current = next((cert for cert in certificates if cert.subject == current.issuer), current)
    return chain


# --- a charger's certificate signing request ------------------------------------------------------------------


def _subject_values(name: x509.Name, oid) -> list[str]:
    return [str(attribute.value) for attribute in name.get_attributes_for_oid(oid)]


def csr_load(pem: str) -> x509.CertificateSigningRequest:
    try:
        return x509.load_pem_x509_csr(pem.strip().encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise CertificateError("The CSR is not a PEM-encoded certificate signing request.") from exc


def csr_check(pem: str, *, ocpp_id: str, organization_name: str) -> x509.CertificateSigningRequest:
    """The CSR, when its signature holds, its subject's CN is the charge point id and its O the operator's name
    (case and outer spaces aside: the charger's CpoName), and its key is one the whitepaper allows."""
    csr = csr_load(pem)
    try:
        signature_holds = csr.is_signature_valid
    except UnsupportedAlgorithm as exc:
        raise CertificateError("The CSR is signed with an algorithm this system does not know.") from exc
    if not signature_holds:
        raise CertificateError("The CSR's signature does not match its key.")
    names = _subject_values(csr.subject, NameOID.COMMON_NAME)
    if names != [ocpp_id]:
        raise CertificateError(f"The CSR is for CN {', '.join(names)[:100] or '(none)'}, not {ocpp_id}.")
    organizations = _subject_values(csr.subject, NameOID.ORGANIZATION_NAME)
    if [value.strip().casefold() for value in organizations] != [organization_name.strip().casefold()]:
        raise CertificateError(
            f"The CSR is for O {', '.join(organizations)[:100] or '(none)'}, not the operator "
            f"{organization_name} (the charger's CpoName)."
        )
    _check_key(csr.public_key())
    return csr


def _check_key(public_key) -> None:
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < RSA_MIN_BITS:
            raise CertificateError(f"The CSR's RSA key has {public_key.key_size} bits, fewer than {RSA_MIN_BITS}.")
        return
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if public_key.curve.key_size < EC_MIN_BITS:
            raise CertificateError(f"The CSR's EC key has {public_key.curve.key_size} bits, fewer than {EC_MIN_BITS}.")
        return
    raise CertificateError("The CSR's key is neither RSA nor EC.")


def certificate_issue(
    csr: x509.CertificateSigningRequest, *, ca: OperatorCA, now: datetime, days: int
) -> x509.Certificate:
    """A client certificate for a checked CSR (``csr_check``): the CSR's CN and O only (nothing else it asks
    for), for TLS client authentication, valid ``days`` from now but never beyond the CA itself."""
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _subject_values(csr.subject, NameOID.ORGANIZATION_NAME)[0]),
            x509.NameAttribute(NameOID.COMMON_NAME, _subject_values(csr.subject, NameOID.COMMON_NAME)[0]),
        ]
    )
    public_key = csr.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise CertificateError("The CSR's key is neither RSA nor EC.")
    is_rsa = isinstance(public_key, rsa.RSAPublicKey)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.certificate.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(min(now + timedelta(days=days), ca.certificate.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=is_rsa,
                data_encipherment=False,
                key_agreement=not is_rsa,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
    )
    return builder.sign(ca.key, hashes.SHA256())


def chain_pem(certificate: x509.Certificate, ca: OperatorCA) -> str:
    """CertificateSigned's certificateChain: the new certificate, then the CA's chain (not its root)."""
    return "".join(certificate_pem(cert) for cert in (certificate, *ca.chain))


def certificate_subject(certificate: x509.Certificate) -> str:
    return certificate.subject.rfc4514_string()


def serial_hex(certificate: x509.Certificate) -> str:
    """The serial number as OCPP writes it: hexadecimal, no 0x, no leading zeros."""
    return format(certificate.serial_number, "x")


# --- certificates a charger is given or holds ------------------------------------------------------------------


def certificate_load(pem: str) -> x509.Certificate:
    """Exactly one PEM certificate (InstallCertificate installs one)."""
    try:
        certificates = x509.load_pem_x509_certificates(pem.strip().encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise CertificateError("Not a PEM-encoded X.509 certificate.") from exc
    if len(certificates) != 1:
        raise CertificateError("Give exactly one certificate.")
    return certificates[0]


def certificate_pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def certificate_hash_data(
    certificate: x509.Certificate, *, issuer: x509.Certificate | None = None, algorithm: str = "SHA256"
) -> dict[str, str]:
    """CertificateHashDataType of a certificate (as OCSP hashes it: the issuer's name and public key), snake_case;
    a root is its own issuer."""
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(certificate, issuer or certificate, HASH_ALGORITHMS[algorithm]())
        .build()
    )
    return {
        "hash_algorithm": algorithm,
        "issuer_name_hash": request.issuer_name_hash.hex(),
        "issuer_key_hash": request.issuer_key_hash.hex(),
        "serial_number": serial_hex(certificate),
    }


def chain_verifies(chain: str, ca_certificate: x509.Certificate) -> bool:
    """Whether the first certificate of a PEM chain was issued by ``ca_certificate`` or, through the chain's
    intermediates, leads to it (a check for tests and operators; chargers do their own)."""
    try:
        certificates = x509.load_pem_x509_certificates(chain.encode("ascii"))
    except ValueError:
        return False
    current = certificates[0]
    for issuer in [*certificates[1:], ca_certificate]:
        try:
            current.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            continue
        if issuer is ca_certificate or issuer == ca_certificate:
            return True
        current = issuer
    return False


# --- settings -------------------------------------------------------------------------------------------------


def ca_settings_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """ocpp_ca.E001: a CA key without its certificate, or CA files that cannot be used;
    ocpp_ca.W001: a CA certificate without its key (chargers' certificate requests are then refused)."""
    cert_path, key_path = settings.OCPP_CA_CERT_FILE, settings.OCPP_CA_KEY_FILE
    if not cert_path and not key_path:
        return []
    if key_path and not cert_path:
        return [
            checks.Error(
                "OCPP_CA_KEY_FILE is set but OCPP_CA_CERT_FILE is not.",
                hint="Set OCPP_CA_CERT_FILE to the CA certificate (PEM) whose key OCPP_CA_KEY_FILE holds.",
                id="ocpp_ca.E001",
            )
        ]
    if not key_path:
        return [
            checks.Warning(
                "OCPP_CA_CERT_FILE is set but OCPP_CA_KEY_FILE is not: chargers' certificate requests "
                "(SignCertificate) are refused.",
                hint="Set OCPP_CA_KEY_FILE to the CA's private key (PEM) to issue chargers' certificates.",
                id="ocpp_ca.W001",
            )
        ]
    try:
        operator_ca()
    except CertificateError as exc:
        return [checks.Error(str(exc), hint="Fix the CA files or unset both settings.", id="ocpp_ca.E001")]
    return []
