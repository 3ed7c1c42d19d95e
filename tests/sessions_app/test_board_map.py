"""The live board's site map: Web Mercator, the country outlines around the sites (cut to the view, small), the
sites' names, and the optional tiles with the page's policy letting them in (``BOARD_MAP_TILES_URL``)."""

import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from sessions_app import basemap
from sessions_app.admin_board import board_policy
from sessions_app.board import MAP_HEIGHT, MAP_LABELS_MAX, MAP_WIDTH, board_map
from tests.chargeportal.test_settings import _setup
from tests.factories import make_charge_point, make_site

BOARD, ROWS = reverse("admin:sessions_app_board"), reverse("admin:sessions_app_board_rows")
OSM = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"


def test_web_mercator_puts_known_places_on_their_tiles():
    assert basemap.mercator(0, 0) == (0.5, 0.5)
    x, y = basemap.mercator(59.3293, 18.0686)  # Stockholm: tile 10/563/301 on every slippy map
    assert (int(x * 1024), int(y * 1024)) == (563, 301)
    assert basemap.mercator(89.9, -180) == (0.0, pytest.approx(0.0, abs=1e-9))  # clamped to the square world


def test_a_view_fits_the_points_within_its_margin_and_zooms_in_no_further_than_the_cap():
    points = [basemap.mercator(57.7, 11.94), basemap.mercator(59.86, 17.64)]
    view = basemap.View.fitting(points, width=600, height=360, margin=30)
    placed = [view.place(point) for point in points]
    assert all(29.9 <= x <= 570.1 and 29.9 <= y <= 330.1 for x, y in placed)
    assert any(abs(y - 30) < 0.1 for _, y in placed)  # the taller span fills the height
    alone = basemap.View.fitting(points[:1], width=600, height=360, margin=30)
    assert alone.scale == basemap.TILE_SIZE * 2**basemap.MAX_ZOOM
    assert alone.place(points[0]) == pytest.approx((300, 180), abs=0.01)


def test_simplify_keeps_the_ends_and_the_corners_and_drops_what_lies_on_the_line():
    line = [(0.0, 0.0), (1.0, 0.01), (2.0, 0.0), (2.0, 5.0)]
    assert basemap.simplify(line, 0.1) == [(0.0, 0.0), (2.0, 0.0), (2.0, 5.0)]


def test_the_tiles_cover_the_view_at_the_zoom_closest_to_their_size():
    view = basemap.View(left=0.5, top=0.25, scale=2048.0, width=600, height=360)  # zoom 3: tiles 256 units
    tiles = basemap.tiles(view, OSM)
    assert [tile.url for tile in tiles] == [
        f"https://tile.openstreetmap.org/3/{x}/{y}.png" for y in (2, 3) for x in (4, 5, 6)
    ]
    assert (tiles[0].x, tiles[0].y, tiles[0].size) == (0.0, 0.0, 256.0)
    assert (tiles[-1].x, tiles[-1].y) == (512.0, 256.0)
    edge = basemap.tiles(basemap.View(left=-0.01, top=0.0, scale=1024.0, width=600, height=360), OSM)
    # zoom 2; the view starts west of the antimeridian: its first column is the world's last
    assert [tile.url.split("/")[-2] for tile in edge[:4]] == ["3", "0", "1", "2"]
    assert edge[0].x < 0 < edge[1].x


class _Station:
    """What board_map reads of a station (``StationState``'s shape) without the database."""

    def __init__(self, site, *, online=True, statuses=("Available",)):
        self.site, self.online, self.statuses = site, online, list(statuses)


class _Site:
    def __init__(self, pk, name, latitude, longitude):
        self.pk, self.name = pk, name
        self.latitude, self.longitude = Decimal(latitude), Decimal(longitude)


SWEDEN = [
    _Site(1, "Göteborg Lindholmen", "57.7065", "11.9380"),
    _Site(2, "Stockholm Hammarby", "59.3030", "18.1040"),
    _Site(3, "Uppsala Centrum", "59.8586", "17.6389"),
]


def test_a_swedish_boards_map_has_swedens_outline_cut_to_the_view_and_stays_small():
    site_map = board_map([_Station(site) for site in SWEDEN])
    names = [name for name, _ in site_map.outlines]
    assert "Sweden" in names and "Norway" in names and "Brazil" not in names
    numbers = [float(n) for _, path in site_map.outlines for n in re.findall(r"-?\d+\.\d", path)]
    assert numbers and min(numbers) >= -4 and max(numbers) <= MAP_WIDTH + 4  # cut just outside the drawing
    assert all(0 <= p.x <= MAP_WIDTH and 0 <= p.y <= MAP_HEIGHT for p in site_map.points)
    assert sum(len(path) for _, path in site_map.outlines) < 20_000
    assert board_map([_Station(site) for site in SWEDEN]).outlines is site_map.outlines  # cached per view


def test_the_map_draws_the_outlines_names_the_sites_and_keeps_its_colours_and_links(client, world):
    world.site_a.latitude, world.site_a.longitude = Decimal("57.7065"), Decimal("11.9380")
    world.site_a.save()
    client.force_login(world.carol)
    html = client.get(ROWS).content.decode()
    svg = html[html.index('<svg class="board-map"') : html.index("</svg>")]
    assert '<path class="land" d="M' in svg
    assert f'<a href="?site={world.site_a.pk}"><circle class="offline"' in svg
    assert f">{world.site_a.name}</text>" in svg  # one site: named beside its dot
    assert "<image" not in svg and 'class="attribution"' not in svg
    assert len(svg.encode()) < 30_000


def test_many_sites_are_named_in_their_tooltips_only():
    sites = [_Site(n, f"Site {n}", f"{57 + n / 10:.4f}", f"{12 + n / 5:.4f}") for n in range(MAP_LABELS_MAX + 1)]
    assert board_map([_Station(site) for site in sites[:MAP_LABELS_MAX]]).labelled
    assert not board_map([_Station(site) for site in sites]).labelled


@pytest.mark.django_db
def test_the_map_adds_no_query(client, world):
    client.force_login(world.carol)
    client.get(ROWS)  # the session and permission caches warm up
    with CaptureQueriesContext(connection) as before:
        client.get(ROWS)
    for number in range(5):
        site = make_site(world.org_a, f"Mapped {number}")
        site.latitude, site.longitude = Decimal(f"{57 + number}.5"), Decimal(f"{12 + number}.25")
        site.save()
        make_charge_point(site, f"MAPPED-{number}")
    with CaptureQueriesContext(connection) as after:
        html = client.get(ROWS).content.decode()
    assert html.count("<circle") >= 5 and len(after) == len(before)


def test_tiles_and_their_attribution_when_a_tile_server_is_set_and_the_policy_lets_only_then_them_in(
    client, world, settings
):
    world.site_a.latitude, world.site_a.longitude = Decimal("59.3030"), Decimal("18.1040")
    world.site_a.save()
    client.force_login(world.carol)
    assert "tile.openstreetmap.org" not in client.get(BOARD)["Content-Security-Policy"]
    assert board_policy() == settings.SECURE_CSP
    settings.BOARD_MAP_TILES_URL = OSM
    settings.BOARD_MAP_ATTRIBUTION = "© OpenStreetMap contributors"
    page = client.get(BOARD)
    img_src = next(d for d in page["Content-Security-Policy"].split("; ") if d.startswith("img-src"))
    assert img_src == "img-src 'self' data: https://tile.openstreetmap.org"
    assert "connect-src" not in page["Content-Security-Policy"]  # the websocket's own host is not asked for
    html = client.get(ROWS).content.decode()
    tiles = re.findall(r'<image href="https://tile\.openstreetmap\.org/(\d+)/(\d+)/(\d+)\.png"', html)
    assert tiles and {int(z) for z, _, _ in tiles} == {basemap.MAX_ZOOM}  # one site: the zoom's cap
    x, y = basemap.mercator(59.3030, 18.1040)
    count = 2**basemap.MAX_ZOOM
    assert (str(int(x * count)), str(int(y * count))) in {(tx, ty) for _, tx, ty in tiles}
    assert '<text class="attribution"' in html and "© OpenStreetMap contributors</text>" in html


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BOARD_MAP_TILES_URL": "tile.example/{z}/{x}/{y}.png"}, "must be an http(s) URL"),
        ({"BOARD_MAP_TILES_URL": "https://tile.example/{z}/{x}.png"}, "must contain {z}, {x} and {y}"),
        ({"BOARD_MAP_TILES_URL": "https://tile.example/{z}/{x}/{y}{s}.png"}, "may hold no braces but"),
        ({"BOARD_MAP_TILES_URL": "https://tile.example/{z}/{x}/{y}.png"}, "BOARD_MAP_ATTRIBUTION must be set"),
    ],
)
def test_a_bad_tile_server_setting_stops_start_up(env, message):
    result = _setup(DEBUG="1", **env)
    assert result.returncode != 0 and message in result.stderr


def test_a_good_tile_server_setting_starts():
    result = _setup(DEBUG="1", BOARD_MAP_TILES_URL=OSM, BOARD_MAP_ATTRIBUTION="© OpenStreetMap contributors")
    assert result.returncode == 0, result.stderr
