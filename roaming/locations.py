"""The Locations module (OCPI 2.2.1, CPO sender): the operator's sites as Locations, each accepted charge point's
connectors as EVSEs (one OCPI Connector each), and each EVSE's status pushed to the partners as it changes.

- Location ``id`` is the site's primary key; EVSE ``uid`` is ``<ocpp_id>-<connector number>`` (``~<charge point
  pk>-<number>`` when that is longer than OCPI's 36 characters: ``~`` is never in an OCPP identity); the OCPI
  Connector of an EVSE is ``"1"``. ``connector_find`` reads these ids back (for sessions and commands).
- An EVSE's status is its connector's current OCPP status (``STATUS``), ``UNKNOWN`` while its charger is offline.
- ``last_updated`` is derived (the models keep no edit time): an EVSE's is the latest of its charger's
  registration, connection and disconnection and its connector's status change; a Location's the latest of its
  site's creation and its EVSEs'. ``date_from``/``date_to`` filter on the same, in SQL.
- A status change reaches each registered partner with a locations receiver as ``PATCH
  .../{country_code}/{party_id}/{location_id}/{evse_uid}`` through the outbox (``evse_statuses_push``, registered
  as ``sessions_app.hooks.connector_status_handlers``): one pending push per EVSE and partner, the newest wins.
"""

import logging
import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from django.db import transaction
from django.db.models import DateTimeField, F, Max, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from accounts.models import CustomerAccount, Organization
from billing.selectors import tariffs_for
from roaming.client import endpoint_url
from roaming.countries import alpha_3
from roaming.models import OperatorParty, Partner
from roaming.ocpi import OcpiError, Status, ocpi_datetime
from roaming.push import push_enqueue
from sessions_app.models import ChargePoint, ChargerConnection, Connector, ConnectorStatus, Site

logger = logging.getLogger(__name__)

MODULE = "locations"
#: OCPI's EVSE uid is CiString(36); an EVSE id's part after "E" (eMI3) at most 30 letters, digits and "*".
UID_LENGTH = 36
EVSE_ID_PART_LENGTH = 30
PHYSICAL_REFERENCE_LENGTH = 16
#: The OCPI Connector of each EVSE (one connector per EVSE).
CONNECTOR_ID = "1"

#: OCPP connector status -> OCPI EVSE status.
STATUS: dict[str, str] = {
    ConnectorStatus.AVAILABLE: "AVAILABLE",
    ConnectorStatus.PREPARING: "CHARGING",
    ConnectorStatus.CHARGING: "CHARGING",
    ConnectorStatus.SUSPENDED_EV: "CHARGING",
    ConnectorStatus.SUSPENDED_EVSE: "CHARGING",
    ConnectorStatus.FINISHING: "CHARGING",
    ConnectorStatus.RESERVED: "RESERVED",
    ConnectorStatus.FAULTED: "OUTOFORDER",
    ConnectorStatus.UNAVAILABLE: "INOPERATIVE",
    ConnectorStatus.UNKNOWN: "UNKNOWN",
}
#: What every EVSE here can do: cards at the reader, and the partner's START/STOP, RESERVE_NOW and UNLOCK commands.
CAPABILITIES = ["RFID_READER", "REMOTE_START_STOP_CAPABLE", "RESERVABLE", "UNLOCK_CAPABLE"]
#: Connector type -> OCPI ConnectorType and ConnectorFormat.
STANDARD: dict[str, tuple[str, str]] = {
    Connector.ConnectorType.TYPE2: ("IEC_62196_T2", "SOCKET"),
    Connector.ConnectorType.TYPE2_CABLE: ("IEC_62196_T2", "CABLE"),
    Connector.ConnectorType.CCS2: ("IEC_62196_T2_COMBO", "CABLE"),
    Connector.ConnectorType.CHADEMO: ("CHADEMO", "CABLE"),
    Connector.ConnectorType.TYPE1: ("IEC_62196_T1", "CABLE"),
    Connector.ConnectorType.SCHUKO: ("DOMESTIC_F", "SOCKET"),
}
DC_TYPES = {Connector.ConnectorType.CCS2, Connector.ConnectorType.CHADEMO}
#: Volts: AC line to neutral (as OCPI asks for AC_3_PHASE too); DC the usual maximum of CCS and CHAdeMO chargers.
AC_VOLTAGE = 230
DC_VOLTAGE = 500


def operator_party(partner: Partner) -> OperatorParty:
    """The partner's operator as an OCPI party; ``OcpiError`` 3000 while the operator has none."""
    party = getattr(partner.organization, "ocpi_party", None)
    if party is None:
        raise OcpiError(Status.SERVER_ERROR, "The operator has no OCPI party (country code and party id) yet.", 500)
    return party


# --- ids ---------------------------------------------------------------------------------------------------------


def location_id_of(site: Site) -> str:
    return str(site.pk)


def evse_uid(connector: Connector) -> str:
    """The EVSE's uid (the connector's charge point loaded)."""
    charge_point = connector.charge_point
    uid = f"{charge_point.ocpp_id}-{connector.number}"
    return uid if len(uid) <= UID_LENGTH else f"~{charge_point.pk}-{connector.number}"


def evse_id(party: OperatorParty, connector: Connector) -> str | None:
    """The eMI3 EVSE id ``SE*CPO*E<ocpp id>*<number>`` (letters and digits, others as ``*``), or None when it
    would be too long (the field is optional)."""
    outlet = re.sub(r"[^A-Z0-9]", "*", connector.charge_point.ocpp_id.upper()) + f"*{connector.number}"
    if len(outlet) > EVSE_ID_PART_LENGTH:
        return None
    return f"{party.country_code}*{party.party_id}*E{outlet}"


def connector_find(
    *, organization: Organization, location_id: str, evse_uid: str, connector_id: str = CONNECTOR_ID
) -> Connector | None:
    """The connector the OCPI ids name at one of the operator's sites (its charge point and site loaded), or None."""
    identity, _, number = evse_uid.rpartition("-")
    if connector_id != CONNECTOR_ID or len(evse_uid) > UID_LENGTH:
        return None
    if not (location_id.isdigit() and number.isdigit() and identity):
        return None
    if identity.startswith("~"):
        if not identity[1:].isdigit():
            return None
        charge_point: dict[str, Any] = {"charge_point_id": int(identity[1:])}
    else:
        charge_point = {"charge_point__ocpp_id": identity}
    connector = (
        _connectors()
        .filter(
            charge_point__organization=organization,
            charge_point__site_id=int(location_id),
            number=int(number),
            **charge_point,
        )
        .first()
    )
    if connector is None or (
        identity.startswith("~") and len(f"{connector.charge_point.ocpp_id}-{connector.number}") <= UID_LENGTH
    ):
        return None  # a short one is only named by its OCPP identity
    return connector


# --- reads -------------------------------------------------------------------------------------------------------


def _published_charge_points() -> QuerySet[ChargePoint]:
    """Charge points shown to partners: accepted at a site, each with when its last connection ended."""
    return ChargePoint.objects.filter(
        registration_status=ChargePoint.RegistrationStatus.ACCEPTED, site__isnull=False
    ).annotate(last_disconnected_at=Max("connections__disconnected_at"))


def _connectors() -> QuerySet[Connector]:
    return Connector.objects.filter(
        charge_point__registration_status=ChargePoint.RegistrationStatus.ACCEPTED, charge_point__site__isnull=False
    ).select_related("charge_point__site")


def _latest(queryset: QuerySet, site_path: str, field: str) -> Coalesce:
    """The latest ``field`` of the rows of the site (``site_path`` leads to it), the site's creation without any."""
    latest = (
        queryset.filter(**{site_path: OuterRef("pk")})
        .order_by()
        .values(site_path)
        .annotate(latest=Max(field))
        .values("latest")[:1]
    )
    return Coalesce(Subquery(latest, output_field=DateTimeField()), F("created_at"))


def locations_for(*, organization: Organization) -> QuerySet[Site]:
    """The operator's sites with a published connector, oldest first, each with its ``last_updated``: the latest
    of its own last change and its EVSEs' (``evse_last_updated``)."""
    accepted = ChargePoint.RegistrationStatus.ACCEPTED
    connectors = Connector.objects.filter(charge_point__registration_status=accepted)
    charge_points = ChargePoint.objects.filter(pk__in=connectors.values("charge_point_id"))
    connections = ChargerConnection.objects.filter(charge_point__in=charge_points)
    return (
        Site.objects.filter(organization=organization, pk__in=connectors.values("charge_point__site_id"))
        .annotate(
            last_updated=Greatest(
                F("updated_at"),
                _latest(charge_points, "site", "created_at"),
                _latest(charge_points, "site", "connected_at"),
                _latest(connections, "charge_point__site", "disconnected_at"),
                _latest(connectors, "charge_point__site", "status_changed_at"),
            )
        )
        .select_related("organization__ocpi_party")
        .order_by("pk")
    )


def evse_status(connector: Connector, now: datetime) -> str:
    """OCPI's status of the connector's EVSE: its OCPP status while its charger is online, else UNKNOWN."""
    if not connector.charge_point.is_online(now):
        return "UNKNOWN"
    return STATUS.get(connector.status, "UNKNOWN")


def evse_last_updated(connector: Connector) -> datetime:
    """When the EVSE last changed: its charger was registered, connected or disconnected (``last_disconnected_at``
    as ``_published_charge_points`` annotates it) or its connector's status changed."""
    charge_point = connector.charge_point
    moments = [
        charge_point.created_at,
        charge_point.connected_at,
        getattr(charge_point, "last_disconnected_at", None),
        connector.status_changed_at,
    ]
    return max(moment for moment in moments if moment is not None)


def _power_type(connector: Connector) -> str:
    if connector.connector_type in DC_TYPES:
        return "DC"
    return "AC_3_PHASE" if connector.phases == 3 else "AC_1_PHASE"


def connector_object(connector: Connector, *, tariff_ids: list[str]) -> dict[str, Any]:
    """The OCPI Connector of the connector's EVSE."""
    standard, form = STANDARD.get(connector.connector_type, STANDARD[Connector.ConnectorType.TYPE2])
    power_type = _power_type(connector)
    watts = int(Decimal(connector.max_power_kw) * 1000)
    voltage = DC_VOLTAGE if power_type == "DC" else AC_VOLTAGE
    lines = 1 if power_type != "AC_3_PHASE" else 3
    data: dict[str, Any] = {
        "id": CONNECTOR_ID,
        "standard": standard,
        "format": form,
        "power_type": power_type,
        "max_voltage": voltage,
        "max_amperage": round(watts / (voltage * lines)),
        "max_electric_power": watts,
        "last_updated": ocpi_datetime(evse_last_updated(connector)),
    }
    if tariff_ids:
        data["tariff_ids"] = tariff_ids
    return data


def evse_object(connector: Connector, *, party: OperatorParty, tariff_ids: list[str], now: datetime) -> dict[str, Any]:
    """The OCPI EVSE of one connector."""
    data: dict[str, Any] = {
        "uid": evse_uid(connector),
        "status": evse_status(connector, now),
        "capabilities": CAPABILITIES,
        "connectors": [connector_object(connector, tariff_ids=tariff_ids)],
        "last_updated": ocpi_datetime(evse_last_updated(connector)),
    }
    emi3 = evse_id(party, connector)
    if emi3 is not None:
        data["evse_id"] = emi3
    physical = f"{connector.charge_point.name or connector.charge_point.ocpp_id}/{connector.number}"
    if len(physical) <= PHYSICAL_REFERENCE_LENGTH:  # what a driver reads on the charger, when it fits
        data["physical_reference"] = physical
    return data


def _coordinate(value: Decimal) -> str:
    """OCPI's coordinate text: up to 3 digits, a point and 5 to 7 decimals (the site keeps 6)."""
    return f"{Decimal(value):.6f}"


def location_object(
    site: Site, connectors: list[Connector], *, party: OperatorParty, tariff_ids: dict[int, list[str]], now: datetime
) -> dict[str, Any]:
    """The OCPI Location of a site with its published connectors as EVSEs."""
    return {
        "country_code": party.country_code,
        "party_id": party.party_id,
        "id": location_id_of(site),
        "publish": True,
        "name": site.name[:255],
        "address": site.street[:45],
        "city": site.city[:45],
        "postal_code": site.postal_code[:10],
        "country": alpha_3(site.country) or site.country.upper(),
        "coordinates": {"latitude": _coordinate(site.latitude), "longitude": _coordinate(site.longitude)},
        "evses": [
            evse_object(connector, party=party, tariff_ids=tariff_ids.get(connector.pk, []), now=now)
            for connector in connectors
        ],
        "operator": _business_details(site.organization, party),
        "time_zone": site.time_zone,
        "last_updated": ocpi_datetime(max([site.updated_at, *(evse_last_updated(c) for c in connectors)])),
    }


def _business_details(organization: Organization, party: OperatorParty) -> dict[str, str]:
    details = {"name": organization.name[:100]}
    if party.website:
        details["website"] = party.website
    return details


def _tariff_ids(
    connectors: Iterable[Connector], customer_account: CustomerAccount, now: datetime
) -> dict[int, list[str]]:
    """Connector id -> the id of the tariff the partner's drivers are priced with there now (none: empty)."""
    tariffs = tariffs_for(connectors=connectors, customer_account=customer_account, at=now)
    return {pk: [str(tariff.pk)] if tariff is not None else [] for pk, tariff in tariffs.items()}


def _site_connectors(sites: list[Site]) -> dict[int, list[Connector]]:
    """Site id -> its published connectors by charge point and number (their charge points and sites loaded)."""
    charge_points = {cp.pk: cp for cp in _published_charge_points().filter(site__in=sites).select_related("site")}
    by_site: dict[int, list[Connector]] = defaultdict(list)
    for connector in Connector.objects.filter(charge_point_id__in=list(charge_points)).order_by(
        "charge_point__ocpp_id", "number"
    ):
        connector.charge_point = charge_points[connector.charge_point_id]
        by_site[cast(int, connector.charge_point.site_id)].append(connector)  # published: at a site
    return by_site


def locations_serialize(sites: Iterable[Site], *, partner: Partner) -> list[dict[str, Any]]:
    """The Locations of these sites (of the partner's operator) as the partner sees them (its tariffs)."""
    sites = list(sites)
    party = operator_party(partner)
    now = timezone.now()
    connectors = _site_connectors(sites)
    tariff_ids = _tariff_ids(
        (c for site_connectors in connectors.values() for c in site_connectors), partner.customer_account, now
    )
    return [
        location_object(site, connectors[site.pk], party=party, tariff_ids=tariff_ids, now=now)
        for site in sites
        if connectors[site.pk]
    ]


def location_part(
    *, partner: Partner, location_id: str, evse_uid: str | None = None, connector_id: str | None = None
) -> dict[str, Any] | None:
    """The Location, its EVSE or that EVSE's Connector the ids name, or None when the operator has none such."""
    if not location_id.isdigit():
        return None
    site = locations_for(organization=partner.organization).filter(pk=int(location_id)).first()
    if site is None:
        return None
    if evse_uid is None:
        found = locations_serialize([site], partner=partner)
        return found[0] if found else None
    connector = connector_find(
        organization=partner.organization,
        location_id=location_id,
        evse_uid=evse_uid,
        connector_id=connector_id or CONNECTOR_ID,
    )
    if connector is None:
        return None
    connector.charge_point = _published_charge_points().select_related("site").get(pk=connector.charge_point_id)
    now = timezone.now()
    tariff_ids = _tariff_ids([connector], partner.customer_account, now)[connector.pk]
    if connector_id is None:
        return evse_object(connector, party=operator_party(partner), tariff_ids=tariff_ids, now=now)
    return connector_object(connector, tariff_ids=tariff_ids)


# --- status pushed -------------------------------------------------------------------------------------------------


def evse_statuses_push(charge_point_ids: list[int], connector_ids: list[int] | None = None) -> None:
    """These connectors (None: all those of these charge points) changed status, or their charger went offline or
    came back: each registered partner of their operator with a locations receiver gets their EVSEs' status
    (``PATCH``), through the outbox. One query when the operators have no such partner."""
    partners = _receivers(organization__charge_points__pk__in=charge_point_ids)
    if not partners:
        return
    charge_points = {cp.pk: cp for cp in _published_charge_points().filter(pk__in=charge_point_ids)}
    connectors = Connector.objects.filter(charge_point_id__in=list(charge_points)).order_by("charge_point_id", "number")
    if connector_ids is not None:
        connectors = connectors.filter(pk__in=connector_ids)
    now = timezone.now()
    with transaction.atomic():
        for connector in connectors:
            connector.charge_point = charge_points[connector.charge_point_id]
            uid = evse_uid(connector)
            body = {"status": evse_status(connector, now), "last_updated": ocpi_datetime(evse_last_updated(connector))}
            for partner in partners:
                if partner.organization_id == connector.charge_point.organization_id:
                    url = _receiver_url(partner, connector.charge_point.site_id, uid)
                    push_enqueue(partner=partner, module=MODULE, key=f"evse:{uid}", method="PATCH", url=url, body=body)


def locations_push(site_ids: list[int]) -> None:
    """``hooks.site_changed_handlers``: an operator changed these sites; each registered partner of their operator
    with a locations receiver gets the whole Location again (``PUT``), through the outbox. A site with no published
    connector is no Location: nothing is sent."""
    sites = list(Site.objects.filter(pk__in=site_ids).select_related("organization__ocpi_party"))
    partners = _receivers(organization_id__in={site.organization_id for site in sites})
    with transaction.atomic():
        for partner in partners:
            own = [site for site in sites if site.organization_id == partner.organization_id]
            for location in locations_serialize(own, partner=partner):
                push_enqueue(
                    partner=partner,
                    module=MODULE,
                    key=f"location:{location['id']}",
                    method="PUT",
                    url=_receiver_url(partner, location["id"]),
                    body=location,
                )


def _receivers(**operators) -> list[Partner]:
    """The registered partners with a locations receiver of the operators (``operators``: a filter) that are an
    OCPI party: who is sent what changes."""
    partners = (
        Partner.objects.filter(state=Partner.State.REGISTERED, organization__ocpi_party__isnull=False, **operators)
        .select_related("organization__ocpi_party", "customer_account")
        .distinct()
    )
    return [partner for partner in partners if endpoint_url(partner, MODULE)]


def _receiver_url(partner: Partner, *ids: object) -> str:
    """The partner's locations receiver URL of a Location (its id) or an EVSE (location id, EVSE uid)."""
    party = partner.organization.ocpi_party
    base = str(endpoint_url(partner, MODULE)).rstrip("/")
    return "/".join([base, party.country_code, party.party_id, *map(str, ids)])
