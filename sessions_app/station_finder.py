"""The start page's station chooser: the driver's operator's stations with a free connector, found by name or
city, by the browser's location (nearest first) or among the stations the driver charged at lately."""

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from accounts.models import User
from sessions_app.models import ChargePoint
from sessions_app.selectors import connectors_for_driver_start, sessions_for_driver

#: How many stations the chooser lists at most (search results, nearest), and how many recent ones.
STATIONS_SHOWN = 20
RECENT_SHOWN = 5
EARTH_RADIUS_KM = 6371.0


@dataclass
class StationChoice:
    charge_point: ChargePoint
    free_connectors: int
    distance_km: float | None = None


def coordinates(latitude: str | None, longitude: str | None) -> tuple[float, float] | None:
    """A browser's position from query parameters, or None when absent or not a place on Earth."""
    try:
        lat, lon = float(Decimal(latitude or "")), float(Decimal(longitude or ""))
    except (InvalidOperation, ValueError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return lat, lon


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance (haversine)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


def _site_position(charge_point: ChargePoint) -> tuple[float, float] | None:
    site = charge_point.site
    if site is None or site.latitude is None or site.longitude is None:
        return None
    return float(site.latitude), float(site.longitude)


def startable_stations(*, user: User, now: datetime) -> list[StationChoice]:
    """The driver's operator's online stations with at least one connector the driver may start on now."""
    counts: dict[int, StationChoice] = {}
    for connector in connectors_for_driver_start(user=user, now=now):
        choice = counts.get(connector.charge_point_id)
        if choice is None:
            choice = counts[connector.charge_point_id] = StationChoice(connector.charge_point, 0)
        choice.free_connectors += 1
    return list(counts.values())


def _matches(charge_point: ChargePoint, words: list[str]) -> bool:
    site = charge_point.site
    text = " ".join(
        part
        for part in (
            charge_point.name,
            charge_point.ocpp_id,
            site.name if site else "",
            site.city if site else "",
            site.street if site else "",
        )
        if part
    ).casefold()
    return all(word in text for word in words)


def stations_found(
    *, user: User, now: datetime, query: str = "", position: tuple[float, float] | None = None
) -> list[StationChoice]:
    """Stations matching every word of ``query`` (name, id, site, city, street); nearest first given a position,
    else by site and name. Stations without coordinates come last when sorting by distance."""
    words = query.casefold().split()
    found = [choice for choice in startable_stations(user=user, now=now) if _matches(choice.charge_point, words)]
    if position is not None:
        for choice in found:
            site_position = _site_position(choice.charge_point)
            choice.distance_km = distance_km(position, site_position) if site_position else None
        found.sort(key=lambda c: (c.distance_km is None, c.distance_km or 0.0, str(c.charge_point)))
    else:
        found.sort(key=lambda c: (c.charge_point.site.name if c.charge_point.site else "", str(c.charge_point)))
    return found[:STATIONS_SHOWN]


def recent_stations(*, user: User, now: datetime) -> list[StationChoice]:
    """The stations the driver charged at most recently that have a free connector now, latest first."""
    startable = {choice.charge_point.pk: choice for choice in startable_stations(user=user, now=now)}
    recent: list[StationChoice] = []
    seen: set[int] = set()
    for charge_point_id in sessions_for_driver(user=user).values_list("charge_point_id", flat=True)[:200]:
        if charge_point_id in seen:
            continue
        seen.add(charge_point_id)
        if charge_point_id in startable:
            recent.append(startable[charge_point_id])
            if len(recent) == RECENT_SHOWN:
                break
    return recent


def station_for_driver(*, user: User, now: datetime, pk: str | None) -> ChargePoint | None:
    """The station the driver picked, if it is one they may start at now."""
    if not pk or not str(pk).isdigit():
        return None
    for choice in startable_stations(user=user, now=now):
        if choice.charge_point.pk == int(pk):
            return choice.charge_point
    return None
