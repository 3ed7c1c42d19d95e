"""OCPI 2.2.1's common parts, for every module's views (OCPI 2.2.1 part "Transport and format").

- Every answer is the envelope ``{data, status_code, status_message, timestamp}``: 1000 success, 2xxx an error
  of the partner's request (2001 invalid parameters, 2003 unknown location, 2004 unknown token), 3xxx ours.
- ``X-Request-ID`` and ``X-Correlation-ID`` are echoed (a new id when the partner sent none).
- The partner is known by its token (``Authorization: Token <base64>``; the raw token as 2.1.1 sent it is also
  taken): an unknown one is answered HTTP 401. Token A (``Partner.State.PENDING``) opens only the versions and
  credentials endpoints.
- Requests naming a receiver (``OCPI-to-country-code``/``OCPI-to-party-id``) that is not the operator are refused
  (a hub's routing to someone else).
- Lists paginate with ``offset``/``limit`` (``limit`` capped at ``MAX_LIMIT``), filter by ``date_from`` (inclusive)
  and ``date_to`` (exclusive) on ``last_updated``, and say ``X-Total-Count``, ``X-Limit`` and a ``Link`` to the next
  page.
"""

import base64
import binascii
import json
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from roaming.models import Partner

logger = logging.getLogger(__name__)

VERSION = "2.2.1"
#: The most objects one page holds, whatever the partner asks.
MAX_LIMIT = 100
#: The largest request body taken (an OCPI object is a few kB; a location with many EVSEs some hundred).
MAX_BODY_BYTES = 1_000_000


class Status(IntEnum):
    SUCCESS = 1000
    CLIENT_ERROR = 2000
    INVALID_PARAMETERS = 2001
    NOT_ENOUGH_INFORMATION = 2002
    UNKNOWN_LOCATION = 2003
    UNKNOWN_TOKEN = 2004
    SERVER_ERROR = 3000
    UNABLE_TO_USE_CLIENT_API = 3001
    UNSUPPORTED_VERSION = 3002
    NO_MATCHING_ENDPOINTS = 3003
    UNKNOWN_RECEIVER = 4001


class OcpiError(Exception):
    """A request refused with an OCPI status (and the HTTP status that goes with it)."""

    def __init__(self, status: Status, message: str, http_status: int = 400):
        super().__init__(message)
        self.status, self.message, self.http_status = status, message, http_status


def invalid(message: str) -> OcpiError:
    return OcpiError(Status.INVALID_PARAMETERS, message)


def token_encode(token: str) -> str:
    """The Authorization header's value for a token we present (2.2.1: base64 of the token)."""
    return "Token " + base64.b64encode(token.encode()).decode()


def _presented_tokens(header: str) -> list[str]:
    """The token in ``Authorization: Token ...``: base64-decoded as 2.2.1 sends it, and as given (2.1.1)."""
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() != "token" or not value:
        return []
    tokens = [value]
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return tokens
    if decoded.isprintable() and decoded:
        tokens.insert(0, decoded)
    return tokens


def partner_authenticate(request: HttpRequest, *, registration: bool) -> Partner:
    """The partner whose token the request presents; ``registration`` lets token A (a partner yet to register)
    in. Raises ``OcpiError`` (HTTP 401) otherwise."""
    tokens = _presented_tokens(request.headers.get("Authorization", ""))
    partner = (
        Partner.objects.select_related("organization", "customer_account").filter(incoming_token__in=tokens).first()
        if tokens
        else None
    )
    allowed = {Partner.State.REGISTERED, Partner.State.PENDING} if registration else {Partner.State.REGISTERED}
    if partner is None or partner.state not in allowed:
        raise OcpiError(Status.CLIENT_ERROR, "Unknown or missing token.", http_status=401)
    return partner


def ocpi_datetime(moment: datetime) -> str:
    """OCPI's DateTime: RFC 3339 in UTC with a ``Z``, at most 25 characters (string(25)), so milliseconds at most:
    ``2026-01-31T12:00:00.123Z`` (``core.timeutil.utc_text`` writes microseconds: 27 characters)."""
    moment = moment.astimezone(UTC)
    milliseconds = f".{moment.microsecond // 1000:03d}" if moment.microsecond >= 1000 else ""
    return f"{moment:%Y-%m-%dT%H:%M:%S}{milliseconds}Z"


def ocpi_datetime_parse(raw: Any) -> datetime | None:
    """An OCPI DateTime read (one without a zone designator is UTC, as OCPI's timestamps all are); None when
    ``raw`` is no date and time."""
    moment = parse_datetime(raw) if isinstance(raw, str) else None
    if moment is None:
        return None
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment, UTC)


def envelope(data: Any = None, status: Status = Status.SUCCESS, message: str = "Success") -> dict[str, Any]:
    body: dict[str, Any] = {
        "status_code": int(status),
        "status_message": message,
        "timestamp": ocpi_datetime(timezone.now()),
    }
    if data is not None:
        body["data"] = data
    return body


@dataclass
class Answer:
    """What a module's handler returns: the data, and any headers (pagination) to add."""

    data: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    http_status: int = 200


@method_decorator(csrf_exempt, name="dispatch")
class OcpiView(View):
    """A module endpoint: the partner authenticated, the JSON body read, errors and ids answered as OCPI says.
    Handlers (``get``, ``put``, ...) take the request and the URL's arguments and return an ``Answer``."""

    #: Whether token A opens it (versions and credentials).
    registration = False
    partner: Partner
    body: Any = None

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        request_id = request.headers.get("X-Request-ID") or str(uuid.uuid4())
        correlation_id = request.headers.get("X-Correlation-ID") or request_id
        try:
            self.partner = partner_authenticate(request, registration=self.registration)
            self._receiver_check(request)
            self.body = self._body(request)
            answer: Answer | HttpResponse = super().dispatch(request, *args, **kwargs)  # type: ignore[assignment]
            if isinstance(answer, HttpResponse):  # the method is not allowed
                raise OcpiError(Status.CLIENT_ERROR, f"{request.method} is not offered here.", 405)
            response = JsonResponse(envelope(answer.data), status=answer.http_status)
            for name, value in answer.headers.items():
                response[name] = value
        except OcpiError as error:
            response = JsonResponse(envelope(None, error.status, error.message), status=error.http_status)
        except Exception:
            logger.exception("OCPI %s %s failed", request.method, request.path)
            response = JsonResponse(envelope(None, Status.SERVER_ERROR, "Internal error."), status=500)
        response["X-Request-ID"], response["X-Correlation-ID"] = request_id, correlation_id
        return response

    def _receiver_check(self, request: HttpRequest) -> None:
        to_country, to_party = request.headers.get("OCPI-to-country-code"), request.headers.get("OCPI-to-party-id")
        if not (to_country or to_party):
            return
        party = getattr(self.partner.organization, "ocpi_party", None)
        if (
            party is None
            or (to_country or "").upper() != party.country_code
            or (to_party or "").upper() != party.party_id
        ):
            raise OcpiError(Status.UNKNOWN_RECEIVER, "The receiver named in OCPI-to-* is not this party.", 404)

    def _body(self, request: HttpRequest) -> Any:
        if request.method not in ("PUT", "PATCH", "POST"):
            return None
        if len(request.body) > MAX_BODY_BYTES:
            raise OcpiError(Status.INVALID_PARAMETERS, "The request body is too large.", 413)
        if not request.body:
            return None
        try:
            return json.loads(request.body)
        except (ValueError, UnicodeDecodeError) as error:
            raise invalid(f"The body is not JSON: {error}") from error


# --- lists ---------------------------------------------------------------------------------------------------------


def _moment(request: HttpRequest, name: str) -> datetime | None:
    raw = request.GET.get(name)
    if raw is None:
        return None
    moment = ocpi_datetime_parse(raw)
    if moment is None:
        raise invalid(f"{name} is not an ISO 8601 date and time.")
    return moment


def _count(request: HttpRequest, name: str, default: int) -> int:
    raw = request.GET.get(name)
    if raw is None:
        return default
    if not raw.isdigit():
        raise invalid(f"{name} must be a whole number of 0 or more.")
    return int(raw)


def paginated(
    request: HttpRequest,
    queryset: QuerySet,
    serialize: Callable[[Iterable], list[dict]],
    *,
    updated_field: str = "last_updated",
) -> Answer:
    """One page of ``queryset`` (ordered) filtered by ``date_from``/``date_to`` on ``updated_field``, serialized
    by ``serialize`` (given the page's rows), with the pagination headers."""
    date_from, date_to = _moment(request, "date_from"), _moment(request, "date_to")
    if date_from is not None:
        queryset = queryset.filter(**{f"{updated_field}__gte": date_from})
    if date_to is not None:
        queryset = queryset.filter(**{f"{updated_field}__lt": date_to})
    offset = _count(request, "offset", 0)
    limit = min(_count(request, "limit", MAX_LIMIT), MAX_LIMIT)
    total = queryset.count()
    headers = {"X-Total-Count": str(total), "X-Limit": str(MAX_LIMIT)}
    if offset + limit < total:
        query = request.GET.copy()
        query["offset"], query["limit"] = str(offset + limit), str(limit)
        headers["Link"] = f'<{request.build_absolute_uri(request.path)}?{query.urlencode()}>; rel="next"'
    return Answer(serialize(queryset[offset : offset + limit]), headers)
