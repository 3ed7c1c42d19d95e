"""What a recompute covers, and its lock: the connectors chosen, their sites and charge points with time zones.

A recompute rewrites the SiteHour rows of every site it touches (a site's peak counts all its connectors), so
it locks per site: two writers of the same site's rows take turns, writers of different sites never wait on
each other. A charger without a site is its own lock.
"""

from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Q

from accounts.models import Organization
from billing.selectors import organization_time_zone
from sessions_app.models import ChargePoint, Connector

#: pg_advisory_xact_lock's first key: one namespace for sites, one for chargers without a site.
SITE_LOCKS, CHARGER_LOCKS = 7401, 7402


@dataclass(frozen=True)
class ConnectorRef:
    id: int
    charge_point_id: int
    organization_id: int
    site_id: int | None


@dataclass(frozen=True)
class ChargePointRef:
    organization_id: int
    site_id: int | None
    time_zone: str  # the site's, or its operator's without a site


@dataclass
class Plan:
    """The connectors whose hours are recomputed and the sites and charge points that come with them."""

    connectors: list[ConnectorRef]
    site_connectors: dict[int, list[int]] = field(default_factory=dict)  # site -> all its connectors
    charge_points: dict[int, ChargePointRef] = field(default_factory=dict)

    @property
    def connector_ids(self) -> set[int]:
        return {c.id for c in self.connectors}


def plan_of(connector_filter: Q) -> Plan:
    rows = (
        Connector.objects.filter(connector_filter)
        .order_by("pk")
        .values_list("pk", "charge_point_id", "charge_point__organization_id", "charge_point__site_id")
    )
    plan = Plan([ConnectorRef(*row) for row in rows])
    sites = {c.site_id for c in plan.connectors if c.site_id is not None}
    for pk, site_id in Connector.objects.filter(charge_point__site_id__in=sites).values_list(
        "pk", "charge_point__site_id"
    ):
        plan.site_connectors.setdefault(site_id, []).append(pk)
    charge_points = {c.charge_point_id for c in plan.connectors}
    fallback: dict[int, str] = {}
    for cp_id, org_id, site_id, tz in ChargePoint.objects.filter(pk__in=charge_points).values_list(
        "pk", "organization_id", "site_id", "site__time_zone"
    ):
        if tz is None:  # a charger without a site yet: its operator's time zone
            if org_id not in fallback:
                fallback[org_id] = organization_time_zone(Organization.objects.get(pk=org_id))
            tz = fallback[org_id]
        plan.charge_points[cp_id] = ChargePointRef(org_id, site_id, tz)
    return plan


def lock(plan: Plan) -> None:
    """Wait for the plan's sites (and chargers without one), in one order so two writers never deadlock; held until
    the transaction ends (PostgreSQL; SQLite has one writer at a time anyway)."""
    if connection.vendor != "postgresql":
        return
    keys = sorted(
        {(SITE_LOCKS, site) for site in plan.site_connectors}
        | {(CHARGER_LOCKS, cp) for cp, ref in plan.charge_points.items() if ref.site_id is None}
    )
    with connection.cursor() as cursor:
        for namespace, key in keys:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [namespace, key])
