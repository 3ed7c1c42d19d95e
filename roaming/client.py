"""Calls to a partner's OCPI endpoints: our token, ids and routing headers sent, its envelope read back."""

import logging
import uuid
from dataclasses import dataclass
from typing import Any

import requests

from roaming.models import Partner
from roaming.ocpi import token_encode

logger = logging.getLogger(__name__)

#: Seconds a partner has to answer one call.
CALL_TIMEOUT = 10


class PartnerUnreachable(Exception):
    """The partner did not answer with an OCPI envelope: down, timed out, a server error or not OCPI."""


@dataclass(frozen=True)
class Reply:
    """A partner's answer: HTTP status, the envelope's status code and message, its data."""

    http_status: int
    status_code: int
    message: str
    data: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.http_status < 300 and 1000 <= self.status_code < 2000


def routing_headers(partner: Partner) -> dict[str, str]:
    """Who sends (the operator's party) and who receives (the partner), as OCPI 2.2.1 asks of every request."""
    headers = {}
    party = getattr(partner.organization, "ocpi_party", None)
    if party is not None:
        headers["OCPI-from-country-code"], headers["OCPI-from-party-id"] = party.country_code, party.party_id
    if partner.party_id:
        headers["OCPI-to-country-code"], headers["OCPI-to-party-id"] = partner.country_code, partner.party_id
    return headers


def partner_call(
    partner: Partner,
    method: str,
    url: str,
    *,
    body: Any = None,
    token: str | None = None,
    params=None,
    timeout: float = CALL_TIMEOUT,
) -> Reply:
    """Call ``url`` at the partner with our token (``token``, else the partner's ``outgoing_token``), waiting at most
    ``timeout`` seconds. Raises ``PartnerUnreachable`` when no OCPI envelope comes back."""
    request_id = str(uuid.uuid4())
    headers = {
        "Authorization": token_encode(token if token is not None else partner.outgoing_token),
        "X-Request-ID": request_id,
        "X-Correlation-ID": request_id,
        **routing_headers(partner),
    }
    try:
        response = requests.request(method, url, json=body, headers=headers, params=params, timeout=timeout)
    except requests.RequestException as error:
        raise PartnerUnreachable(f"{method} {url}: {error}") from error
    try:
        answer = response.json()
    except ValueError as error:
        raise PartnerUnreachable(f"{method} {url}: HTTP {response.status_code}, not JSON") from error
    if response.status_code >= 500 or not isinstance(answer, dict) or "status_code" not in answer:
        raise PartnerUnreachable(f"{method} {url}: HTTP {response.status_code}, {str(answer)[:200]}")
    try:
        status_code = int(answer["status_code"])
    except (TypeError, ValueError) as error:
        raise PartnerUnreachable(f"{method} {url}: status_code {answer['status_code']!r}") from error
    return Reply(response.status_code, status_code, str(answer.get("status_message") or ""), answer.get("data"))


def endpoint_url(partner: Partner, module: str, role: str = "RECEIVER") -> str | None:
    """The partner's URL of ``module`` in ``role`` (its version details, stored at registration)."""
    return (partner.endpoints.get(module) or {}).get(role)
