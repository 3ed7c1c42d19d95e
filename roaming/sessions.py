"""OCPI 2.2.1 Sessions, CPO sender side (README "Roaming"): a partner's driver charging here, told to the partner.

A session whose card is a partner's token (``IdTag.roaming_token``) is the partner's: a ``RoamingSession`` records
it (partner, token, the real-time authorization's reference) once the start has committed
(``hooks.session_changed_handlers``). The partner's sessions receiver then gets the whole Session by PUT at the
start, and a PATCH of what changed (energy, cost so far, status, end) as meter values arrive and at the stop; both go
through the outbox under the key ``session:<id>``, so a stream of readings to a partner that is slow or offline
collapses to the newest state. A PUT the partner has not acknowledged yet takes the newest whole Session instead of
a PATCH coming after it (a partner never gets a PATCH of a session it does not know). Partners also pull their
sessions (``GET /ocpi/2.2.1/sessions``, ``roaming.api.sessions``).

The session's location, EVSE and connector have the Locations module's ids (``roaming.locations``).
"""

import logging
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from billing.quotes import latest_register_wh, session_cost_estimate
from core import money
from roaming.authorization import authorization_reference
from roaming.client import endpoint_url
from roaming.commands import authorization_reference_for, command_start_recent
from roaming.locations import CONNECTOR_ID, evse_uid, location_id_of, operator_party
from roaming.models import Partner, PushItem, RoamingSession, RoamingToken
from roaming.ocpi import ocpi_datetime
from roaming.push import push_enqueue
from sessions_app.models import ChargingSession, Connector

logger = logging.getLogger(__name__)

MODULE = "sessions"
#: What a session's object reads besides the session (one query for a page of them).
RELATED = (
    "session__connector__charge_point__site",
    "session__charge_point__site",
    "token",
    "partner__organization__ocpi_party",
)
_KWH = Decimal("0.001")


def location_ids(connector: Connector) -> tuple[str, str, str]:
    """(location id, EVSE uid, connector id) of ``connector`` as the Locations module names them (its charge point
    loaded)."""
    site = connector.charge_point.site
    return location_id_of(site) if site is not None else "", evse_uid(connector), CONNECTOR_ID


def cdr_token(token: RoamingToken) -> dict:
    """The OCPI CdrToken of a partner's token."""
    return {
        "country_code": token.country_code,
        "party_id": token.party_id,
        "uid": token.uid,
        "type": token.type,
        "contract_id": token.contract_id,
    }


def auth_method(roaming: RoamingSession) -> str:
    """COMMAND when the partner's START_SESSION or RESERVE_NOW authorized it there, AUTH_REQUEST when the partner
    authorized the token in real time, else WHITELIST (its pushed list)."""
    session = roaming.session
    if command_start_recent(token=roaming.token, charge_point=session.charge_point, at=session.started_at):
        return "COMMAND"
    if roaming.authorization_reference or roaming.token.authorized_until is not None:
        return "AUTH_REQUEST"
    return "WHITELIST"


def price_object(net: Decimal, gross: Decimal, currency: str) -> dict:
    """An OCPI Price: numbers on the wire, each rounded to the currency's minor unit."""
    return {"excl_vat": float(money.quantize(net, currency)), "incl_vat": float(money.quantize(gross, currency))}


def kwh(energy_wh: int) -> float:
    return float((Decimal(energy_wh) / 1000).quantize(_KWH))


def session_object(roaming: RoamingSession, *, now: datetime) -> dict:
    """The OCPI 2.2.1 Session of a partner's session as it stands at ``now``."""
    session = roaming.session
    party = operator_party(roaming.partner)
    data: dict = {
        "country_code": party.country_code,
        "party_id": party.party_id,
        "id": str(session.pk),
        "start_date_time": ocpi_datetime(session.started_at),
        "cdr_token": cdr_token(roaming.token),
        "auth_method": auth_method(roaming),
        **_changing_fields(session, now=now),
    }
    if roaming.authorization_reference:
        data["authorization_reference"] = roaming.authorization_reference
    if session.connector is not None:
        data["location_id"], data["evse_uid"], data["connector_id"] = location_ids(session.connector)
    return data


def _changing_fields(session: ChargingSession, *, now: datetime) -> dict:
    """The Session's fields that change while it runs and when it stops: what a PATCH carries."""
    estimate = session_cost_estimate(session=session, now=now)
    data: dict = {
        "kwh": kwh(_energy_wh(session, now)),
        "currency": estimate["currency"] if estimate else settings.DEFAULT_CURRENCY,
        "status": "COMPLETED" if session.state == ChargingSession.State.COMPLETED else "ACTIVE",
        "last_updated": ocpi_datetime(now),
    }
    if session.stopped_at is not None:
        data["end_date_time"] = ocpi_datetime(session.stopped_at)
    if estimate is not None:
        data["total_cost"] = price_object(estimate["net"], estimate["gross"], estimate["currency"])
    return data


def _energy_wh(session: ChargingSession, now: datetime) -> int:
    if session.state == ChargingSession.State.COMPLETED:
        return session.energy_wh or 0
    return max(0, latest_register_wh(session, now) - session.meter_start_wh)


def session_push(*, roaming: RoamingSession, now: datetime) -> PushItem | None:
    """Send the session's state to the partner's sessions receiver (module docstring): the whole Session by PUT
    until the partner has one, else a PATCH of what changes. None when the partner has no sessions receiver or is not
    registered (its credentials deleted)."""
    base = endpoint_url(roaming.partner, MODULE)
    if not base or roaming.partner.state != Partner.State.REGISTERED:
        return None
    party = operator_party(roaming.partner)
    key = f"session:{roaming.session_id}"
    url = f"{base.rstrip('/')}/{party.country_code}/{party.party_id}/{roaming.session_id}"
    put_acknowledged = PushItem.objects.filter(
        partner=roaming.partner, key=key, method="PUT", status=PushItem.Status.SENT
    ).exists()
    if put_acknowledged:
        method, body = "PATCH", _changing_fields(roaming.session, now=now)
    else:
        method, body = "PUT", session_object(roaming, now=now)
    RoamingSession.objects.filter(pk=roaming.pk).update(last_updated=now)
    return push_enqueue(partner=roaming.partner, module=MODULE, key=key, method=method, url=url, body=body)


def roaming_session_ensure(session: ChargingSession) -> RoamingSession | None:
    """The session's ``RoamingSession``, made when its card is a partner's token; None when it is not."""
    existing = RoamingSession.objects.select_related(*RELATED).filter(session=session).first()
    if existing is not None:
        return existing
    token = RoamingToken.objects.filter(id_tag_id=session.id_tag_id).first() if session.id_tag_id else None
    if token is None:
        return None
    RoamingSession.objects.get_or_create(
        session=session,
        defaults={
            "partner_id": token.partner_id,
            "token": token,
            "authorization_reference": (
                authorization_reference(token) or authorization_reference_for(session=session, token=token)
            )[:36],
        },
    )
    return RoamingSession.objects.select_related(*RELATED).get(session=session)


def partner_sessions_changed(session_ids: list[int]) -> None:
    """``hooks.session_changed_handlers``: the partners' sessions among these are recorded and pushed. One query
    when none is a partner's."""
    now = timezone.now()
    for session in ChargingSession.objects.filter(pk__in=session_ids, id_tag__roaming_token__isnull=False):
        roaming = roaming_session_ensure(session)
        if roaming is not None:
            session_push(roaming=roaming, now=now)


def partner_sessions(partner: Partner) -> QuerySet[RoamingSession]:
    """The partner's sessions for its GET list, oldest change first."""
    return RoamingSession.objects.filter(partner=partner).select_related(*RELATED).order_by("last_updated", "pk")
