"""The board's base map: country outlines in Web Mercator, clipped to a view and simplified, and map tiles.

The outlines are Natural Earth's 1:50m admin-0 countries (public domain), as the world-atlas package
(ISC) ships them in TopoJSON, made smaller for the repository by ``bin/basemap-build`` (this module run as a
script: coarser quantization, arcs simplified) into ``static/geo/countries-50m.json``. The file is read once
per process; the outlines of a view are cached per view (a board's sites rarely move). Web Mercator is what
tile servers draw in, so the optional tiles (``BOARD_MAP_TILES_URL``) line up with the outlines and the dots.
Pure Python, no Django: the build script runs it on its own.
"""

import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

#: The compact outlines, served from the repository.
COUNTRIES = Path(__file__).resolve().parent.parent / "static" / "geo" / "countries-50m.json"
#: Web Mercator's latitude limit (the square world of the tiles).
MAX_LATITUDE = 85.0511287798
#: The largest tile zoom level: never zoom the map in further than this (a single site, or sites a street apart).
MAX_ZOOM = 11
#: A tile's edge in pixels.
TILE_SIZE = 256

Point = tuple[float, float]


def mercator(latitude: float, longitude: float) -> Point:
    """Web Mercator "world" coordinates: x and y from 0 to 1, north-west corner at 0, 0 (tile z/x/y times 2**-z)."""
    latitude = max(-MAX_LATITUDE, min(MAX_LATITUDE, latitude))
    x = (longitude + 180.0) / 360.0
    y = (1.0 - math.asinh(math.tan(math.radians(latitude))) / math.pi) / 2.0
    return x, y


@dataclass(frozen=True)
class View:
    """A window on the world: its north-west corner in world coordinates and how many drawing units a world
    unit spans, for a drawing ``width`` by ``height`` units."""

    left: float
    top: float
    scale: float
    width: int
    height: int

    @classmethod
    def fitting(cls, points: Sequence[Point], *, width: int, height: int, margin: int) -> "View":
        """The view that shows ``points`` (world coordinates) as large as fits with ``margin`` around them,
        centred, zoomed in no further than ``MAX_ZOOM``."""
        xs, ys = [x for x, _ in points], [y for _, y in points]
        span_x, span_y = max(xs) - min(xs), max(ys) - min(ys)
        scale = TILE_SIZE * 2.0**MAX_ZOOM
        if span_x > 0:
            scale = min(scale, (width - 2 * margin) / span_x)
        if span_y > 0:
            scale = min(scale, (height - 2 * margin) / span_y)
        centre_x, centre_y = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
        # rounded: the same sites give the same view, and the same cached outlines
        return cls(
            left=round(centre_x - width / 2 / scale, 9),
            top=round(centre_y - height / 2 / scale, 9),
            scale=round(scale, 3),
            width=width,
            height=height,
        )

    def place(self, point: Point) -> Point:
        """Where a world point falls in the drawing."""
        return (point[0] - self.left) * self.scale, (point[1] - self.top) * self.scale


def simplify(points: Sequence[Point], tolerance: float) -> list[Point]:
    """Douglas-Peucker: the points that keep the line within ``tolerance`` of the original (ends kept)."""
    if len(points) < 3:
        return list(points)
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        (ax, ay), (bx, by) = points[first], points[last]
        dx, dy = bx - ax, by - ay
        length = math.hypot(dx, dy)
        farthest, distance = 0, tolerance
        for index in range(first + 1, last):
            px, py = points[index]
            if length:
                away = abs(dy * (px - ax) - dx * (py - ay)) / length
            else:
                away = math.hypot(px - ax, py - ay)
            if away > distance:
                farthest, distance = index, away
        if farthest:
            keep[farthest] = True
            stack += [(first, farthest), (farthest, last)]
    return [point for point, kept in zip(points, keep, strict=True) if kept]


def _clip(ring: list[Point], low_x: float, low_y: float, high_x: float, high_y: float) -> list[Point]:
    """Sutherland-Hodgman: the ring cut to the rectangle (the cut runs along its edges)."""
    edges = (
        (lambda p: p[0] >= low_x, lambda p, q: _at_x(p, q, low_x)),
        (lambda p: p[0] <= high_x, lambda p, q: _at_x(p, q, high_x)),
        (lambda p: p[1] >= low_y, lambda p, q: _at_y(p, q, low_y)),
        (lambda p: p[1] <= high_y, lambda p, q: _at_y(p, q, high_y)),
    )
    for inside, cross in edges:
        if not ring:
            break
        cut: list[Point] = []
        previous = ring[-1]
        for point in ring:
            if inside(point):
                if not inside(previous):
                    cut.append(cross(previous, point))
                cut.append(point)
            elif inside(previous):
                cut.append(cross(previous, point))
            previous = point
        ring = cut
    return ring


def _at_x(p: Point, q: Point, x: float) -> Point:
    return x, p[1] + (q[1] - p[1]) * (x - p[0]) / (q[0] - p[0])


def _at_y(p: Point, q: Point, y: float) -> Point:
    return p[0] + (q[0] - p[0]) * (y - p[1]) / (q[1] - p[1]), y


@dataclass(frozen=True)
class Country:
    name: str
    bounds: tuple[float, float, float, float]  # world coordinates: left, top, right, bottom
    rings: tuple[tuple[Point, ...], ...]  # outer rings and holes alike (drawn even-odd)


def _arcs(topology: dict) -> list[list[Point]]:
    """The topology's arcs as lists of (longitude, latitude) (delta-decoded, quantization undone)."""
    (scale_x, scale_y), (shift_x, shift_y) = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs = []
    for deltas in topology["arcs"]:
        x = y = 0
        arc = []
        for dx, dy in deltas:
            x, y = x + dx, y + dy
            arc.append((x * scale_x + shift_x, y * scale_y + shift_y))
        arcs.append(arc)
    return arcs


def _ring(arcs: list[list[Point]], indexes: list[int]) -> list[Point]:
    """A ring joined from its arcs (``~i`` is arc ``i`` backwards), each arc's first point shared with the last."""
    ring: list[Point] = []
    for index in indexes:
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]
        ring.extend(arc[1:] if ring else arc)
    return ring


@lru_cache(maxsize=1)
def countries() -> tuple[Country, ...]:
    """Every country's outline in world coordinates, read once."""
    topology = json.loads(COUNTRIES.read_text(encoding="utf-8"))
    arcs = _arcs(topology)
    result = []
    for geometry in topology["objects"]["countries"]["geometries"]:
        polygons = {"Polygon": [geometry.get("arcs", [])], "MultiPolygon": geometry.get("arcs", [])}.get(
            geometry.get("type"), []
        )
        rings = tuple(
            tuple(mercator(latitude, longitude) for longitude, latitude in _ring(arcs, indexes))
            for polygon in polygons
            for indexes in polygon
        )
        if not rings:
            continue
        xs = [x for ring in rings for x, _ in ring]
        ys = [y for ring in rings for _, y in ring]
        name = (geometry.get("properties") or {}).get("name", "")
        result.append(Country(name=name, bounds=(min(xs), min(ys), max(xs), max(ys)), rings=rings))
    return tuple(result)


#: How far outside the drawing the outlines are cut (drawing units): the cut edges stay out of sight.
_CLIP_PAD = 4.0
#: How far a simplified outline may stray from the original (drawing units).
_TOLERANCE = 0.6


@lru_cache(maxsize=64)
def outlines(view: View) -> tuple[tuple[str, str], ...]:
    """(country name, SVG path data) of the countries the view shows, cut to it and simplified."""
    low, high_x, high_y = -_CLIP_PAD, view.width + _CLIP_PAD, view.height + _CLIP_PAD
    right, bottom = view.left + view.width / view.scale, view.top + view.height / view.scale
    paths = []
    for country in countries():
        left, top, east, south = country.bounds
        if east < view.left or left > right or south < view.top or top > bottom:
            continue
        parts = []
        for ring in country.rings:
            cut = _clip([view.place(point) for point in ring], low, low, high_x, high_y)
            if len(cut) < 3:
                continue
            kept = simplify([*cut, cut[0]], _TOLERANCE)[:-1]
            if len(kept) >= 3:
                parts.append("M" + "L".join(f"{x:.1f} {y:.1f}" for x, y in kept) + "Z")
        if parts:
            paths.append((country.name, "".join(parts)))
    return tuple(paths)


@dataclass(frozen=True)
class Tile:
    url: str
    x: float
    y: float
    size: float


def tiles(view: View, template: str) -> list[Tile]:
    """The tiles (``template`` with ``{z}``, ``{x}``, ``{y}``) that cover the view, at the zoom level whose
    tiles come closest to their own size in the drawing."""
    zoom = max(0, min(MAX_ZOOM, round(math.log2(view.scale / TILE_SIZE))))
    count = 2**zoom
    size = view.scale / count
    first_x, last_x = math.floor(view.left * count), math.ceil((view.left + view.width / view.scale) * count)
    first_y = max(0, math.floor(view.top * count))
    last_y = min(count, math.ceil((view.top + view.height / view.scale) * count))
    return [
        Tile(
            url=template.format(z=zoom, x=column % count, y=row),
            x=round((column / count - view.left) * view.scale, 1),
            y=round((row / count - view.top) * view.scale, 1),
            size=round(size, 1),
        )
        for row in range(first_y, last_y)
        for column in range(first_x, last_x)
    ]


# --- building the compact file ---------------------------------------------------------------------------

#: The compact file's grid (degrees) and how far its simplified arcs may stray from Natural Earth's (degrees).
BUILD_GRID, BUILD_TOLERANCE = 0.02, 0.04


def compact(topology: dict) -> dict:
    """world-atlas's countries TopoJSON made small: arcs simplified and quantized to ``BUILD_GRID``, each
    country's name its only property. Still TopoJSON (arcs shared, so neighbours keep a common border)."""
    arcs = []
    for arc in _arcs(topology):
        kept = simplify(arc, BUILD_TOLERANCE)
        grid = [(round((lon + 180) / BUILD_GRID), round((lat + 90) / BUILD_GRID)) for lon, lat in kept]
        deltas, last = [], (0, 0)
        for index, point in enumerate(grid):
            if index and point == last and index < len(grid) - 1:
                continue
            deltas.append([point[0] - last[0], point[1] - last[1]])
            last = point
        arcs.append(deltas)
    geometries = [
        {"type": g["type"], "arcs": g["arcs"], "properties": {"name": (g.get("properties") or {}).get("name", "")}}
        for g in topology["objects"]["countries"]["geometries"]
        if g.get("type") in ("Polygon", "MultiPolygon")
    ]
    return {
        "type": "Topology",
        "transform": {"scale": [BUILD_GRID, BUILD_GRID], "translate": [-180, -90]},
        "objects": {"countries": {"type": "GeometryCollection", "geometries": geometries}},
        "arcs": arcs,
    }


if __name__ == "__main__":  # bin/basemap-build SOURCE: world-atlas's countries-50m.json into COUNTRIES
    source = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    COUNTRIES.parent.mkdir(parents=True, exist_ok=True)
    COUNTRIES.write_text(json.dumps(compact(source), separators=(",", ":")), encoding="utf-8")
    print(f"{COUNTRIES}: {COUNTRIES.stat().st_size} bytes")  # noqa: T201
