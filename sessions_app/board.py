"""Reads for the live operations board: every station of an operator, its connectors and what runs on them.

A fixed number of queries whatever the fleet's size: the stations with their sites, their connectors (each
with its newest reported error), the running sessions (each with its card, driver and newest energy and
power readings). A pushed change re-reads only the stations it names (``only``); the counts and the map of
the whole board come from ``board_overview``, two light queries without the sessions and their readings.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache

from django.core.exceptions import PermissionDenied
from django.db.models import Case, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery, Value, When
from django.utils.timesince import timesince
from django.utils.translation import get_language, gettext

from accounts.models import Organization
from sessions_app import basemap
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
#: The statuses in which the board offers a remote start on a connector.
STARTABLE = (ConnectorStatus.AVAILABLE, ConnectorStatus.PREPARING)


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
    status_label: str = ""  # its status in words
    status_for: str = ""  # how long it has been in it ("for 5 minutes")

    @property
    def startable(self) -> bool:
        """Free for a remote start: nothing runs on it, and it is available or has a car plugged in waiting."""
        return self.session is None and self.connector.status in STARTABLE

    @property
    def last_error_display(self) -> str:
        return str(ErrorCode(self.last_error_code).label) if self.last_error_code in ErrorCode.values else ""


@dataclass(frozen=True)
class BoardStation:
    charge_point: ChargePoint
    online: bool
    since: datetime | None  # connected since while online, last heard from while offline
    connectors: list[BoardConnector] = field(default_factory=list)
    since_for: str = ""  # how long it has been online or offline ("for 2 hours")

    @property
    def site(self) -> Site | None:
        return self.charge_point.site

    @property
    def statuses(self) -> list[str]:
        return [row.connector.status for row in self.connectors]


@dataclass(frozen=True)
class StationState:
    """What the counts and the map need of a station: no session, reading or error."""

    site: Site | None
    online: bool
    statuses: list[str]


def board_organization(user) -> Organization | None:
    """The organization whose stations ``user`` may watch on the board: None for a superuser (every operator's).

    Anyone else but active operator staff allowed to view chargers is refused (``PermissionDenied``): the
    admin's pages check staff themselves, the board's websocket relies on this alone.
    """
    if not (user.is_active and user.is_staff):
        raise PermissionDenied
    if user.is_superuser:
        return None
    organization = getattr(user, "organization", None)
    if organization is None or not user.has_perm("sessions_app.view_chargepoint"):
        raise PermissionDenied
    return organization


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


def _board_charge_points(
    *, organization: Organization | None, site_id: int | None, status: str, only: Iterable[int] | None
) -> QuerySet[ChargePoint]:
    """The board's stations in its order, as the filters (and ``only``, some station ids) narrow them down."""
    stations = ChargePoint.objects.order_by("site__name", "ocpp_id")
    if organization is not None:
        stations = stations.filter(organization=organization)
    if site_id is not None:
        stations = stations.filter(site_id=site_id)
    if only is not None:
        stations = stations.filter(pk__in=list(only))
    if status in ConnectorStatus.values:
        stations = stations.filter(connectors__status=status).distinct()
    return stations


def _shown(online: bool, status: str) -> bool:
    """Whether the status filter keeps a station that is ``online`` (or not)."""
    return not ((status == ONLINE and not online) or (status == OFFLINE and online))


def board_stations(
    *,
    organization: Organization | None,
    now: datetime,
    site_id: int | None = None,
    status: str = "",
    only: Iterable[int] | None = None,
) -> list[BoardStation]:
    """The operator's stations (all operators' for ``organization=None``), by site and id, with their connectors.

    ``status`` keeps the stations online or offline (``ONLINE``/``OFFLINE``), or the connectors in one
    ``ConnectorStatus`` (stations without one are left out); ``only`` keeps the stations with those ids (the
    ones a push named). Three queries in all.
    """
    connectors = Connector.objects.annotate(
        last_error_code=_last_error("error_code", now - LAST_ERROR_WINDOW),
        last_error_at=_last_error("timestamp", now - LAST_ERROR_WINDOW),
    ).order_by("number")
    stations = (
        _board_charge_points(organization=organization, site_id=site_id, status=status, only=only)
        .select_related("site")
        .prefetch_related(Prefetch("connectors", queryset=connectors))
    )
    charge_points = list(stations)
    sessions = (
        ChargingSession.objects.filter(
            state=ChargingSession.State.ACTIVE, charge_point__in=[cp.pk for cp in charge_points]
        )
        .select_related("id_tag__owner")
        .annotate(energy_register=_reading(ENERGY_REGISTER), power=_reading(POWER_IMPORT))
        .order_by("started_at")
    )
    labels = {value: str(label) for value, label in ConnectorStatus.choices}
    running: dict[int, ChargingSession] = {}
    for session in sessions if charge_points else []:
        if session.connector_id is not None:
            running[session.connector_id] = session  # the newest start wins on a connector
    board = []
    for charge_point in charge_points:
        online = charge_point.is_online(now)
        if not _shown(online, status):
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
                    status_label=labels.get(connector.status, connector.status),
                    status_for=_for(connector.status_changed_at, now),
                )
            )
        since = charge_point.connected_at if online else charge_point.last_seen_at
        board.append(
            BoardStation(
                charge_point=charge_point,
                online=online,
                since=since,
                connectors=rows,
                since_for=_for(since, now),
            )
        )
    return board


#: Ages up to this read the same whatever the dates (beyond, timesince counts calendar months).
_SAME_WORDS = timedelta(days=28)


def _for(since: datetime | None, now: datetime) -> str:
    """ "for 2 hours, 5 minutes" (timesince's words), the wording of each age kept (``_for_age``): timesince and
    its translation were most of a row's cost, and a board's rows, refresh after refresh, share few ages."""
    if since is None:
        return ""
    if now - since < _SAME_WORDS:
        return _for_age(int((now - since).total_seconds()) // 60, get_language())
    return gettext("for %(since)s") % {"since": timesince(since, now)}


@lru_cache(maxsize=8192)
def _for_age(minutes: int, language: str) -> str:
    """The words for an age under ``_SAME_WORDS`` in ``language`` (the active one, part of the cache's key)."""
    moment = datetime(2000, 1, 1, tzinfo=UTC)  # any: such an age reads the same from any moment
    return gettext("for %(since)s") % {"since": timesince(moment - timedelta(minutes=minutes), moment)}


def _board_session(session: ChargingSession, now: datetime) -> BoardSession:
    register = getattr(session, "energy_register", None)
    power = getattr(session, "power", None)
    return BoardSession(
        session=session,
        energy_wh=max(0, int(register) - session.meter_start_wh) if register is not None else 0,
        power_w=power,
        duration=max(now - session.started_at, timedelta(0)),
    )


def board_overview(
    *, organization: Organization | None, now: datetime, site_id: int | None = None, status: str = ""
) -> list[StationState]:
    """The stations ``board_stations`` would show, as much as the counts and the map need of them, for a
    partial refresh: two queries (stations with their sites, their connectors' statuses), no session."""
    stations = _board_charge_points(organization=organization, site_id=site_id, status=status, only=None)
    charge_points = list(
        stations.select_related("site").only(
            "site__name",
            "site__latitude",
            "site__longitude",
            "channel_name",
            "last_seen_at",
            "heartbeat_interval",
        )
    )
    statuses: dict[int, list[str]] = {}
    connectors = Connector.objects.filter(charge_point__in=[cp.pk for cp in charge_points]).order_by("number")
    if status in ConnectorStatus.values:
        connectors = connectors.filter(status=status)
    for charge_point_id, connector_status in (
        connectors.values_list("charge_point_id", "status") if charge_points else []
    ):
        statuses.setdefault(charge_point_id, []).append(connector_status)
    overview = []
    for charge_point in charge_points:
        online = charge_point.is_online(now)
        if _shown(online, status):
            overview.append(StationState(charge_point.site, online, statuses.get(charge_point.pk, [])))
    return overview


def board_counts(stations: Sequence[BoardStation | StationState]) -> dict[str, int]:
    """How many stations are online and offline, and how many connectors charge or are faulted."""
    statuses = [status for station in stations for status in station.statuses]
    return {
        "online": sum(1 for station in stations if station.online),
        "offline": sum(1 for station in stations if not station.online),
        "charging": statuses.count(ConnectorStatus.CHARGING),
        "faulted": statuses.count(ConnectorStatus.FAULTED),
    }


@dataclass(frozen=True)
class MapPoint:
    site: Site
    x: float
    y: float
    state: str  # "faulted", "offline", "charging" or "available": the worst of its stations first
    stations: int
    label_before: bool = False  # its name goes left of the dot (near the drawing's right edge)


@dataclass(frozen=True)
class SiteMap:
    """The board's map: the sites' dots over the country outlines (and tiles, when a tile server is set)."""

    width: int
    height: int
    points: list[MapPoint]
    outlines: tuple[tuple[str, str], ...] = ()  # (country, SVG path data)
    tiles: list[basemap.Tile] = field(default_factory=list)
    attribution: str = ""

    @property
    def labelled(self) -> bool:
        """Few enough sites for their names beside the dots (else the names are in the dots' tooltips)."""
        return len(self.points) <= MAP_LABELS_MAX


#: The map's drawing size (SVG user units) and margin.
MAP_WIDTH, MAP_HEIGHT, MAP_MARGIN = 600, 360, 32
#: Up to this many sites the map names them beside their dots.
MAP_LABELS_MAX = 12


def _map_state(stations: Sequence[BoardStation | StationState]) -> str:
    """The worst of a site's stations: a faulted connector, a station offline, charging, else all well."""
    statuses = {status for station in stations for status in station.statuses}
    if ConnectorStatus.FAULTED in statuses:
        return "faulted"
    if not all(station.online for station in stations):
        return "offline"
    if ConnectorStatus.CHARGING in statuses:
        return "charging"
    return "available"


def board_map(
    stations: Sequence[BoardStation | StationState], *, tiles_url: str = "", attribution: str = ""
) -> SiteMap:
    """The sites of the board's stations placed by their coordinates in Web Mercator, fitted to the drawing,
    over the outlines of the countries around them; with ``tiles_url`` (``{z}/{x}/{y}``) over its tiles too."""
    by_site: dict[int, list[BoardStation | StationState]] = {}
    sites: dict[int, Site] = {}
    for station in stations:
        site = station.site
        if site is None or site.latitude is None or site.longitude is None:
            continue
        sites[site.pk] = site
        by_site.setdefault(site.pk, []).append(station)
    if not sites:
        return SiteMap(width=MAP_WIDTH, height=MAP_HEIGHT, points=[])
    world = {pk: basemap.mercator(float(site.latitude), float(site.longitude)) for pk, site in sites.items()}
    view = basemap.View.fitting(list(world.values()), width=MAP_WIDTH, height=MAP_HEIGHT, margin=MAP_MARGIN)
    points = []
    for pk, site in sites.items():
        x, y = view.place(world[pk])
        points.append(
            MapPoint(
                site=site,
                x=round(x, 1),
                y=round(y, 1),
                state=_map_state(by_site[pk]),
                stations=len(by_site[pk]),
                label_before=x > MAP_WIDTH * 0.7,
            )
        )
    return SiteMap(
        width=MAP_WIDTH,
        height=MAP_HEIGHT,
        points=points,
        outlines=basemap.outlines(view),
        tiles=basemap.tiles(view, tiles_url) if tiles_url else [],
        attribution=attribution if tiles_url else "",
    )
