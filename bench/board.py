"""Live board benchmark: how long the operator's live operations board takes to answer for N stations.

Not a test: run it and read the lines it prints (issue 15: the board works with 500 stations without slowing
the page).

    .venv/bin/python bench/board.py                                  # 500 stations, throwaway SQLite
    .venv/bin/python bench/board.py --stations 100 --stations 500 --repeat 5
    .venv/bin/python bench/board.py --database-url postgres://postgres@127.0.0.1:5432/cp_bench
    .venv/bin/python bench/board.py --profile rows                   # cProfile of one full rows fragment

The database is a throwaway: by default a new SQLite file in a temporary directory, else the (existing)
database of ``--database-url``, migrated first. Each size gets an operator of its own, with that many stations
(two connectors each) over 25 sites, all online, their ages (connected, in their status) spread over hours.
Three in five connectors charge, each session with ``--readings`` energy and power readings a minute apart; one
connector in fifty is faulted with its error in the history. Building the data is not timed.

Timed, warm (one request first), through Django's test client logged in as the operator's staff:

- the board page itself (``admin:sessions_app_board``);
- all rows, what the page fetches on opening, every minute and while it polls (``..._board_rows``);
- a partial refresh of 5 stations, what a pushed change costs (``..._board_rows?only=...``).

Each with its median and best time, its size, and the queries it made.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.django_setup import setup_django  # noqa: E402

#: Sites the stations are spread over, and where (around Stockholm).
SITES = 25


def build_data(*, stations: int, readings: int):
    """An operator with ``stations`` online stations and running sessions; returns its staff user."""
    from django.conf import settings
    from django.db import transaction
    from django.utils import timezone

    from sessions_app.models import (
        ChargePoint,
        ChargingSession,
        Connector,
        ConnectorStatus,
        MeterValue,
        Site,
        StatusEvent,
    )
    from tests.factories import make_account, make_driver, make_organization, make_staff, make_tag

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # users made fast, not timed
    stamp = f"{time.time_ns():x}"[-8:]
    now = timezone.now()
    with transaction.atomic():
        organization = make_organization(f"Board Bench {stamp}")  # a slug of its own in a reused database
        staff = make_staff(organization, f"staff-{stamp}@bench.example")
        account = make_account(organization)
        cards = [
            make_tag(
                account, make_driver(organization, f"d{n}-{stamp}@bench.example", account=account), f"B{stamp}{n:02d}"
            )
            for n in range(20)
        ]
        sites = Site.objects.bulk_create(
            Site(
                organization=organization,
                name=f"Depot {n:02d} {stamp}",
                street="Storgatan 1",
                postal_code="111 22",
                city="Stockholm",
                latitude=Decimal("59.2") + Decimal(n % 5) / 20,
                longitude=Decimal("17.9") + Decimal(n // 5) / 10,
                time_zone="Europe/Stockholm",
            )
            for n in range(SITES)
        )
        charge_points = ChargePoint.objects.bulk_create(
            ChargePoint(
                organization=organization,
                site=sites[n % SITES],
                ocpp_id=f"B{stamp}-{n:04d}",
                registration_status=ChargePoint.RegistrationStatus.ACCEPTED,
                created_at=now - timedelta(days=100),
                channel_name=f"bench.{n}",
                connected_at=now - timedelta(minutes=30 + 11 * n % 3000),  # ages spread as in a real fleet
                last_seen_at=now,
            )
            for n in range(stations)
        )
        connectors = Connector.objects.bulk_create(
            Connector(
                charge_point=cp,
                number=number,
                max_power_kw=Decimal("22.0"),
                status=ConnectorStatus.AVAILABLE,
                status_changed_at=now - timedelta(minutes=1 + (7 * n + 3 * number) % 900),
            )
            for n, cp in enumerate(charge_points)
            for number in (1, 2)
        )
        charging = [c for i, c in enumerate(connectors) if i % 5 < 3]
        faulted = [c for i, c in enumerate(connectors) if i % 50 == 4]
        Connector.objects.filter(pk__in=[c.pk for c in charging]).update(status=ConnectorStatus.CHARGING)
        Connector.objects.filter(pk__in=[c.pk for c in faulted]).update(
            status=ConnectorStatus.FAULTED, error_code="GroundFailure"
        )
        StatusEvent.objects.bulk_create(
            StatusEvent(
                charge_point_id=c.charge_point_id,
                connector=c,
                status=ConnectorStatus.FAULTED,
                error_code="GroundFailure",
                timestamp=now - timedelta(hours=1),
                received_at=now - timedelta(hours=1),
            )
            for c in faulted
        )
        started = now - timedelta(minutes=readings + 5)
        sessions = ChargingSession.objects.bulk_create(
            ChargingSession(
                charge_point_id=c.charge_point_id,
                connector=c,
                id_tag=cards[i % len(cards)],
                id_tag_uid=cards[i % len(cards)].uid,
                customer_account=account,
                auth_status="Accepted",
                started_at=started,
                created_at=started,
                meter_start_wh=1_000_000,
            )
            for i, c in enumerate(charging)
        )
        rows = []
        for session, connector in zip(sessions, charging, strict=True):
            for minute in range(readings):
                at = started + timedelta(minutes=minute + 1)
                for measurand, value, unit in (
                    ("Energy.Active.Import.Register", 1_000_000 + 180 * (minute + 1), "Wh"),
                    ("Power.Active.Import", 10_800, "W"),
                ):
                    rows.append(
                        MeterValue(
                            charge_point_id=connector.charge_point_id,
                            connector=connector,
                            session=session,
                            timestamp=at,
                            measurand=measurand,
                            value=Decimal(value),
                            unit=unit,
                        )
                    )
        MeterValue.objects.bulk_create(rows, batch_size=5000)
    return staff, charge_points, len(sessions), len(rows)


def counted(function, *args):
    """``function(*args)`` and the number of database queries it made."""
    from django.db import connection

    queries = 0

    def record(execute, sql, params, many, context):
        nonlocal queries
        queries += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        return function(*args), queries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, action="append", help="stations on the board (repeatable)")
    parser.add_argument("--readings", type=int, default=60, help="energy and power readings per session")
    parser.add_argument("--repeat", type=int, default=5, help="timed requests per figure (default 5)")
    parser.add_argument("--database-url", help="a throwaway database (default: a new SQLite file)")
    parser.add_argument("--profile", choices=["page", "rows", "partial"], help="cProfile one request")
    args = parser.parse_args(argv)
    sizes = sorted(set(args.stations or [500]))

    tmp = tempfile.TemporaryDirectory(prefix="bench-board-")
    setup_django(args.database_url or f"sqlite:///{tmp.name}/bench.sqlite3")
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from sessions_app.models import ChargePoint

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    client = Client()
    board, rows = reverse("admin:sessions_app_board"), reverse("admin:sessions_app_board_rows")

    for n in sizes:
        t0 = time.perf_counter()
        staff, charge_points, sessions, readings = build_data(stations=n, readings=args.readings)
        print(
            f"{connection.vendor}: {n} stations, {2 * n} connectors, {sessions} running sessions, "
            f"{readings:,} readings built in {time.perf_counter() - t0:.1f} s (not timed)"
        )
        client.force_login(staff)
        some = ",".join(str(cp.pk) for cp in charge_points[:: max(1, n // 5)][:5])
        requests = {
            "page": (board, {}),
            "rows": (rows, {}),
            "partial": (rows, {"only": some}),
        }

        def get(url: str, params: dict) -> bytes:
            response = client.get(url, params, secure=True)
            if response.status_code != 200:
                raise SystemExit(f"{url} answered {response.status_code}")
            return response.content

        if args.profile:
            import cProfile
            import pstats

            get(*requests[args.profile])
            profiler = cProfile.Profile()
            profiler.runcall(get, *requests[args.profile])
            pstats.Stats(profiler).sort_stats(os.environ.get("BENCH_SORT", "cumulative")).print_stats(40)
            continue
        for name, (url, params) in requests.items():
            get(url, params)  # warm: templates, the session, permissions
            content, queries = counted(get, url, params)
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                get(url, params)
                times.append(time.perf_counter() - t0)
            print(
                f"  {name:<8} median {statistics.median(times) * 1000:6.0f} ms, best {min(times) * 1000:6.0f} ms, "
                f"{len(content) / 1024:5.0f} KB, {queries} queries"
            )
        ChargePoint.objects.filter(organization=staff.organization).update(channel_name="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
