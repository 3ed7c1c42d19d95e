"""Partners and their credentials (OCPI 2.2.1 "Credentials"): the registration handshake both ways, updates,
rotation and deletion.

Tokens: A is made here and given to the partner out of band (admin); the partner registers with it (``POST
credentials``) sending its token B, we fetch its versions with B and answer with our token C, which replaces A.
The other way round, the operator enters the partner's versions URL and the token A the partner gave: we fetch its
endpoints with that A, post our credentials with a new token B of ours, and keep the token C it answers with.
``Partner.incoming_token`` is always the one it presents to us, ``outgoing_token`` the one we present to it.
"""

import logging
import secrets
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import CustomerAccount, Organization
from billing.models import CustomerGroup, CustomerGroupMembership
from roaming.client import PartnerUnreachable, partner_call
from roaming.models import COUNTRY_CODE_LENGTH, PARTY_ID_LENGTH, Partner
from roaming.ocpi import VERSION, OcpiError, Status, invalid
from roaming.validation import ocpi_check

logger = logging.getLogger(__name__)

#: The role we play, and the roles we register a partner under (the first of these in its credentials).
OUR_ROLE = "CPO"
PARTNER_ROLES = ("EMSP", "HUB", "NSP", "OTHER")


def token_new() -> str:
    """A token for a partner to present (43 URL-safe characters: 256 random bits)."""
    return secrets.token_urlsafe(32)


@transaction.atomic
def partner_create(
    *, organization: Organization, name: str, billing_email: str, role: str = Partner.Role.EMSP, **fields
) -> Partner:
    """A partner with its customer account (kind "roaming": its sessions, charges and settlement) and its customer
    group (for a roaming tariff of its own), and a token A to give it."""
    account = CustomerAccount.objects.create(
        organization=organization, kind=CustomerAccount.Kind.ROAMING, name=name, billing_email=billing_email
    )
    group = CustomerGroup.objects.create(organization=organization, name=f"Roaming: {name}")
    CustomerGroupMembership.objects.create(customer_group=group, customer_account=account)
    return Partner.objects.create(
        organization=organization,
        name=name,
        role=role,
        customer_account=account,
        customer_group=group,
        incoming_token=token_new(),
        **fields,
    )


def partner_token_a_renew(*, partner: Partner) -> str:
    """A new token A for a partner yet to register (the old one no longer opens anything)."""
    if partner.state == Partner.State.REGISTERED:
        raise ValueError("A registered partner has no token A.")
    partner.incoming_token = token_new()
    partner.state = Partner.State.PENDING
    partner.save(update_fields=["incoming_token", "state"])
    return partner.incoming_token


# --- what we say about ourselves --------------------------------------------------------------------------------


def our_credentials(*, partner: Partner, token: str, versions_url: str) -> dict[str, Any]:
    """Our credentials object: the token the partner is to present, our versions URL, our CPO role."""
    organization = partner.organization
    party = getattr(organization, "ocpi_party", None)
    if party is None:
        raise OcpiError(Status.SERVER_ERROR, "The operator has no OCPI party (country code and party id) yet.", 500)
    business: dict[str, Any] = {"name": organization.name}
    if party.website:
        business["website"] = party.website
    role = {"role": OUR_ROLE, "party_id": party.party_id, "country_code": party.country_code}
    return {"token": token, "url": versions_url, "roles": [{**role, "business_details": business}]}


# --- the partner's side -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartnerCredentials:
    """A partner's credentials object, checked."""

    token: str
    url: str
    country_code: str
    party_id: str
    role: str


def credentials_read(data: Any) -> PartnerCredentials:
    """A credentials object the partner sent (or answered with): valid OCPI 2.2.1 (``roaming/schemas``) with a role
    we can register it under. Raises ``OcpiError`` 2001 naming what is wrong."""
    ocpi_check("Credentials", data)
    token, url, roles = data.get("token"), data.get("url"), data.get("roles")
    if not isinstance(token, str) or not token or len(token) > 64:
        raise invalid("credentials.token must be a string of 1 to 64 characters.")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")) or len(url) > 255:
        raise invalid("credentials.url must be the http(s) URL of the versions endpoint.")
    if not isinstance(roles, list) or not roles or not all(isinstance(role, dict) for role in roles):
        raise invalid("credentials.roles must be a list of at least one role.")
    chosen = min(
        roles, key=lambda role: PARTNER_ROLES.index(role.get("role")) if role.get("role") in PARTNER_ROLES else 99
    )
    country, party, role = chosen.get("country_code"), chosen.get("party_id"), chosen.get("role")
    if not isinstance(country, str) or len(country) != COUNTRY_CODE_LENGTH or not country.isalpha():
        raise invalid("A role's country_code must be two letters.")
    if not isinstance(party, str) or len(party) != PARTY_ID_LENGTH or not party.isalnum():
        raise invalid("A role's party_id must be three letters or digits.")
    if role not in PARTNER_ROLES:
        raise invalid(f"A role must be one of {', '.join(PARTNER_ROLES)}.")
    return PartnerCredentials(token, url, country.upper(), party.upper(), role)


def _endpoints_fetch(partner: Partner, versions_url: str, token: str) -> tuple[str, dict[str, dict[str, str]]]:
    """The partner's 2.2.1 endpoints (module -> role -> URL) from its versions URL, called with ``token``. Raises
    ``OcpiError`` 3001 when it cannot be used, 3002 when it does not speak 2.2.1."""
    try:
        versions = partner_call(partner, "GET", versions_url, token=token)
        if not versions.ok or not isinstance(versions.data, list):
            raise OcpiError(Status.UNABLE_TO_USE_CLIENT_API, f"Your versions endpoint answered: {versions.message}")
        chosen = next(
            (v for v in versions.data if isinstance(v, dict) and v.get("version") == VERSION and v.get("url")), None
        )
        if chosen is None:
            raise OcpiError(Status.UNSUPPORTED_VERSION, f"Your versions endpoint does not offer {VERSION}.")
        details = partner_call(partner, "GET", chosen["url"], token=token)
    except PartnerUnreachable as error:
        raise OcpiError(
            Status.UNABLE_TO_USE_CLIENT_API, f"Your OCPI endpoints could not be reached: {error}"
        ) from error
    if not details.ok or not isinstance(details.data, dict) or not isinstance(details.data.get("endpoints"), list):
        raise OcpiError(Status.UNABLE_TO_USE_CLIENT_API, f"Your version details answered: {details.message}")
    endpoints: dict[str, dict[str, str]] = {}
    for item in details.data["endpoints"]:
        if isinstance(item, dict) and item.get("identifier") and item.get("url"):
            endpoints.setdefault(str(item["identifier"]), {})[str(item.get("role") or "RECEIVER")] = str(item["url"])
    if "credentials" not in endpoints:
        raise OcpiError(Status.NO_MATCHING_ENDPOINTS, "Your version details list no credentials endpoint.")
    return VERSION, endpoints


def _registered(partner: Partner, credentials: PartnerCredentials, version: str, endpoints: dict) -> None:
    partner.versions_url, partner.version, partner.endpoints = credentials.url, version, endpoints
    partner.country_code, partner.party_id, partner.role = (
        credentials.country_code,
        credentials.party_id,
        credentials.role,
    )
    partner.state, partner.registered_at = Partner.State.REGISTERED, timezone.now()


# --- the partner registers with us (its POST/PUT/DELETE credentials) -----------------------------------------------


def credentials_register(*, partner: Partner, data: Any, versions_url: str, update: bool) -> dict[str, Any]:
    """The partner's POST (first registration, with token A) or PUT (update, registered) of its credentials: its
    endpoints fetched with its new token, a new token for it issued. Returns our credentials."""
    registered = partner.state == Partner.State.REGISTERED
    if registered != update:
        raise OcpiError(
            Status.CLIENT_ERROR,
            "Already registered: update with PUT." if registered else "Not registered yet: register with POST.",
            405,
        )
    credentials = credentials_read(data)
    version, endpoints = _endpoints_fetch(partner, credentials.url, credentials.token)
    _party_free_check(partner, credentials)
    ours = token_new()
    with transaction.atomic():
        locked = Partner.objects.select_for_update().get(pk=partner.pk)
        if locked.incoming_token != partner.incoming_token:
            raise OcpiError(Status.CLIENT_ERROR, "The credentials changed meanwhile: try again.", 409)
        _registered(locked, credentials, version, endpoints)
        locked.outgoing_token, locked.incoming_token = credentials.token, ours
        locked.save()
    logger.info("OCPI partner %s %s (%s*%s)", partner.pk, "updated" if update else "registered", *_party(credentials))
    return our_credentials(partner=locked, token=ours, versions_url=versions_url)


def _party(credentials: PartnerCredentials) -> tuple[str, str]:
    return credentials.country_code, credentials.party_id


def _party_free_check(partner: Partner, credentials: PartnerCredentials) -> None:
    taken = (
        Partner.objects.filter(
            organization=partner.organization, country_code=credentials.country_code, party_id=credentials.party_id
        )
        .exclude(pk=partner.pk)
        .exists()
    )
    if taken:
        raise OcpiError(Status.CLIENT_ERROR, "Another partner is registered with this country code and party id.", 409)


def credentials_unregister(*, partner: Partner) -> None:
    """The partner's DELETE credentials: neither side's token opens anything any more."""
    partner.state, partner.incoming_token, partner.outgoing_token = Partner.State.SUSPENDED, None, ""
    partner.save(update_fields=["state", "incoming_token", "outgoing_token"])
    logger.info("OCPI partner %s unregistered itself", partner.pk)


# --- we register with the partner (admin) ------------------------------------------------------------------------


def partner_register(*, partner: Partner, versions_url: str, token_a: str, our_versions_url: str) -> Partner:
    """Register with a partner at ``versions_url`` using the token A it gave us; with one registered already, the
    same exchange updates the credentials (``token_a`` then unused: our current token opens its endpoints) and so
    rotates both tokens. Raises ``OcpiError`` with what went wrong."""
    calling = token_a if partner.state != Partner.State.REGISTERED else partner.outgoing_token
    version, endpoints = _endpoints_fetch(partner, versions_url, calling)
    ours = token_new()
    previous = partner.incoming_token
    Partner.objects.filter(pk=partner.pk).update(incoming_token=ours)  # the partner calls our versions with it now
    method = "PUT" if partner.state == Partner.State.REGISTERED else "POST"
    body = our_credentials(partner=partner, token=ours, versions_url=our_versions_url)
    try:
        reply = partner_call(partner, method, _any(endpoints["credentials"]), body=body, token=calling)
    except PartnerUnreachable as error:
        Partner.objects.filter(pk=partner.pk).update(incoming_token=previous)
        raise OcpiError(Status.UNABLE_TO_USE_CLIENT_API, str(error)) from error
    if not reply.ok:
        Partner.objects.filter(pk=partner.pk).update(incoming_token=previous)
        raise OcpiError(Status.UNABLE_TO_USE_CLIENT_API, f"The partner refused our credentials: {reply.message}")
    theirs = credentials_read(reply.data)
    _party_free_check(partner, theirs)
    partner.refresh_from_db()
    _registered(partner, theirs, version, endpoints)
    partner.outgoing_token = theirs.token
    partner.save()
    return partner


def _any(roles: dict[str, str]) -> str:
    """The module's URL whatever role it lists (credentials are one endpoint, listed as SENDER, RECEIVER or both)."""
    return next(iter(roles.values()))
