"""Reads for the live operations board: every station of an operator, its connectors and what runs on them.

A fixed number of queries whatever the fleet's size: the stations with their sites, their connectors (each
with its newest reported error), the running sessions (each with its card, driver and newest energy and
power readings).
"""

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Case, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery, Value, When

from accounts.models import Organization
from sessions_app.models import (
    ChargePoint,
    ChargingSession,
    Connector,
    ConnectorStatus,
    ErrorCode,
    MeterValue,
    Site,
    StatusEvent,
)
from sessions_app.selectors import POWER_IMPORT
from sessions_app.services import ENERGY_REGISTER

#: The status filter's values besides the connector statuses.
ONLINE, OFFLINE = "online", "offline"


@dataclass(frozen=True)
class BoardSession:
    session: ChargingSession
    energy_wh: int
    power_w: Decimal | None
    duration: timedelta

    @property
    def who(self) -> str:
        """The driver (name or email), else the card as sent."""
        tag = self.session.id_tag
        owner = tag.owner if tag is not None else None
        if owner is not None:
            return owner.get_full_name() or owner.email
        return self.session.id_tag_uid

    @property
    def energy_kwh(self) -> Decimal:
        return (Decimal(self.energy_wh) / 1000).quantize(Decimal("0.01"))

    @property
    def power_kw(self) -> Decimal | None:
        return None if self.power_w is None else (Decimal(self.power_w) / 1000).quantize(Decimal("0.1"))

    @property
    def duration_display(self) -> str:
        """Hours and minutes, e.g. ``1:05``."""
        minutes = int(self.duration.total_seconds()) // 60
        return f"{minutes // 60}:{minutes % 60:02d}"


@dataclass(frozen=True)
class BoardConnector:
    connector: Connector
    session: BoardSession | None
    last_error_code: str
    last_error_at: datetime | None

    @property
    def last_error_display(self) -> str:
        return str(ErrorCode(self.last_error_code).label) if self.last_error_code in ErrorCode.values else ""


@dataclass(frozen=True)
class BoardStation:
    charge_point: ChargePoint
    online: bool
    since: datetime | None  # connected since while online, last heard from while offline
    connectors: list[BoardConnector] = field(default_factory=list)


def board_sites(*, organization: Organization | None) -> QuerySet[Site]:
    sites = Site.objects.order_by("name")
    return sites if organization is None else sites.filter(organization=organization)


def _reading(measurand: str) -> Subquery:
    """The newest reading of a measurand in the session, the all-phase total preferred (as the driver sees)."""
    readings = (
        MeterValue.objects.filter(session=OuterRef("pk"), measurand=measurand)
        .annotate(
            total_first=Case(
                When(Q(phase="") | Q(phase="N"), then=Value(0)), default=Value(1), output_field=IntegerField()
            )
        )
        .order_by("total_first", "-timestamp", "-pk")
        .values("value")[:1]
    )
    return Subquery(readings)


#: How far back the board looks for a connector's last reported error (bounds the look-up per connector).
LAST_ERROR_WINDOW = timedelta(days=30)


def _last_error(column: str, since: datetime) -> Subquery:
    """The newest error the connector reported since ``since`` (walks its history index backwards)."""
    events = (
        StatusEvent.objects.filter(connector=OuterRef("pk"), timestamp__gte=since)
        .exclude(error_code=ErrorCode.NO_ERROR)
        .order_by("-timestamp", "-pk")
        .values(column)[:1]
    )
    return Subquery(events)


def board_stations(
    *, organization: Organization | None, now: datetime, site_id: int | None = None, status: str = ""
) -> list[BoardStation]:
    """The operator's stations (all operators' for ``organization=None``), by site and id, with their connectors.

    ``status`` keeps the stations online or offline (``ONLINE``/``OFFLINE``), or the connectors in one
    ``ConnectorStatus`` (stations without one are left out). Three queries in all.
    """
    connectors = Connector.objects.annotate(
        last_error_code=_last_error("error_code", now - LAST_ERROR_WINDOW),
        last_error_at=_last_error("timestamp", now - LAST_ERROR_WINDOW),
    ).order_by("number")
    stations = (
        ChargePoint.objects.select_related("site")
        .prefetch_related(Prefetch("connectors", queryset=connectors))
        .order_by("site__name", "ocpp_id")
    )
    if organization is not None:
        stations = stations.filter(organization=organization)
    if site_id is not None:
        stations = stations.filter(site_id=site_id)
    if status in ConnectorStatus.values:
        stations = stations.filter(connectors__status=status).distinct()
    charge_points = list(stations)
    sessions = (
        ChargingSession.objects.filter(
            state=ChargingSession.State.ACTIVE, charge_point__in=[cp.pk for cp in charge_points]
        )
        .select_related("id_tag__owner")
        .annotate(energy_register=_reading(ENERGY_REGISTER), power=_reading(POWER_IMPORT))
        .order_by("started_at")
    )
    running: dict[int, ChargingSession] = {}
    for session in sessions if charge_points else []:
        if session.connector_id is not None:
            running[session.connector_id] = session  # the newest start wins on a connector
    board = []
    for charge_point in charge_points:
        online = charge_point.is_online(now)
        if (status == ONLINE and not online) or (status == OFFLINE and online):
            continue
        rows = []
        for connector in charge_point.connectors.all():
            if status in ConnectorStatus.values and connector.status != status:
                continue
            running_session = running.get(connector.pk)
            rows.append(
                BoardConnector(
                    connector=connector,
                    session=_board_session(running_session, now) if running_session is not None else None,
                    last_error_code=getattr(connector, "last_error_code", None) or "",
                    last_error_at=getattr(connector, "last_error_at", None),
                )
            )
        since = charge_point.connected_at if online else charge_point.last_seen_at
        board.append(BoardStation(charge_point=charge_point, online=online, since=since, connectors=rows))
    return board


def _board_session(session: ChargingSession, now: datetime) -> BoardSession:
    register = getattr(session, "energy_register", None)
    power = getattr(session, "power", None)
    return BoardSession(
        session=session,
        energy_wh=max(0, int(register) - session.meter_start_wh) if register is not None else 0,
        power_w=power,
        duration=max(now - session.started_at, timedelta(0)),
    )


def board_counts(stations: list[BoardStation]) -> dict[str, int]:
    """How many stations are online and offline, and how many connectors charge or are faulted."""
    connectors = [row.connector for station in stations for row in station.connectors]
    return {
        "online": sum(1 for station in stations if station.online),
        "offline": sum(1 for station in stations if not station.online),
        "charging": sum(1 for c in connectors if c.status == ConnectorStatus.CHARGING),
        "faulted": sum(1 for c in connectors if c.status == ConnectorStatus.FAULTED),
    }


@dataclass(frozen=True)
class MapPoint:
    site: Site
    x: float
    y: float
    state: str  # "faulted", "offline", "charging" or "available": the worst of its stations first
    stations: int


#: The map's drawing size (SVG user units) and margin.
MAP_WIDTH, MAP_HEIGHT, MAP_MARGIN = 600, 360, 24


def board_map(stations: list[BoardStation]) -> list[MapPoint]:
    """The sites of the board's stations placed by their coordinates (equirectangular, scaled to fit)."""
    by_site: dict[int, list[BoardStation]] = {}
    sites: dict[int, Site] = {}
    for station in stations:
        site = station.charge_point.site
        if site is None or site.latitude is None or site.longitude is None:
            continue
        sites[site.pk] = site
        by_site.setdefault(site.pk, []).append(station)
    if not sites:
        return []
    lats = [float(site.latitude) for site in sites.values()]
    lons = [float(site.longitude) for site in sites.values()]
    scale_x = math.cos(math.radians((min(lats) + max(lats)) / 2))
    span_x = max((max(lons) - min(lons)) * scale_x, 1e-6)
    span_y = max(max(lats) - min(lats), 1e-6)
    unit = min((MAP_WIDTH - 2 * MAP_MARGIN) / span_x, (MAP_HEIGHT - 2 * MAP_MARGIN) / span_y)
    points = []
    for pk, site in sites.items():
        own = by_site[pk]
        statuses = {row.connector.status for station in own for row in station.connectors}
        if ConnectorStatus.FAULTED in statuses:
            state = "faulted"
        elif not all(station.online for station in own):
            state = "offline"
        elif ConnectorStatus.CHARGING in statuses:
            state = "charging"
        else:
            state = "available"
        x = MAP_MARGIN + (float(site.longitude) - min(lons)) * scale_x * unit
        y = MAP_MARGIN + (max(lats) - float(site.latitude)) * unit
        if len(sites) == 1:
            x, y = MAP_WIDTH / 2, MAP_HEIGHT / 2
        points.append(MapPoint(site=site, x=round(x, 1), y=round(y, 1), state=state, stations=len(own)))
    return points
