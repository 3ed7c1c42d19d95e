"""Reports at volume: the report pages' selectors on rollups, against the same figures aggregated from raw rows.

Not a test: run it and read the table it prints (target from the issue: every report page under 300 ms p95,
warm cache, with 1,000,000 sessions and 20,000,000 meter values in PostgreSQL).

    .venv/bin/python bench/reports.py                        # load the volume once (a while), then measure
    .venv/bin/python bench/reports.py --sessions 20000       # a small trial (a database of its own is wise)
    .venv/bin/python bench/reports.py --reload               # drop the database and load it again
    .venv/bin/python bench/reports.py --rebuild              # rebuild the rollups before measuring
    .venv/bin/python bench/reports.py --database-url postgres://postgres@127.0.0.1:5432/other -n 30

The database (default postgres://postgres@127.0.0.1:5432/chargeportal_bench) is created when missing and
migrated; it is the bench's own. Loading is seeded and fast: the small tables through the ORM, the large
ones (sessions, prices, meter values, status events, connections) by COPY with psycopg 3, foreign-key
triggers off and the secondary indexes built afterwards, with a progress bar. The shape: 10 operators,
100 sites (Stockholm, Helsinki and London time), 500 stations with 2 connectors each, 20,000 customer
accounts, two years of sessions ending now (about 3 % refused starts, 1 % delivering nothing, some still
running), 10 to 31 energy readings per session, a status event for each step of a session, faults and
station-wide outages, and websocket connections that drop every day or two. Then ``rollups_rebuild``
(timed) and the measurements: each selector N times after two warm-up runs (p50/p95 in ms), beside a
plain aggregation of the same figure over the raw rows for the same operator and period.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.django_setup import setup_django  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/chargeportal_bench"
OPERATORS, SITES_PER_OPERATOR, STATIONS_PER_SITE, CONNECTORS_PER_STATION = 10, 10, 5, 2
ACCOUNTS_PER_OPERATOR = 2_000
DAYS = 730
ZONES = ["Europe/Stockholm"] * 8 + ["Europe/Helsinki", "Europe/London"]
SLUG = "bench-op-{}"
#: Demand by hour of day (local time, roughly): a morning and an evening peak.
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 2, 4, 8, 9, 7, 6, 6, 7, 6, 6, 7, 9, 10, 9, 7, 5, 4, 2, 1]
BIG_TABLES = [
    "sessions_app_chargingsession",
    "billing_sessionprice",
    "sessions_app_metervalue",
    "sessions_app_statusevent",
    "sessions_app_chargerconnection",
]


# ---------------------------------------------------------------- database


def ensure_database(url: str, *, drop: bool) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and drop:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
        # The planner's cost of a random read on SSD storage (PostgreSQL's default, 4, is for spinning disks;
        # README, Performance): with it, a fleet card's 8,000 prices are read by index, not by a full scan.
        conn.execute(f'ALTER DATABASE "{name}" SET random_page_cost = 1.1')


# ---------------------------------------------------------------- loading


def _next_id(cursor, table: str) -> int:
    cursor.execute(f'SELECT coalesce(max(id), 0) + 1 FROM "{table}"')  # noqa: S608 - our own table names
    return cursor.fetchone()[0]


def load(*, url: str, sessions: int, seed: int) -> dict[str, int]:
    """The volume, ending now. Returns row counts."""
    import psycopg
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from tqdm import tqdm

    from accounts.models import CustomerAccount, IdTag, Organization, User
    from accounts.services import staff_create
    from sessions_app.models import ChargePoint, Connector, Site

    rng = random.Random(seed)  # noqa: S311 - a benchmark, not cryptography
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=DAYS)

    with transaction.atomic():
        operators = [
            Organization.objects.create(name=f"Bänk {i} Laddning AB", slug=SLUG.format(i), currency="SEK")
            for i in range(OPERATORS)
        ]
        stations: list[tuple[ChargePoint, list[Connector], str]] = []
        for i, org in enumerate(operators):
            for s in range(SITES_PER_OPERATOR):
                site = Site.objects.create(
                    organization=org,
                    name=f"Plats {i}-{s}",
                    street=f"Gatan {s}",
                    postal_code="111 22",
                    city="Stockholm",
                    latitude=Decimal("59.33"),
                    longitude=Decimal("18.07"),
                    time_zone=ZONES[i],
                    created_at=start,
                )
                for c in range(STATIONS_PER_SITE):
                    cp = ChargePoint.objects.create(
                        organization=org,
                        site=site,
                        ocpp_id=f"BENCH-{i}-{s}-{c}",
                        name=f"Laddare {i}-{s}-{c}",
                        registration_status=ChargePoint.RegistrationStatus.ACCEPTED,
                        created_at=start,
                    )
                    connectors = [
                        Connector.objects.create(charge_point=cp, number=n + 1, max_power_kw=Decimal("22"))
                        for n in range(CONNECTORS_PER_STATION)
                    ]
                    stations.append((cp, connectors, ZONES[i]))
        accounts: dict[int, list[int]] = {}
        tags: dict[int, int] = {}
        for org in operators:
            made = CustomerAccount.objects.bulk_create(
                [
                    CustomerAccount(
                        organization=org,
                        name=f"Kund {org.pk}-{n}",
                        created_at=start,
                        billing_email=f"k{org.pk}-{n}@bench.example",
                    )
                    for n in range(ACCOUNTS_PER_OPERATOR)
                ]
            )
            accounts[org.pk] = [a.pk for a in made]
            for tag in IdTag.objects.bulk_create(
                [
                    IdTag(uid=f"B{org.pk:03X}{n:08X}", customer_account_id=a.pk, issued_at=start)
                    for n, a in enumerate(made)
                ]
            ):
                tags[tag.customer_account_id] = tag.pk
        # Drivers who log in: the operator's heaviest card (a fleet car, thousands of sessions) and a typical one.
        password = make_password("bench-password-2026")
        for who, index in (("heavy", 0), ("typical", 400)):
            account_id = accounts[operators[0].pk][index]
            user = User.objects.create(email=f"{who}@bench.example", password=password, customer_account_id=account_id)
            IdTag.objects.filter(pk=tags[account_id]).update(owner=user)
        staff_create(
            email="staff@bench.example",
            password="bench-password-2026",  # noqa: S106 - a bench login
            organization=operators[0],
        )

    weights = [rng.lognormvariate(0, 0.7) for _ in range(len(stations) * CONNECTORS_PER_STATION)]
    scale = sessions * 1.0095 / sum(weights)  # about 1 % fall out (a connector busy at that moment)
    hour_cum = [sum(HOUR_WEIGHTS[: h + 1]) for h in range(24)]
    span_days = (end - start).days
    counts = dict.fromkeys(["sessions", "prices", "meter values", "status events", "connections"], 0)

    with psycopg.connect(url) as conn:
        cur = conn.cursor()
        cur.execute("SET session_replication_role = replica")  # no FK triggers while loading
        cur.execute("SET synchronous_commit = off")
        cur.execute("SET maintenance_work_mem = '512MB'")
        index_defs = []
        for table in ("sessions_app_metervalue", "sessions_app_statusevent", "sessions_app_chargingsession"):
            cur.execute(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = %s AND NOT EXISTS ("
                "SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
                [table],
            )
            for name, definition in cur.fetchall():
                index_defs.append(definition)
                cur.execute(f'DROP INDEX "{name}"')
        conn.commit()
        ids = {table: _next_id(cur, table) for table in BIG_TABLES}

        session_id, price_id, mv_id, ev_id, conn_id = (ids[t] for t in BIG_TABLES)
        bar = tqdm(total=sessions, unit="session", desc="loading", smoothing=0.05)
        batch: dict[str, list] = {t: [] for t in BIG_TABLES}

        def flush():
            columns = {
                "sessions_app_chargingsession": "id, id_tag_uid, auth_status, state, started_at, stopped_at, "
                "meter_start_wh, meter_stop_wh, energy_wh, stop_reason, created_at, charge_point_id, "
                "customer_account_id, id_tag_id, connector_id",
                "billing_sessionprice": "id, tariff_snapshot, breakdown, currency, energy_wh, net_total, vat_rate, "
                "vat_amount, gross_total, adjustment, priced_at, session_id, tariff_id",
                "sessions_app_metervalue": "id, timestamp, measurand, phase, value, unit, context, location, "
                "charge_point_id, connector_id, session_id",
                "sessions_app_statusevent": "id, status, error_code, info, vendor_id, vendor_error_code, timestamp, "
                "received_at, charge_point_id, connector_id",
                "sessions_app_chargerconnection": "id, connected_at, disconnected_at, charge_point_id",
            }
            for table in BIG_TABLES:
                with cur.copy(f"COPY {table} ({columns[table]}) FROM STDIN") as copy:  # noqa: S608 - our own
                    for row in batch[table]:
                        copy.write_row(row)
                batch[table] = []
            conn.commit()

        def status(cp_id, connector_id, value, at, code="NoError"):
            nonlocal ev_id
            batch["sessions_app_statusevent"].append((ev_id, value, code, "", "", "", at, at, cp_id, connector_id))
            ev_id += 1

        w = 0
        for cp, connectors, _zone in stations:
            org_accounts = accounts[cp.organization_id]
            # Connections: a day or two each, then a few minutes (now and then hours) offline.
            t = start + timedelta(minutes=rng.randrange(60))
            while t < end:
                online = timedelta(hours=rng.expovariate(1 / 36))
                off = timedelta(minutes=rng.expovariate(1 / 15) if rng.random() > 0.05 else rng.uniform(240, 1440))
                closed = t + online
                batch["sessions_app_chargerconnection"].append((conn_id, t, closed if closed < end else None, cp.pk))
                conn_id += 1
                counts["connections"] += 1
                status(cp.pk, None, "Available", t)  # connector 0 after each boot
                t = closed + off
            for _ in range(int(rng.expovariate(1 / 6)) + 2):  # station-wide maintenance
                at = start + timedelta(seconds=rng.uniform(0, (end - start).total_seconds()))
                status(cp.pk, None, "Unavailable", at)
                status(cp.pk, None, "Available", at + timedelta(hours=rng.uniform(1, 4)))
            for connector in connectors:
                n = round(weights[w] * scale)
                w += 1
                starts = []
                for _ in range(n):
                    hour = next(h for h, c in enumerate(hour_cum) if c > rng.random() * hour_cum[-1])
                    starts.append(
                        start + timedelta(days=rng.randrange(span_days), hours=hour, seconds=rng.randrange(3600))
                    )
                starts.sort()
                meter = rng.randrange(1_000_000)
                for k, begun in enumerate(starts):
                    following = starts[k + 1] if k + 1 < len(starts) else end + timedelta(days=1)
                    refused = rng.random() < 0.03
                    minutes = (
                        rng.uniform(1, 2) if refused else min(720, max(10, rng.lognormvariate(math.log(120), 0.7)))
                    )
                    stopped = min(begun + timedelta(minutes=minutes), following - timedelta(minutes=2))
                    if stopped <= begun + timedelta(seconds=30):
                        continue
                    running = stopped > end - timedelta(minutes=5) or (k == len(starts) - 1 and rng.random() < 0.05)
                    if running and begun >= end:
                        continue
                    account = org_accounts[int(len(org_accounts) * rng.random() ** 3)]
                    auth = rng.choice(("Invalid", "Blocked")) if refused else "Accepted"
                    power_w = rng.choice((3_700, 7_400, 11_000, 22_000))
                    duration_h = (stopped - begun).total_seconds() / 3600
                    energy = 0 if refused or rng.random() < 0.01 else int(power_w * duration_h * rng.uniform(0.4, 0.95))
                    charge_end = begun + (stopped - begun) * (energy / (power_w * duration_h) if energy else 0.0)
                    sid = session_id
                    session_id += 1
                    owner = None if auth == "Invalid" else account
                    uid = "UNKNOWN0" if auth == "Invalid" else f"B{cp.organization_id:03X}"
                    if running:
                        batch["sessions_app_chargingsession"].append(
                            (
                                sid,
                                uid,
                                auth,
                                "active",
                                begun,
                                None,
                                meter,
                                None,
                                None,
                                "",
                                begun,
                                cp.pk,
                                owner,
                                tags.get(owner),
                                connector.pk,
                            )
                        )
                    else:
                        batch["sessions_app_chargingsession"].append(
                            (
                                sid,
                                uid,
                                auth,
                                "completed",
                                begun,
                                stopped,
                                meter,
                                meter + energy,
                                energy,
                                "EVDisconnected" if not refused else "DeAuthorized",
                                stopped,
                                cp.pk,
                                owner,
                                tags.get(owner),
                                connector.pk,
                            )
                        )
                    counts["sessions"] += 1
                    if auth == "Accepted" and not running:
                        gross = (Decimal(energy) * Decimal("0.00449") + Decimal("5.00")).quantize(Decimal("0.01"))
                        net = (gross / Decimal("1.25")).quantize(Decimal("0.01"))
                        batch["billing_sessionprice"].append(
                            (
                                price_id,
                                "{}",
                                "[]",
                                "SEK",
                                energy,
                                net,
                                "0.2500",
                                gross - net,
                                gross,
                                "0.00",
                                stopped,
                                sid,
                                None,
                            )
                        )
                        price_id += 1
                        counts["prices"] += 1
                    readings = 2 if refused else rng.randint(10, 31)
                    last = end if running else stopped
                    step = (last - begun) / readings
                    charge_s = max(1.0, (charge_end - begun).total_seconds())
                    for r in range(1, readings + 1):
                        at = begun + step * r
                        done = min(1.0, (at - begun).total_seconds() / charge_s) if energy else 0.0
                        batch["sessions_app_metervalue"].append(
                            (
                                mv_id,
                                at,
                                "Energy.Active.Import.Register",
                                "",
                                meter + int(energy * done),
                                "Wh",
                                "Sample.Periodic",
                                "",
                                cp.pk,
                                connector.pk,
                                sid,
                            )
                        )
                        mv_id += 1
                    counts["meter values"] += readings
                    status(cp.pk, connector.pk, "Preparing", begun - timedelta(seconds=30))
                    if not refused:
                        status(cp.pk, connector.pk, "Charging", begun + timedelta(seconds=20))
                        if not running and charge_end < stopped - timedelta(minutes=1):
                            status(cp.pk, connector.pk, "SuspendedEV", charge_end)
                    if not running:
                        status(cp.pk, connector.pk, "Finishing", stopped)
                        status(cp.pk, connector.pk, "Available", stopped + timedelta(seconds=30))
                    meter += energy
                    bar.update(1)
                for _ in range(int(rng.expovariate(1 / 24))):  # faults, cleared after minutes to days
                    at = start + timedelta(seconds=rng.uniform(0, (end - start).total_seconds()))
                    code = rng.choice(("GroundFailure", "OverCurrentFailure", "ConnectorLockFailure", "InternalError"))
                    status(cp.pk, connector.pk, "Faulted", at, code)
                    status(cp.pk, connector.pk, "Available", at + timedelta(hours=rng.expovariate(1 / 3)))
            if len(batch["sessions_app_metervalue"]) > 400_000:
                flush()
        flush()
        bar.close()
        counts["status events"] = ev_id - ids["sessions_app_statusevent"]
        cur.execute("SET session_replication_role = origin")
        for definition in tqdm(index_defs, desc="indexes", unit="index"):
            cur.execute(definition)
        for table in BIG_TABLES:
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608 - our own names
                f"(SELECT coalesce(max(id), 1) FROM {table}))"
            )
        conn.commit()
        conn.autocommit = True
        for table in BIG_TABLES:
            cur.execute(f"VACUUM ANALYZE {table}")
    return counts


# ---------------------------------------------------------------- measuring


def measure(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """p50 and p95 in ms after two warm-up runs."""
    fn()
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, math.ceil(0.95 * len(times)) - 1)]


def raw_sql(*queries: tuple[str, dict]) -> Callable[[], list]:
    from django.db import connection

    def run():
        rows = []
        with connection.cursor() as cursor:
            for sql, params in queries:
                cursor.execute(sql, params)
                rows += cursor.fetchall()
        return rows

    return run


RAW_OVERVIEW = """
WITH s AS (
  SELECT s.id, s.connector_id, s.charge_point_id, cp.site_id, s.customer_account_id, s.auth_status, s.state,
         s.started_at, coalesce(s.stopped_at, now()) AS stopped_at, s.energy_wh, p.gross_total
  FROM sessions_app_chargingsession s
  JOIN sessions_app_chargepoint cp ON cp.id = s.charge_point_id
  LEFT JOIN billing_sessionprice p ON p.session_id = s.id
  WHERE cp.organization_id = %(org)s AND s.started_at < %(end)s
    AND (s.stopped_at > %(start)s OR s.stopped_at IS NULL)
)
SELECT 'totals', NULL::int, NULL::int,
       count(*) FILTER (WHERE auth_status = 'Accepted' AND started_at >= %(start)s),
       sum(energy_wh) FILTER (WHERE auth_status = 'Accepted' AND started_at >= %(start)s),
       sum(gross_total) FILTER (WHERE auth_status = 'Accepted' AND started_at >= %(start)s),
       count(DISTINCT customer_account_id) FILTER (WHERE auth_status = 'Accepted' AND started_at >= %(start)s),
       sum(extract(epoch FROM least(stopped_at, %(end)s) - greatest(started_at, %(start)s)))
FROM s
UNION ALL
SELECT 'station', charge_point_id, NULL, count(*), sum(energy_wh), sum(gross_total), NULL,
       sum(extract(epoch FROM least(stopped_at, %(end)s) - greatest(started_at, %(start)s)))
FROM s GROUP BY charge_point_id
UNION ALL
SELECT 'heatmap', extract(isodow FROM started_at AT TIME ZONE %(tz)s)::int,
       extract(hour FROM started_at AT TIME ZONE %(tz)s)::int, count(*), NULL, NULL, NULL, NULL
FROM s WHERE started_at >= %(start)s GROUP BY 2, 3
UNION ALL
SELECT 'peak', site_id, NULL, max(running), NULL, NULL, NULL, NULL FROM (
  SELECT site_id, sum(delta) OVER (PARTITION BY site_id ORDER BY at, delta) AS running FROM (
    SELECT site_id, greatest(started_at, %(start)s) AS at, 1 AS delta FROM s
    UNION ALL SELECT site_id, least(stopped_at, %(end)s), -1 FROM s) e) r
GROUP BY site_id
"""

RAW_CHARGING = """
SELECT connector_id, sum(extract(epoch FROM least(until, %(end)s) - greatest(timestamp, %(start)s)))
FROM (
  SELECT e.connector_id, e.status, e.timestamp,
         lead(e.timestamp, 1, least(now(), %(end)s)) OVER (PARTITION BY e.connector_id ORDER BY e.timestamp, e.id)
           AS until
  FROM sessions_app_statusevent e JOIN sessions_app_chargepoint cp ON cp.id = e.charge_point_id
  WHERE cp.organization_id = %(org)s AND e.connector_id IS NOT NULL AND e.timestamp < %(end)s
    AND e.timestamp >= %(start)s - interval '2 days'
) t WHERE status = 'Charging' AND until > %(start)s GROUP BY connector_id
"""

RAW_UPTIME = """
WITH ev AS (
  SELECT e.connector_id, e.charge_point_id, e.status, e.timestamp,
         lead(e.timestamp, 1, least(now(), %(end)s)) OVER (PARTITION BY e.charge_point_id, e.connector_id
                                                          ORDER BY e.timestamp, e.id) AS until
  FROM sessions_app_statusevent e JOIN sessions_app_chargepoint cp ON cp.id = e.charge_point_id
  WHERE cp.organization_id = %(org)s AND e.timestamp < %(end)s AND e.timestamp >= %(start)s - interval '7 days'
),
down AS (
  SELECT connector_id, charge_point_id, greatest(timestamp, %(start)s) AS a, least(until, %(end)s) AS b
  FROM ev WHERE status IN ('Faulted', 'Unavailable') AND until > %(start)s
),
conn AS (
  SELECT c.charge_point_id, c.disconnected_at AS a,
         lead(c.connected_at, 1, %(end)s) OVER (PARTITION BY c.charge_point_id ORDER BY c.connected_at) AS b
  FROM sessions_app_chargerconnection c JOIN sessions_app_chargepoint cp ON cp.id = c.charge_point_id
  WHERE cp.organization_id = %(org)s AND c.connected_at < %(end)s
    AND (c.disconnected_at IS NULL OR c.disconnected_at > %(start)s - interval '7 days')
)
SELECT k.id, coalesce(sum(extract(epoch FROM d.b - d.a)) FILTER (WHERE d.b > d.a), 0),
       (SELECT coalesce(sum(extract(epoch FROM least(b, %(end)s) - greatest(a, %(start)s))), 0)
        FROM conn WHERE conn.charge_point_id = k.charge_point_id AND a IS NOT NULL AND b > %(start)s AND a < %(end)s)
FROM sessions_app_connector k JOIN sessions_app_chargepoint cp ON cp.id = k.charge_point_id
LEFT JOIN down d ON d.connector_id = k.id OR (d.connector_id IS NULL AND d.charge_point_id = k.charge_point_id)
WHERE cp.organization_id = %(org)s
GROUP BY k.id
"""

RAW_FAULTS = """
SELECT * FROM (
  SELECT e.charge_point_id, e.connector_id, e.status, e.error_code, e.timestamp,
         lead(e.timestamp) OVER (PARTITION BY e.charge_point_id, e.connector_id ORDER BY e.timestamp, e.id) AS cleared
  FROM sessions_app_statusevent e JOIN sessions_app_chargepoint cp ON cp.id = e.charge_point_id
  WHERE cp.organization_id = %(org)s AND e.timestamp < %(end)s AND e.timestamp >= %(start)s - interval '7 days'
) f WHERE status = 'Faulted' AND (cleared IS NULL OR cleared > %(start)s) ORDER BY timestamp DESC
"""

RAW_STARTS = """
SELECT s.charge_point_id, count(*) FILTER (WHERE s.auth_status <> 'Accepted'),
       count(*) FILTER (WHERE s.auth_status = 'Accepted' AND s.state = 'completed' AND s.energy_wh = 0), count(*)
FROM sessions_app_chargingsession s JOIN sessions_app_chargepoint cp ON cp.id = s.charge_point_id
WHERE cp.organization_id = %(org)s AND s.started_at >= %(start)s AND s.started_at < %(end)s
GROUP BY s.charge_point_id
"""

RAW_HISTORY = """
SELECT s.id, s.started_at, s.stopped_at, s.energy_wh, p.gross_total, cp.name, site.name
FROM sessions_app_chargingsession s
JOIN accounts_idtag t ON t.id = s.id_tag_id
JOIN sessions_app_chargepoint cp ON cp.id = s.charge_point_id
LEFT JOIN sessions_app_site site ON site.id = cp.site_id
LEFT JOIN billing_sessionprice p ON p.session_id = s.id
WHERE t.owner_id = %(user)s ORDER BY s.started_at DESC, s.id DESC LIMIT 25
"""

RAW_HISTORY_TOTALS = """
SELECT count(*), sum(s.energy_wh), sum(p.gross_total), sum(extract(epoch FROM s.stopped_at - s.started_at)),
       date_trunc('month', s.started_at AT TIME ZONE %(tz)s) AS month
FROM sessions_app_chargingsession s JOIN accounts_idtag t ON t.id = s.id_tag_id
LEFT JOIN billing_sessionprice p ON p.session_id = s.id
WHERE t.owner_id = %(user)s GROUP BY ROLLUP (month)
"""


def _optional(module: str, name: str):
    try:
        return getattr(__import__(module, fromlist=[name]), name)
    except (ImportError, AttributeError):
        return None


def run_measurements(repeat: int) -> list[tuple[str, str, float | None, float | None, float, float]]:
    from django.utils import timezone

    from accounts.models import Organization, User
    from billing.selectors import organization_time_zone

    org = Organization.objects.get(slug=SLUG.format(0))
    tz = organization_time_zone(org)
    now = timezone.now()
    local_today = now.astimezone(__import__("zoneinfo").ZoneInfo(tz)).date()
    month_first = (local_today.replace(day=1) - timedelta(days=1)).replace(day=1)  # last whole month
    month_last = local_today.replace(day=1) - timedelta(days=1)
    year_first = date(month_first.year - 1, month_first.month, 1)
    results = []

    def add(page, figure, selector, *queries):
        ours = measure(selector, repeat) if selector else (None, None)
        raw = measure(raw_sql(*queries), max(3, repeat // 4))
        results.append((page, figure, *ours, *raw))
        print(f"  {page:<34} {figure:<28} done", file=sys.stderr)

    Period = _optional("reporting.overview", "Period")
    operator_overview = _optional("reporting.overview", "operator_overview")
    for label, first, last in (("month", month_first, month_last), ("12 months", year_first, month_last)):
        period = Period(first, last, tz) if Period else None
        start = period.start if period else datetime.combine(first, datetime.min.time(), tzinfo=UTC)
        end = period.end if period else datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        current = {"org": org.pk, "start": start, "end": end, "tz": tz}
        previous = {**current, "start": start - (end - start), "end": start}  # the trends' period
        add(
            "operator overview",
            label,
            (lambda p=period: operator_overview(organization=org, period=p)) if operator_overview else None,
            (RAW_OVERVIEW, current),
            (RAW_CHARGING, current),
            (RAW_OVERVIEW, previous),
            (RAW_CHARGING, previous),
        )

    uptime_by_month = _optional("reporting.uptime", "uptime_by_month")
    for label, first in (("month", month_first), ("12 months", year_first)):
        start = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
        end = datetime.combine(month_last + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        add(
            "uptime by connector and month",
            label,
            (lambda f=first: uptime_by_month(organization=org, first_month=f, last_month=month_last))
            if uptime_by_month
            else None,
            (RAW_UPTIME, {"org": org.pk, "start": start, "end": end}),
        )

    fault_log = _optional("reporting.faults", "fault_log")
    needs_attention = _optional("reporting.faults", "needs_attention")
    start = datetime.combine(month_first, datetime.min.time(), tzinfo=UTC)
    end = datetime.combine(month_last + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    window = {"org": org.pk, "start": start, "end": end}
    add(
        "fault log",
        "month",
        (lambda: fault_log(organization=org, start=start, end=end)) if fault_log else None,
        (RAW_FAULTS, window),
    )
    add(
        "needs attention",
        "month",
        (lambda: needs_attention(organization=org, start=start, end=end)) if needs_attention else None,
        (RAW_UPTIME, window),
        (RAW_STARTS, window),
        (RAW_FAULTS, window),
    )

    history = (
        __import__("reporting.history", fromlist=["history_queryset"])
        if _optional("reporting.history", "history_queryset")
        else None
    )
    for who in ("heavy", "typical"):
        user = User.objects.get(email=f"{who}@bench.example")
        sessions = None
        if history:
            filters = history.HistoryFilters()

            def first_page(user=user, filters=filters):
                qs = history.history_queryset(user=user, filters=filters)
                return history.history_rows(qs[:25], now=now), history.history_totals(qs)

            def months(user=user, filters=filters):
                stations = history.history_stations(user=user)
                qs = history.history_queryset(user=user, filters=filters, stations=stations, period=False)
                return history.history_months(qs, stations=stations, time_zone=tz, now=now)

            sessions = history.history_queryset(user=user, filters=filters).count()
        add(
            f"driver history ({who}, {sessions or '?'} sessions)",
            "first page + totals",
            first_page if history else None,
            (RAW_HISTORY, {"user": user.pk}),
            (RAW_HISTORY_TOTALS, {"user": user.pk, "tz": tz}),
        )
        add(
            f"driver history ({who})",
            "monthly energy and spend",
            months if history else None,
            (RAW_HISTORY_TOTALS, {"user": user.pk, "tz": tz}),
        )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("-n", "--repeat", type=int, default=20, help="Timed runs per selector (after 2 warm-ups).")
    parser.add_argument("--reload", action="store_true", help="Drop the database and load it again.")
    parser.add_argument("--rebuild", action="store_true", help="Rebuild the rollups even when they exist.")
    parser.add_argument("--load-only", action="store_true")
    args = parser.parse_args(argv)

    ensure_database(args.database_url, drop=args.reload)
    setup_django(args.database_url)
    from django.core.management import call_command
    from tqdm import tqdm

    call_command("migrate", verbosity=0)
    from accounts.models import Organization
    from reporting.models import ConnectorDay, ConnectorHour, DriverDay, SiteHour
    from reporting.rollups import rollups_rebuild, rollups_refresh, rollups_session_completed
    from sessions_app.models import ChargingSession, MeterValue

    if not Organization.objects.filter(slug=SLUG.format(0)).exists():
        t0 = time.perf_counter()
        counts = load(url=args.database_url, sessions=args.sessions, seed=args.seed)
        print(f"Loaded in {time.perf_counter() - t0:.0f} s: " + ", ".join(f"{v:,} {k}" for k, v in counts.items()))
    if args.rebuild or not ConnectorHour.objects.exists():
        t0 = time.perf_counter()
        result = rollups_rebuild(progress=lambda months, total: tqdm(months, total=total, unit="month", desc="rollups"))
        print(
            f"Rollups rebuilt in {time.perf_counter() - t0:.0f} s: {result.connector_hours:,} connector hours, "
            f"{result.connector_days:,} connector days, {result.site_hours:,} site hours, "
            f"{result.driver_days:,} driver days"
        )
        from django.db import connection

        with connection.cursor() as cur:  # what autovacuum does to a table in use: statistics, visibility map
            for model in (ConnectorHour, ConnectorDay, SiteHour, DriverDay):
                cur.execute(f"VACUUM ANALYZE {model._meta.db_table}")
    if args.load_only:
        return 0

    sessions = ChargingSession.objects.count()
    meter_values = (
        MeterValue.objects.count()
        if sessions < 200_000
        else "~{:,}".format(
            __import__("django.db", fromlist=["connection"])
            .connection.cursor()
            .execute("SELECT reltuples::bigint FROM pg_class WHERE relname = 'sessions_app_metervalue'")
            .fetchone()[0]
        )
    )
    print(
        f"Database: {sessions:,} sessions, {meter_values} meter values, "
        f"{ConnectorHour.objects.count():,} connector hours."
    )

    # The rollups hold the raw rows' numbers: totals over everything, both ways.
    from django.db.models import Count, Q, Sum

    rolled = ConnectorHour.objects.aggregate(
        sessions=Sum("sessions"),
        failed=Sum("failed_starts"),
        energy=Sum("energy_wh"),
        revenue=Sum("revenue"),
        zero=Sum("zero_energy"),
    )
    accepted = Q(auth_status="Accepted")
    done = accepted & Q(state="completed")
    raw = ChargingSession.objects.filter(connector__isnull=False).aggregate(
        sessions=Count("pk", filter=accepted),
        failed=Count("pk", filter=~accepted),
        energy=Sum("energy_wh", filter=done),
        revenue=Sum("price__gross_total", filter=done),
        zero=Count("pk", filter=done & Q(energy_wh=0)),
    )
    print(
        "Rollups vs raw rows: "
        + ", ".join(f"{k} {rolled[k]:,} / {raw[k]:,}" for k in rolled)
        + f"; {SiteHour.objects.count():,} site hours"
    )

    # Keeping them current: the per-minute refresh and the hook after a stop.
    t0 = time.perf_counter()
    rollups_refresh()
    refresh_ms = (time.perf_counter() - t0) * 1000
    recent = list(
        ChargingSession.objects.filter(state="completed", connector__isnull=False)
        .order_by("-started_at")
        .values_list("pk", flat=True)[:50:5]
    )
    hook = measure(lambda: [rollups_session_completed(pk) for pk in recent[:1]], 5)
    print(f"Refresh (every minute): {refresh_ms:.0f} ms; hook after a stop: p50 {hook[0]:.0f} ms, p95 {hook[1]:.0f} ms")

    print(f"Measuring ({args.repeat} runs each, warm cache)...", file=sys.stderr)
    rows = run_measurements(args.repeat)
    print()
    print(f"| {'report page (selector)':<44} | {'figure':<26} | rollups p50 | p95 | raw rows p50 | p95 |")
    print(f"|{'-' * 46}|{'-' * 28}|---:|---:|---:|---:|")
    for page, figure, p50, p95, raw50, raw95 in rows:
        ours = f"{p50:.0f} ms | {p95:.0f} ms" if p50 is not None else "(not written yet) | -"
        print(f"| {page:<44} | {figure:<26} | {ours} | {raw50:.0f} ms | {raw95:.0f} ms |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
