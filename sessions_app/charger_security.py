"""The messages of the OCPP 1.6 security extension (security whitepaper, edition 2): a charger's password, the
security events it reports, and its certificates.

- **Password rotation** (``charge_point_password_rotate``): a new random password goes to the charger as
  ChangeConfiguration(AuthorizationKey), hex-encoded as the whitepaper asks (20 characters, 40 hex digits); its
  hash is stored only once the charger accepted it, so a charger that refuses or never hears of it keeps
  connecting with the old one. The password is shown to the operator once and never kept or logged (the
  command's history and the logs mask it: ``ocpp.log_redaction``). A ChangeConfiguration of AuthorizationKey by
  hand is refused (``authorization_key_refusal``): the stored hash would no longer be the charger's.
- **Security events** (``security_event_report``): SecurityEventNotification is kept as a security event of
  kind ``charger_reported`` (equal ones in a short time counted in one row); the types that signal an attack or
  a failure (``ALERT_EVENT_TYPES``) alert the operator: listed in "Needs attention" and emailed to the report
  recipients through ``hooks.security_alert_handlers``.
- **Certificates**: a charger's SignCertificate is answered Accepted only when its CSR is sound
  (``ocpp.certificates.csr_check``) and the operator's CA is configured; then the certificate is issued, kept
  (``ChargerCertificate``) and sent with CertificateSigned (``certificate_sign_and_send``). Root certificates
  are installed, listed and deleted with the commands of ``ocpp.command_payloads``.
"""

import logging
import secrets
import string
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from ocpp.v16 import call

from accounts.models import Organization, User
from sessions_app import hooks
from sessions_app.models import ChargePoint, ChargerCertificate, SecurityEvent
from sessions_app.ocpp import certificates, command_payloads, commands
from sessions_app.ocpp.command_payloads import CommandPayloadError
from sessions_app.ocpp.log_redaction import configuration_key_secret
from sessions_app.services import _security_event

logger = logging.getLogger(__name__)

# --- password rotation -----------------------------------------------------------------------------------------

AUTHORIZATION_KEY = "AuthorizationKey"
#: The whitepaper's password is 16 to 20 bytes, sent hex-encoded (at most 40 hex digits): 20 characters of
#: letters and digits (about 119 bits), which any charger can also take typed in by hand.
PASSWORD_LENGTH = 20
PASSWORD_ALPHABET = string.ascii_letters + string.digits
#: ChangeConfiguration answers after which the charger uses the new password: at once, or after its next restart.
PASSWORD_TAKEN = ("Accepted", "RebootRequired")
#: Outcomes after which the charger may have taken the password without our knowing.
PASSWORD_UNCERTAIN = ("timeout", "no_answer")


def password_generate() -> str:
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _index in range(PASSWORD_LENGTH))


def authorization_key_value(password: str) -> str:
    """AuthorizationKey's value: the password hex-encoded (whitepaper, "Basic Authentication")."""
    return password.encode("ascii").hex().upper()


def authorization_key_refusal(key: str) -> str:
    """Why a ChangeConfiguration of ``key`` may not be sent by hand ("" when it may)."""
    if configuration_key_secret(key):
        return _(
            "The charger's password (AuthorizationKey) is changed by rotating it (the charge point's 'Rotate the "
            "charger's password' action, or the operator API's stations/<id>/password/rotate/), which stores it once "
            "the charger accepts it."
        )
    return ""


@dataclass(frozen=True)
class PasswordRotation:
    """What came of a rotation. ``password`` is there to be shown once: when it was stored, and when the charger
    may have taken it without answering (then the operator can enter it in the charge point's form)."""

    outcome: str  # a command outcome (commands.OUTCOMES), or "busy": another rotation of the charger is running
    status: str = ""
    stored: bool = False
    password: str = ""
    code: str = ""

    @property
    def message(self) -> str:
        if self.stored and self.status == "RebootRequired":
            return _(
                "The charger accepted its new password and uses it after it restarts; it is stored. Restart the "
                "charger (Reset) so that it does."
            )
        if self.stored:
            return _("The charger accepted its new password; it is stored, and the charger reconnects with it.")
        if self.outcome == "busy":
            return _("A password rotation of this charger is running already.")
        said = capfirst(commands.outcome_text(commands.CommandResult(self.outcome, {"status": self.status}, self.code)))
        if self.outcome in PASSWORD_UNCERTAIN:
            return _(
                "%(outcome)s. The stored password is unchanged, but the charger may have taken the new one. If it "
                "cannot connect again, enter this password as its new password in the charge point's form."
            ) % {"outcome": said}
        return _("%(outcome)s. Its password is unchanged.") % {"outcome": said}


def charge_point_password_rotate(
    *, charge_point: ChargePoint, by: User | None, now: datetime, timeout: float = 30
) -> PasswordRotation:
    """Give the charger a new random password (ChangeConfiguration AuthorizationKey); store its hash, the time
    and at least security profile 1 only when the charger accepts it. One rotation per charger at a time."""
    lock = f"password-rotation:{charge_point.pk}"
    if not cache.add(lock, 1, timeout + 10):
        return PasswordRotation("busy")
    try:
        password = password_generate()
        result = commands.command_send(
            charge_point,
            "ChangeConfiguration",
            {"key": AUTHORIZATION_KEY, "value": authorization_key_value(password)},
            timeout,
        )
        by_whom = f"user {by.pk}" if by is not None else "the system"
        if result.outcome == "answered" and result.status in PASSWORD_TAKEN:
            _password_store(charge_point, password, now)
            logger.info(
                "Charger %s took a new password (%s), rotated by %s", charge_point.ocpp_id, result.status, by_whom
            )
            return PasswordRotation(result.outcome, result.status, True, password)
        logger.warning(
            "Charger %s kept its password: rotation by %s ended %s %s",
            charge_point.ocpp_id,
            by_whom,
            result.outcome,
            result.status or result.code,
        )
        shown = password if result.outcome in PASSWORD_UNCERTAIN else ""
        return PasswordRotation(result.outcome, result.status, False, shown, result.code)
    finally:
        cache.delete(lock)


@transaction.atomic
def _password_store(charge_point: ChargePoint, password: str, now: datetime) -> None:
    locked = ChargePoint.objects.select_for_update().get(pk=charge_point.pk)
    locked.set_password(password)
    locked.password_changed_at = now
    if locked.security_profile == ChargePoint.SecurityProfile.UNSECURED:
        locked.security_profile = ChargePoint.SecurityProfile.BASIC
    locked.save(update_fields=["password_hash", "password_changed_at", "security_profile"])
    charge_point.password_hash = locked.password_hash
    charge_point.password_changed_at, charge_point.security_profile = now, locked.security_profile


# --- security events ---------------------------------------------------------------------------------------------

#: The whitepaper's list of security events; critical ones a charger must send at once (SecurityEventNotification),
#: the others it may only keep in its security log. Critical there means "to be pushed", not "alarming": a boot is.
WHITEPAPER_CRITICAL = frozenset(
    {
        "FirmwareUpdated",
        "SettingSystemTime",
        "StartupOfTheDevice",
        "ResetOrReboot",
        "SecurityLogWasCleared",
        "MemoryExhaustion",
        "TamperDetectionActivated",
    }
)
#: What the operator is alerted to: an attack or a security failure at the charger (the whitepaper's types, with
#: OCPP 2.0.1's names for the same that some 1.6 chargers send). Routine events (a boot, a firmware update, a clock
#: set) and our own refusals of the charger (which we keep as security events already) are only listed.
ALERT_EVENT_TYPES = frozenset(
    {
        "TamperDetectionActivated",
        "SecurityLogWasCleared",
        "MemoryExhaustion",
        "AttemptedReplayAttacks",
        "InvalidFirmwareSignature",
        "InvalidFirmwareSigningCertificate",
        "InvalidCentralSystemCertificate",
        "InvalidCsmsCertificate",
        "InvalidChargePointCertificate",
        "InvalidChargingStationCertificate",
        "InvalidTLSVersion",
        "InvalidTLSCipherSuite",
        "CentralSystemFailedToAuthenticate",
        "CsmsFailedToAuthenticate",
    }
)
_ALERTING = {event_type.casefold() for event_type in ALERT_EVENT_TYPES}


def security_event_alerts(event_type: str) -> bool:
    """Whether a charger's event of this type alerts the operator (letter case aside: chargers vary)."""
    return event_type.strip().casefold() in _ALERTING


def alerting_event_types() -> Q:
    """The alerting types as a filter on security events (letter case aside)."""
    query = Q(pk__in=[])
    for event_type in sorted(ALERT_EVENT_TYPES):
        query |= Q(event_type__iexact=event_type)
    return query


def security_event_report(
    *, charge_point: ChargePoint, event_type: str, timestamp: datetime, tech_info: str, now: datetime
) -> SecurityEvent | None:
    """Keep a charger's SecurityEventNotification (at the time received: chargers send them at once, and equal
    ones are counted by it; ``timestamp`` is the charger's); an alerting type, once
    stored (not when counted into an equal event of the last minutes), goes to ``hooks.security_alert`` after the
    commit. Returns the new event, or None when it was counted into an earlier one."""
    event = _security_event(
        SecurityEvent.Kind.CHARGER_REPORTED,
        ocpp_id=charge_point.ocpp_id,
        remote_address=None,
        charge_point=charge_point,
        detail=tech_info,
        event_type=event_type[:50],
    )
    if event is not None and security_event_alerts(event_type):
        logger.warning(
            "Charger %s reports security event %s at %s: %s", charge_point.ocpp_id, event_type, timestamp, tech_info
        )
        event_id = event.pk
        transaction.on_commit(lambda: hooks.security_alert(event_id))
    return event


def security_alerts_between(*, organization: Organization, start: datetime, end: datetime) -> QuerySet[SecurityEvent]:
    """The operator's chargers' alerting security events that happened in [start, end), oldest first."""
    return (
        SecurityEvent.objects.filter(
            organization=organization,
            kind=SecurityEvent.Kind.CHARGER_REPORTED,
            charge_point__isnull=False,
            created_at__gte=start,
            created_at__lt=end,
        )
        .filter(alerting_event_types())
        .select_related("charge_point", "charge_point__site")
        .order_by("created_at", "pk")
    )


# --- certificates ----------------------------------------------------------------------------------------------


def csr_problem(*, charge_point: ChargePoint, csr: str) -> str:
    """Why a charger's SignCertificate is refused ("" when it is accepted): no usable CA, or a CSR not for this
    charger of this operator (``ocpp.certificates.csr_check``), or a charger the operator has not accepted (read
    from the database: the connection's copy may be older than the operator's decision)."""
    status = ChargePoint.objects.filter(pk=charge_point.pk).values_list("registration_status", flat=True).first()
    if status != ChargePoint.RegistrationStatus.ACCEPTED:
        return f"the charger is not accepted (registration {status or 'unknown'})"
    try:
        certificates.operator_ca()
        certificates.csr_check(csr, ocpp_id=charge_point.ocpp_id, organization_name=charge_point.organization.name)
    except certificates.CertificateError as exc:
        return str(exc)
    return ""


def sign_certificate_accepts(*, charge_point: ChargePoint, csr: str) -> bool:
    """SignCertificate's answer: Accepted (True) or Rejected, the reason logged."""
    problem = csr_problem(charge_point=charge_point, csr=csr)
    if problem:
        logger.warning("SignCertificate from charger %s rejected: %s", charge_point.ocpp_id, problem)
    return not problem


def certificate_sign_and_send(
    *, charge_point: ChargePoint, csr: str, now: datetime, timeout: float = 30
) -> ChargerCertificate | None:
    """After an accepted SignCertificate: issue the certificate from the operator's CA, keep it, send it with
    CertificateSigned and keep what the charger said (installed, refused, or not delivered). None when the CSR is
    not accepted (nothing is issued)."""
    if csr_problem(charge_point=charge_point, csr=csr):
        return None
    ca = certificates.operator_ca()
    request = certificates.csr_check(
        csr, ocpp_id=charge_point.ocpp_id, organization_name=charge_point.organization.name
    )
    issued = certificates.certificate_issue(request, ca=ca, now=now, days=settings.OCPP_CHARGER_CERT_DAYS)
    record = ChargerCertificate.objects.create(
        charge_point=charge_point,
        serial_number=certificates.serial_hex(issued),
        subject=certificates.certificate_subject(issued)[:255],
        certificate_pem=certificates.certificate_pem(issued),
        not_before=issued.not_valid_before_utc,
        not_after=issued.not_valid_after_utc,
        status=ChargerCertificate.Status.ISSUED,
        issued_at=now,
    )
    chain = certificates.chain_pem(issued, ca)
    if len(chain) > CERTIFICATE_CHAIN_MAX_LENGTH:  # CertificateSigned.req allows 10,000 characters: the leaf alone
        chain = record.certificate_pem
    result = commands.command_send(charge_point, "CertificateSigned", {"certificate_chain": chain}, timeout)
    if result.outcome == "answered":
        status = (
            ChargerCertificate.Status.ACCEPTED if result.status == "Accepted" else ChargerCertificate.Status.REJECTED
        )
    else:
        status = ChargerCertificate.Status.NOT_SENT
    ChargerCertificate.objects.filter(pk=record.pk).update(status=status)
    record.status = status
    logger.info("Charger %s: certificate %s %s", charge_point.ocpp_id, record.serial_number, status)
    return record


def certificate_sign_followup(*, charge_point: ChargePoint, csr: str, now: datetime) -> ChargerCertificate | None:
    """``certificate_sign_and_send`` as the step after an Accepted SignCertificate's answer (a Rejected one has
    none), which nobody awaits: a failure is logged (the charger asks again: its SignCertificate retries, or the
    operator's ExtendedTriggerMessage)."""
    try:
        return certificate_sign_and_send(charge_point=charge_point, csr=csr, now=now)
    except Exception:
        logger.exception("Charger %s: its certificate could not be issued or sent", charge_point.ocpp_id)
        return None


#: CertificateSigned.req's certificateChain.
CERTIFICATE_CHAIN_MAX_LENGTH = 10_000


def install_certificate_call(
    *, certificate_type: str, certificate: str = "", use_operator_ca: bool = False
) -> call.InstallCertificate:
    """InstallCertificate of the certificate given or, with ``use_operator_ca``, of the operator's CA (the root in
    OCPP_CA_CERT_FILE): the right CentralSystemRootCertificate when that CA also issued the server's TLS
    certificate."""
    if use_operator_ca:
        if certificate.strip():
            raise CommandPayloadError(
                "certificate", _("Either paste a certificate or install the operator's CA, not both.")
            )
        try:
            certificate = certificates.operator_root_pem()
        except certificates.CertificateError as exc:
            raise CommandPayloadError(
                "use_operator_ca", _("The operator's CA cannot be read: %(problem)s") % {"problem": exc}
            ) from exc
    return command_payloads.install_certificate(certificate_type=certificate_type, certificate=certificate)


def extended_trigger_call(*, extended_message: str, connector_id: int | None = None) -> call.ExtendedTriggerMessage:
    """ExtendedTriggerMessage from the admin's form, whose field is named apart from TriggerMessage's."""
    try:
        return command_payloads.extended_trigger_message(requested_message=extended_message, connector_id=connector_id)
    except CommandPayloadError as error:
        field = "extended_message" if error.field == "requested_message" else error.field
        raise CommandPayloadError(field, error.message) from error
