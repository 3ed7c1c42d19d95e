"""Partners' drivers at the charger: real-time authorization (OCPI 2.2.1 Tokens, the partner's
``POST {tokens}/{uid}/authorize``) and the whitelist rules of the tokens we know.

Registered as ``sessions_app.hooks.realtime_authorization_handlers``: a charger's Authorize and StartTransaction
(``services.id_tag_authorize``) ask ``realtime_authorize`` before the card is judged.

- **A uid no card of the operator has**: the operator's registered partners that authorize in real time (and offer
  a tokens SENDER endpoint) are asked in turn, within ``AUTHORIZE_BUDGET`` seconds in all. ALLOWED: the token the
  answer carries is stored (``tokens.token_upsert``), good until ``ALLOWED_FOR`` from now, and judged as any card;
  later Authorize and StartTransaction find it here. A refusal (NOT_ALLOWED, BLOCKED, EXPIRED, NO_CREDIT), no
  partner knowing the uid, or none answering refuses it.
- **A known token**, by its whitelist: ALWAYS and ALLOWED are judged here alone (real-time is optional for ALLOWED:
  not done); ALLOWED_OFFLINE asks the partner, and judges here alone when it does not answer; NEVER asks the
  partner, and refuses when it does not answer. A token known only from a real-time answer (or a command) is
  asked again once that answer's ``authorized_until`` has passed, unless its whitelist is ALWAYS (real-time
  authorization not allowed); then by its whitelist if the partner does not answer. A fresh
  ALLOWED answer covers the token until its ``authorized_until``: Authorize then StartTransaction ask once.
- The tokens of a partner that is no longer registered (its credentials deleted) are refused: no session or CDR
  could reach it.
- NEVER means never whitelisted: such a token is refused by the authorization checks (``token_whitelist_refusal``:
  not on chargers' local lists) unless a fresh ALLOWED answer covers it.
- Every refusal (and a uid nobody answered for) is remembered ``REFUSAL_SECONDS`` per operator and uid, so a
  charger trying again does not hammer the partner.
- The partner's ``authorization_reference`` of an ALLOWED answer is kept in the cache for the token
  (``authorization_reference``) as long as the answer holds, for the session it begins (Sessions, CDRs).
"""

import logging
import time
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from django.core.cache import cache
from django.utils import timezone

from accounts.models import AuthorizationStatus, CustomerAccount, IdTag
from accounts.uids import id_tag_lookup_keys, id_tag_presented
from roaming.client import PartnerUnreachable, endpoint_url, partner_call
from roaming.locations import evse_uid, location_id_of
from roaming.models import Partner, RoamingToken
from roaming.ocpi import OcpiError, Status
from roaming.tokens import id_tag_form, token_upsert
from sessions_app.models import ChargePoint

logger = logging.getLogger(__name__)

#: Seconds one partner has to answer, and all partners asked about one unknown uid together: the charger waits.
AUTHORIZE_TIMEOUT = 3.0
AUTHORIZE_BUDGET = 6.0
#: How long a partner's ALLOWED holds before the token is asked about again.
ALLOWED_FOR = timedelta(minutes=15)
#: How long a refusal is remembered.
REFUSAL_SECONDS = 60
#: OCPI AllowedType -> the status a charger is told.
REFUSALS = {
    "BLOCKED": AuthorizationStatus.BLOCKED,
    "EXPIRED": AuthorizationStatus.EXPIRED,
    "NO_CREDIT": AuthorizationStatus.NO_CREDIT,
    "NOT_ALLOWED": AuthorizationStatus.INVALID,
}
#: Whitelist rules that ask the partner on every use (unless a fresh ALLOWED covers it).
ASKED = (RoamingToken.Whitelist.ALLOWED_OFFLINE, RoamingToken.Whitelist.NEVER)


class _NoAnswer(Exception):
    """The partner gave no usable answer: unreachable, not OCPI, an error, or an answer we cannot use."""


def _refusal_key(organization_id: int, raw_uid: str) -> str:
    return f"roaming-refusal:{organization_id}:{id_tag_presented(raw_uid).upper()}"


def _reference_key(token: RoamingToken) -> str:
    return f"roaming-authorization:{token.pk}"


def authorization_reference(token: RoamingToken) -> str:
    """The ``authorization_reference`` of the partner's latest ALLOWED answer for ``token`` while that answer holds
    ("" when none: a whitelisted token, or the cache lost it)."""
    try:
        return cache.get(_reference_key(token)) or ""
    except Exception:
        logger.exception("could not read the authorization reference of token %s", token.pk)
        return ""


def _remember(key: str, value: str, seconds: float) -> None:
    try:
        cache.set(key, value, seconds)
    except Exception:
        logger.exception("could not remember %s", key)


def _refusal_remembered(organization_id: int, raw_uid: str) -> AuthorizationStatus | None:
    try:
        refused = cache.get(_refusal_key(organization_id, raw_uid))
    except Exception:
        logger.exception("could not read the refusals remembered")
        return None
    return AuthorizationStatus(refused) if refused else None


def _refused(organization_id: int, raw_uid: str, status: AuthorizationStatus) -> AuthorizationStatus:
    _remember(_refusal_key(organization_id, raw_uid), str(status), REFUSAL_SECONDS)
    return status


def location_references(charge_point: ChargePoint) -> dict[str, Any] | None:
    """The LocationReferences of a charger: its site as the location and its connectors as EVSEs (as Locations
    publishes them); None for a charger without a site (no location to name)."""
    site = charge_point.site
    if site is None:
        return None
    connectors = charge_point.connectors.order_by("number")
    return {
        "location_id": location_id_of(site),
        "evse_uids": [evse_uid(connector) for connector in connectors.select_related("charge_point")],
    }


def _ask(
    partner: Partner, *, raw_uid: str, ocpi_type: str, location: dict[str, Any] | None, timeout: float
) -> dict[str, Any] | None:
    """The partner's AuthorizationInfo for the uid (``allowed`` one of the AllowedType values), or None when it does
    not know the token. Raises ``_NoAnswer``."""
    url = endpoint_url(partner, "tokens", "SENDER")
    if not url or partner.state != Partner.State.REGISTERED:
        raise _NoAnswer(f"{partner} offers no real-time authorization")
    try:
        reply = partner_call(
            partner,
            "POST",
            f"{url.rstrip('/')}/{quote(raw_uid, safe='')}/authorize",
            body=location,
            params={"type": ocpi_type},
            timeout=timeout,
        )
    except PartnerUnreachable as error:
        raise _NoAnswer(str(error)) from error
    if reply.http_status == 404 or reply.status_code == Status.UNKNOWN_TOKEN:
        return None
    # One AuthorizationInfo; some implementations (extrawest-ocpi) wrap it in a list of one.
    info = reply.data[0] if isinstance(reply.data, list) and len(reply.data) == 1 else reply.data
    if not reply.ok or not isinstance(info, dict) or info.get("allowed") not in ("ALLOWED", *REFUSALS):
        raise _NoAnswer(f"{partner}: HTTP {reply.http_status}, status {reply.status_code} {reply.message}")
    return info


def _store_allowed(partner: Partner, info: dict[str, Any], raw_uid: str) -> RoamingToken:
    """The token of an ALLOWED answer stored, good until ``ALLOWED_FOR`` from now, with its authorization
    reference. Raises ``_NoAnswer`` when the answer's token is unusable (malformed, another uid, another card's)."""
    data = info.get("token")
    if not isinstance(data, dict):
        raise _NoAnswer(f"{partner}: an ALLOWED answer without its token")
    try:
        _kind, card_uid = id_tag_form(str(data.get("uid", "")), str(data.get("type", "")))
        if card_uid.upper() not in id_tag_lookup_keys(raw_uid):
            raise _NoAnswer(f"{partner}: answered for token {data.get('uid')!r}, not {raw_uid!r}")
        token = token_upsert(partner=partner, data=data, authorized_until=timezone.now() + ALLOWED_FOR)
    except OcpiError as error:
        raise _NoAnswer(f"{partner}: its token cannot be stored: {error.message}") from error
    given = info.get("authorization_reference")  # CiString(36), echoed in the session and its CDR
    reference = (
        given if isinstance(given, str) and 0 < len(given) <= 36 and given.isascii() and given.isprintable() else ""
    )
    _remember(_reference_key(token), reference, ALLOWED_FOR.total_seconds())
    return token


def _must_ask(token: RoamingToken, at: datetime) -> bool:
    if token.whitelist == RoamingToken.Whitelist.ALWAYS:  # OCPI: real-time authorization not allowed
        return False
    fresh = token.authorized_until is not None and token.authorized_until > at
    lapsed = token.authorized_until is not None and not fresh
    return lapsed or (token.whitelist in ASKED and not fresh)


def _known_token(
    token: RoamingToken, *, charge_point: ChargePoint, raw_uid: str, at: datetime
) -> IdTag | AuthorizationStatus | None:
    organization_id = charge_point.organization_id
    if not _must_ask(token, at):
        return None
    if refused := _refusal_remembered(organization_id, raw_uid):
        return refused
    try:
        info = _ask(
            token.partner,
            raw_uid=token.uid,
            ocpi_type=token.type,
            location=location_references(charge_point),
            timeout=AUTHORIZE_TIMEOUT,
        )
        if info is None:
            return _refused(organization_id, raw_uid, AuthorizationStatus.INVALID)
        if info["allowed"] != "ALLOWED":
            return _refused(organization_id, raw_uid, REFUSALS[info["allowed"]])
        return _store_allowed(token.partner, info, raw_uid).id_tag
    except _NoAnswer as error:
        logger.warning("real-time authorization of token %s: %s", token, error)
        if token.whitelist == RoamingToken.Whitelist.NEVER:
            return _refused(organization_id, raw_uid, AuthorizationStatus.INVALID)
        return None  # judged here alone


def _unknown_uid(*, charge_point: ChargePoint, raw_uid: str) -> IdTag | AuthorizationStatus | None:
    organization_id = charge_point.organization_id
    partners = list(
        Partner.objects.filter(
            organization_id=organization_id, state=Partner.State.REGISTERED, realtime_authorization=True
        ).select_related("organization__ocpi_party", "customer_account")
    )
    partners = [partner for partner in partners if endpoint_url(partner, "tokens", "SENDER")]
    if not partners:
        return None
    if refused := _refusal_remembered(organization_id, raw_uid):
        return refused
    location = location_references(charge_point)
    uid = id_tag_presented(raw_uid)  # a card UID as partners keep it: upper-case hex without separators
    deadline = time.monotonic() + AUTHORIZE_BUDGET
    for partner in partners:
        left = deadline - time.monotonic()
        if left <= 0:
            logger.warning("real-time authorization of %r: no time left to ask %s", raw_uid, partner)
            break
        try:
            info = _ask(partner, raw_uid=uid, ocpi_type="RFID", location=location, timeout=min(AUTHORIZE_TIMEOUT, left))
            if info is None:
                continue
            if info["allowed"] != "ALLOWED":
                return _refused(organization_id, raw_uid, REFUSALS[info["allowed"]])
            return _store_allowed(partner, info, raw_uid).id_tag
        except _NoAnswer as error:
            logger.warning("real-time authorization of %r: %s", raw_uid, error)
    return _refused(organization_id, raw_uid, AuthorizationStatus.INVALID)


def realtime_authorize(
    *, charge_point: ChargePoint, raw_uid: str, id_tag: IdTag | None, at: datetime
) -> IdTag | AuthorizationStatus | None:
    """The hook (``sessions_app.hooks.realtime_authorization_handlers``): a partner's token judged by its whitelist
    rule, an unknown uid asked of the partners; a local card has no say here (None)."""
    if id_tag is None:
        return _unknown_uid(charge_point=charge_point, raw_uid=raw_uid)
    if id_tag.customer_account.kind != CustomerAccount.Kind.ROAMING:
        return None
    token = RoamingToken.objects.select_related("partner__organization__ocpi_party").filter(id_tag=id_tag).first()
    if token is None:
        return None
    if token.partner.state != Partner.State.REGISTERED:  # its credentials deleted: no session or CDR could reach it
        return AuthorizationStatus.INVALID
    return _known_token(token, charge_point=charge_point, raw_uid=raw_uid, at=at)


def token_whitelist_refusal(id_tag: IdTag, at: datetime) -> AuthorizationStatus | None:
    """Invalid for a partner's token whose whitelist is NEVER unless a fresh ALLOWED answer covers ``at``: never
    whitelisted, so never on a charger's local list (an authorization check, ``sessions_app.hooks``; at Authorize
    ``realtime_authorize`` has asked the partner first)."""
    if id_tag.customer_account.kind != CustomerAccount.Kind.ROAMING:
        return None
    token = RoamingToken.objects.filter(id_tag=id_tag).only("whitelist", "authorized_until").first()
    if token is None or token.whitelist != RoamingToken.Whitelist.NEVER:
        return None
    fresh = token.authorized_until is not None and token.authorized_until > at
    return None if fresh else AuthorizationStatus.INVALID
