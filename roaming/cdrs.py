"""OCPI 2.2.1 CDRs, CPO sender side (README "Roaming"): a partner's session's charge detail record, sent once.

- When a partner's session is priced (billing freezes its ``SessionPrice`` in its session-completed handler), its
  ``Cdr`` is made from that price (``cdr_make_by_id``, the session-completed handler registered after billing's): the
  OCPI CDR object frozen in ``Cdr.data``, never changed after. Not priced yet, the handler raises, so the post-stop
  work tries again later (``sessions_app.post_stop``).
- Exactly once: one first ``Cdr`` per session (a unique constraint; a credit note on the session later makes a
  credit CDR and the next version, ``roaming.cdr_credits``); the CDR and its push (the outbox's ``POST`` under
  ``cdr:<id>``) are stored in one transaction, so a run twice, two at once, or one after a crash between the price
  and the CDR make one CDR and one push. The outbox sends it after the commit and retries with back-off until the
  partner acknowledges it; then ``Cdr.acknowledged_at`` is set (``cdr_acknowledged``, a
  ``push.acknowledged_handlers``).
- The record says what the price says: its tariff snapshot (``tariffs``), its lines as charging periods (ENERGY,
  TIME, PARKING_TIME dimensions), its totals per component, and the charger's signed meter values
  (``signed_data``) when it sent any.
- Partners also pull their CDRs (``GET /ocpi/2.2.1/cdrs``, ``roaming.api.cdrs``).
"""

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from billing.models import CreditNote, SessionPrice
from billing.selectors import tariff_spec_from_snapshot
from core import money
from roaming.client import endpoint_url
from roaming.locations import connector_object, evse_id, location_object, operator_party
from roaming.models import Cdr, Partner, PushItem, RoamingSession
from roaming.ocpi import ocpi_datetime
from roaming.push import push_enqueue
from roaming.sessions import (
    auth_method,
    cdr_token,
    kwh,
    location_ids,
    price_object,
    roaming_session_ensure,
    session_push,
)
from roaming.tariffs import tariff_spec_object
from sessions_app.models import ChargingSession
from sessions_app.signed_meter import public_key_for_export, session_signed_values

logger = logging.getLogger(__name__)

MODULE = "cdrs"
_HOURS = Decimal("0.0001")
#: Price line component -> the CDR dimension measuring it (FLAT has none).
_DIMENSIONS = {"ENERGY": "ENERGY", "TIME": "TIME", "PARKING_TIME": "PARKING_TIME"}
#: Price line component -> the CDR's total cost of it.
_COMPONENT_TOTALS = {
    "FLAT": "total_fixed_cost",
    "ENERGY": "total_energy_cost",
    "TIME": "total_time_cost",
    "PARKING_TIME": "total_parking_cost",
}
#: A signed value's OCPP context -> OCPI SignedValue nature.
_NATURE = {"Transaction.Begin": "Start", "Transaction.End": "End"}
#: OCPI SignedData limits: signed_data String(5000), public_key String(512), plain_data String(512).
_SIGNED_DATA_LENGTH = 5000
#: What a CDR's location repeats of the Location.
_LOCATION_FIELDS = ("name", "address", "city", "postal_code", "state", "country", "coordinates")
_PUBLIC_KEY_LENGTH = 512


class CdrNotReady(Exception):
    """The session has no price yet: its CDR waits (the post-stop work tries again)."""


def cdr_id(session: ChargingSession) -> str:
    return f"CDR{session.pk}"


def cdr_make_by_id(session_id: int) -> None:
    """``hooks.session_completed_handlers`` (after billing's): the CDR of a partner's completed session."""
    session = ChargingSession.objects.filter(pk=session_id, id_tag__roaming_token__isnull=False).first()
    if session is None or session.state != ChargingSession.State.COMPLETED:
        return
    roaming = roaming_session_ensure(session)
    if roaming is not None:
        cdr_make(roaming=roaming)


def cdr_make(*, roaming: RoamingSession, now: datetime | None = None) -> Cdr:
    """The session's CDR, made and queued for the partner once; raises ``CdrNotReady`` while it is unpriced."""
    existing = Cdr.objects.filter(session_id=roaming.session_id, credit=False).order_by("-version").first()
    if existing is not None:
        return existing
    price = SessionPrice.objects.filter(session_id=roaming.session_id).first()
    if price is None:
        raise CdrNotReady(
            f"Session {roaming.session_id} has no price yet: its CDR waits for it (does a tariff apply to the "
            f"partner's sessions there?)."
        )
    now = now or timezone.now()
    credits = list(CreditNote.objects.filter(session_id=roaming.session_id).order_by("pk"))
    data = cdr_object(roaming, price, ocpi_id=cdr_id(roaming.session), now=now, credits=credits)
    with transaction.atomic():
        cdr, created = Cdr.objects.get_or_create(
            session_id=roaming.session_id,
            version=1,
            credit=False,
            defaults={
                "ocpi_id": data["id"],
                "partner": roaming.partner,
                "data": data,
                "created_at": now,
                "credited_through": credits[-1] if credits else None,
            },
        )
        if created:
            cdr_push(cdr)
            session_push(roaming=roaming, now=now)  # the session's final cost, and COMPLETED should a push be lost
    return cdr


def cdr_push(cdr: Cdr) -> PushItem | None:
    url = endpoint_url(cdr.partner, MODULE)
    if not url:
        logger.warning("Partner %s has no CDRs receiver: CDR %s waits for it to be pulled.", cdr.partner_id, cdr)
        return None
    # A partner whose credentials were deleted gets it once registered again (the sweep sends registered ones).
    registered = cdr.partner.state == Partner.State.REGISTERED
    return push_enqueue(
        partner=cdr.partner,
        module=MODULE,
        key=f"cdr:{cdr.ocpi_id}",
        method="POST",
        url=url,
        body=cdr.data,
        send_now=registered,
    )


def cdr_acknowledged(item: PushItem, at: datetime) -> None:
    """``push.acknowledged_handlers``: the partner took the CDR."""
    if item.module == MODULE and item.key.startswith("cdr:"):
        Cdr.objects.filter(partner_id=item.partner_id, ocpi_id=item.key.removeprefix("cdr:")).filter(
            acknowledged_at__isnull=True
        ).update(acknowledged_at=at)


def partner_cdrs(partner: Partner) -> QuerySet[Cdr]:
    """The partner's CDRs for its GET list, oldest first."""
    return Cdr.objects.filter(partner=partner).order_by("created_at", "pk")


# --- the CDR object --------------------------------------------------------------------------------------------


def cdr_object(
    roaming: RoamingSession,
    price: SessionPrice,
    *,
    ocpi_id: str,
    now: datetime,
    credits: Sequence[CreditNote] = (),
) -> dict[str, Any]:
    """The OCPI 2.2.1 CDR of a priced partner's session, less the ``credits`` given back on it
    (``roaming.cdr_credits``)."""
    session = roaming.session
    party = operator_party(roaming.partner)
    country_code, party_id = party.country_code, party.party_id
    currency = price.currency
    stopped_at = session.stopped_at or session.started_at
    lines = price.breakdown
    tariff_id = str(price.tariff_id) if price.tariff_id else f"P{price.pk}"
    data: dict[str, Any] = {
        "country_code": country_code,
        "party_id": party_id,
        "id": ocpi_id,
        "start_date_time": ocpi_datetime(session.started_at),
        "end_date_time": ocpi_datetime(stopped_at),
        "session_id": str(session.pk),
        "cdr_token": cdr_token(roaming.token),
        "auth_method": auth_method(roaming),
        "cdr_location": cdr_location(roaming, now=now),
        "currency": currency,
        "tariffs": [
            tariff_spec_object(
                tariff_spec_from_snapshot(price.tariff_snapshot), tariff_id=tariff_id, party=party, last_updated=now
            )
        ],
        "charging_periods": charging_periods(
            lines, start=session.started_at, energy_wh=price.energy_wh, tariff_id=tariff_id
        ),
        "total_cost": price_object(price.net_total, price.gross_total, currency),
        "total_energy": kwh(price.energy_wh),
        "total_time": _hours((stopped_at - session.started_at).total_seconds()),
        "last_updated": ocpi_datetime(now),
    }
    if roaming.authorization_reference:
        data["authorization_reference"] = roaming.authorization_reference
    for component, field in _COMPONENT_TOTALS.items():
        net = [Decimal(line["net_amount"]) for line in lines if line["component"] == component]
        if net:
            total = sum(net, Decimal(0))
            data[field] = price_object(total, total + money.vat_on_net(total, price.vat_rate, currency), currency)
    parking = [Decimal(line["quantity"]) for line in lines if line["component"] == "PARKING_TIME"]
    if parking:
        data["total_parking_time"] = float(sum(parking, Decimal(0)).quantize(_HOURS))
    signed = signed_data(session)
    if signed is not None:
        data["signed_data"] = signed
    if credits:
        _credits_take_off(data, price, credits)
    return data


def _credits_take_off(data: dict[str, Any], price: SessionPrice, credits: Sequence[CreditNote]) -> None:
    """What is left to pay once the credits are given back: the total less them; the costs per component left out
    (they no longer add up to it); a remark saying what was credited and why."""
    net = price.net_total - sum((credit.net_amount for credit in credits), Decimal(0))
    gross = price.gross_total - sum((credit.gross_amount for credit in credits), Decimal(0))
    data["total_cost"] = price_object(net, gross, price.currency)
    for field in _COMPONENT_TOTALS.values():
        data.pop(field, None)
    credited = money.quantize(price.gross_total - gross, price.currency)
    reasons = "; ".join(credit.reason for credit in credits)
    data["remark"] = f"Credited {credited} {price.currency} incl. VAT: {reasons}"[:255]


def _hours(seconds: float) -> float:
    return float((Decimal(str(seconds)) / 3600).quantize(_HOURS))


def cdr_location(roaming: RoamingSession, *, now: datetime) -> dict[str, Any]:
    """Where the session was, as the Locations module describes it now (frozen with the CDR)."""
    session = roaming.session
    connector = session.connector
    site = session.charge_point.site
    party = operator_party(roaming.partner)
    data: dict[str, Any] = {}
    if site is not None:
        described = location_object(site, [], party=party, tariff_ids={}, now=now)
        data |= {name: described[name] for name in _LOCATION_FIELDS if name in described}
    if connector is not None:
        data["id"], data["evse_uid"], data["connector_id"] = location_ids(connector)
        described = connector_object(connector, tariff_ids=[])
        data |= {
            "connector_standard": described["standard"],
            "connector_format": described["format"],
            "connector_power_type": described["power_type"],
        }
        emi3 = evse_id(party, connector)
        data["evse_id"] = emi3 if emi3 is not None else data["evse_uid"]
    return data


def charging_periods(lines: list[dict], *, start: datetime, energy_wh: int, tariff_id: str) -> list[dict]:
    """The price's lines as OCPI charging periods: one per start time, a dimension per metered component (kWh,
    hours); a price of flat fees only is one period of its energy."""
    dimensions: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for line in lines:
        dimension = _DIMENSIONS.get(line["component"])
        if dimension is not None:
            dimensions[line["starts_at"]][dimension] += Decimal(line["quantity"])
    if not dimensions:
        return [
            {
                "start_date_time": ocpi_datetime(start),
                "dimensions": [{"type": "ENERGY", "volume": kwh(energy_wh)}],
                "tariff_id": tariff_id,
            }
        ]
    return [
        {
            "start_date_time": ocpi_datetime(datetime.fromisoformat(starts_at)),
            "dimensions": [{"type": kind, "volume": float(volume)} for kind, volume in sorted(volumes.items())],
            "tariff_id": tariff_id,
        }
        for starts_at, volumes in sorted(dimensions.items(), key=lambda item: datetime.fromisoformat(item[0]))
    ]


def signed_data(session: ChargingSession) -> dict[str, Any] | None:
    """The charger's signed meter values of the session as OCPI SignedData (those of the first value's format), or
    None when it sent none."""
    values = [value for value in session_signed_values(session) if len(value.data) <= _SIGNED_DATA_LENGTH]
    if not values:
        return None
    encoding = values[0].encoding
    data: dict[str, Any] = {
        "encoding_method": encoding[:36],
        "signed_values": [
            {
                "nature": _NATURE.get(value.context, "Intermediate"),
                "plain_data": "" if value.value_wh is None else f"{value.value_wh.normalize():f}",
                "signed_data": value.data,
            }
            for value in values
            if value.encoding == encoding
        ],
    }
    key = public_key_for_export(session.charge_point)
    if key and len(key) <= _PUBLIC_KEY_LENGTH:
        data["public_key"] = key
    return data
