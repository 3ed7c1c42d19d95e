"""Load group page benchmark (issue 17): how long a load group's page takes with a month of busy connectors.

Not a test: run it and read the lines it prints.

    .venv/bin/python bench/load_page.py                                   # 20 connectors, throwaway SQLite
    .venv/bin/python bench/load_page.py --connectors 20 --every 1 --repeat 5
    .venv/bin/python bench/load_page.py --database-url postgres://postgres@127.0.0.1:5432/cp_bench

The database is a throwaway: by default a new SQLite file in a temporary directory, else the (existing)
database of ``--database-url``, migrated first. A new operator gets one site managed by a load group (63 A, 32 A
on weekdays 07-20) whose ``--connectors`` connectors charge all through last month (site time): sessions of four
hours at 11 kW, ten minutes apart, an energy register reading every ``--every`` minutes (1: 825,600
readings for 20 connectors in a 30-day month). Building the data is not timed.

Timed, warm (once first): the month chart's figures (``reporting.load.month_curve``: the database sums each
quarter hour), the same month reading by reading in Python (``site_power_per_reading``, how the chart was made
before), the day's (``day_curve``), and the whole page for a day of that month through Django's test client as the
operator's staff; each with its median and best time and the queries it made.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.django_setup import bench_site, setup_django  # noqa: E402

#: A session's length and the gap before the next one on its connector; its power.
SESSION, GAP, POWER_W = timedelta(hours=4), timedelta(minutes=10), 11_000


def build_data(*, connectors: int, every: int, month: date):
    """The managed site and its month of readings; returns (staff user, group, readings)."""
    from django.conf import settings
    from django.db import transaction

    from core.timeutil import month_period
    from sessions_app.models import ChargePoint, ChargingSession, Connector, LoadGroup, LoadLimitWindow, MeterValue
    from tests.factories import make_account, make_driver, make_staff, make_tag

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # users made fast, not timed
    stamp = f"{time.time_ns():x}"[-8:]
    with transaction.atomic():
        site = bench_site("Load page bench", f"LPB-{stamp}-")
        organization = site.organization
        staff = make_staff(organization, f"staff-{stamp}@bench.example")
        account = make_account(organization)
        card = make_tag(account, make_driver(organization, f"d-{stamp}@bench.example", account=account), f"L{stamp}")
        group = LoadGroup.objects.create(site=site, name="Main fuse", limit_unit="A", limit=Decimal(63))
        LoadLimitWindow.objects.create(group=group, weekdays="12345", start=clock(7), end=clock(20), limit=Decimal(32))
        charge_points = ChargePoint.objects.bulk_create(
            ChargePoint(
                organization=organization,
                site=site,
                ocpp_id=f"LPB{stamp}-{n:03d}",
                registration_status=ChargePoint.RegistrationStatus.ACCEPTED,
            )
            for n in range((connectors + 1) // 2)
        )
        made = Connector.objects.bulk_create(
            Connector(charge_point=cp, number=number, max_power_kw=Decimal("22.0"))
            for cp in charge_points
            for number in (1, 2)
        )[:connectors]
        start, end = month_period(month, site.time_zone)
        readings = 0
        per_minute = POWER_W // 60
        for n, connector in enumerate(made):
            at, register, sessions = start + timedelta(minutes=7 * n), 1_000_000, []
            while at + SESSION <= end:
                sessions.append((at, register))
                register += per_minute * (SESSION // timedelta(minutes=1))
                at += SESSION + GAP
            saved = ChargingSession.objects.bulk_create(
                ChargingSession(
                    charge_point_id=connector.charge_point_id,
                    connector=connector,
                    id_tag=card,
                    id_tag_uid=card.uid,
                    customer_account=account,
                    auth_status="Accepted",
                    state=ChargingSession.State.COMPLETED,
                    started_at=at,
                    created_at=at,
                    stopped_at=at + SESSION,
                    meter_start_wh=register,
                    meter_stop_wh=register + per_minute * (SESSION // timedelta(minutes=1)),
                    energy_wh=per_minute * (SESSION // timedelta(minutes=1)),
                )
                for at, register in sessions
            )
            rows = [
                MeterValue(
                    charge_point_id=connector.charge_point_id,
                    connector=connector,
                    session=session,
                    timestamp=session.started_at + timedelta(minutes=minute),
                    measurand="Energy.Active.Import.Register",
                    value=Decimal(session.meter_start_wh + per_minute * minute),
                    unit="Wh",
                )
                for session in saved
                for minute in range(every, SESSION // timedelta(minutes=1) + 1, every)
            ]
            MeterValue.objects.bulk_create(rows, batch_size=5000)
            readings += len(rows)
    return staff, group, readings


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


def timed(name: str, function, *args, repeat: int) -> None:
    function(*args)  # warm
    _result, queries = counted(function, *args)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        function(*args)
        times.append(time.perf_counter() - t0)
    print(
        f"  {name:<26} median {statistics.median(times) * 1000:6.0f} ms, best {min(times) * 1000:6.0f} ms, "
        f"{queries} queries"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connectors", type=int, default=20, help="the group's connectors (default 20)")
    parser.add_argument("--every", type=int, default=1, help="minutes between register readings (default 1)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per figure (default 5)")
    parser.add_argument("--database-url", help="a throwaway database (default: a new SQLite file)")
    args = parser.parse_args(argv)

    tmp = tempfile.TemporaryDirectory(prefix="bench-load-page-")
    setup_django(args.database_url or f"sqlite:///{tmp.name}/bench.sqlite3")
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from core.timeutil import month_period
    from reporting.load import day_curve, month_curve, site_power_per_reading

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    month = (datetime.now(UTC).date().replace(day=1) - timedelta(days=1)).replace(day=1)  # last month
    t0 = time.perf_counter()
    staff, group, readings = build_data(connectors=args.connectors, every=args.every, month=month)
    with connection.cursor() as cursor:  # the statistics autovacuum keeps in a live database
        cursor.execute("ANALYZE")
    print(
        f"{connection.vendor}: {args.connectors} connectors, {month:%Y-%m}, {readings:,} register readings built in "
        f"{time.perf_counter() - t0:.1f} s (not timed)"
    )
    day = month.replace(day=15)
    client = Client()
    client.force_login(staff)
    url = reverse("admin:reporting_load_group", args=[group.pk])

    def page() -> None:
        response = client.get(url, {"day": day.isoformat()}, secure=True)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")

    timed("month chart", month_curve, group, day, repeat=args.repeat)
    span = month_period(month, group.site.time_zone)
    timed("month, reading by reading", site_power_per_reading, group, *span, repeat=args.repeat)
    timed("day chart", day_curve, group, day, repeat=args.repeat)
    timed("page", page, repeat=args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
