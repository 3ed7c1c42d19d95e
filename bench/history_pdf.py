"""History PDF benchmark: how long the driver's history PDF takes to build for N sessions.

Not a test: run it and read the lines it prints (target from issue 15: a year of sessions, about 1,500,
in under 2 s).

    .venv/bin/python bench/history_pdf.py                         # 1,500 sessions, throwaway SQLite
    .venv/bin/python bench/history_pdf.py --sessions 300 --sessions 1500 --repeat 3
    .venv/bin/python bench/history_pdf.py --database-url postgres://postgres@127.0.0.1:5432/cp_bench
    .venv/bin/python bench/history_pdf.py --profile               # cProfile of one build

The database is a throwaway: by default a new SQLite file in a temporary directory, else the (existing)
database of ``--database-url``, migrated first; a new operator, site, two stations and a driver are made
in it each run. The driver gets the largest ``--sessions`` count of completed sessions over the last year,
about half of them priced and paid by wallet or terminal (so the "Paid by" column is filled). Building the
data is not timed.

Timed: the whole request the driver's "Export PDF" makes (``history_export_pdf`` through Django's test
client, logged in), for the newest N sessions of that driver (a date filter), warm (one build first).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.django_setup import setup_django  # noqa: E402


def build_data(*, sessions: int, seed: int):
    """A driver with ``sessions`` completed sessions over the last year at two stations; returns the driver."""
    from django.db import transaction
    from django.utils import timezone

    from billing.ledger import terminal_payment_record
    from billing.models import SessionPrice
    from billing.services import session_price_freeze, tariff_assignment_create
    from sessions_app.models import ChargingSession
    from tests.factories import make_charge_point, make_driver, make_organization, make_site, make_tag, make_tariff

    rng = random.Random(seed)  # noqa: S311 - a benchmark, not cryptography
    stamp = f"{time.time_ns():x}"
    now = timezone.now()
    with transaction.atomic():
        organization = make_organization("Bänk Laddning")
        site = make_site(organization, "Bänkdepån")
        connectors = [
            c for n in (1, 2) for c in make_charge_point(site, f"BENCH-{stamp[-6:]}-{n}").connectors.order_by("number")
        ]
        driver = make_driver(organization, f"driver-{stamp}@bench.example")
        account = driver.customer_account
        if account is None:
            raise SystemExit("the factory's driver has no customer account")
        tag = make_tag(account, driver, f"B{stamp[-7:]}".upper())
        tariff_assignment_create(tariff=make_tariff(organization, energy="4.00"))
        start = now - timedelta(days=365)
        step = timedelta(days=365) / sessions
        objects = []
        for i in range(sessions):
            started = start + step * i
            minutes = rng.randint(20, 240)
            energy = minutes * rng.randint(50, 180)  # 3 to 11 kW
            connector = rng.choice(connectors)
            objects.append(
                ChargingSession(
                    charge_point=connector.charge_point,
                    connector=connector,
                    id_tag=tag,
                    id_tag_uid=tag.uid,
                    customer_account=account,
                    auth_status="Accepted",
                    started_at=started,
                    stopped_at=started + timedelta(minutes=minutes),
                    meter_start_wh=1_000_000,
                    meter_stop_wh=1_000_000 + energy,
                    energy_wh=energy,
                    state=ChargingSession.State.COMPLETED,
                    stop_reason="EVDisconnected",
                )
            )
        created = ChargingSession.objects.bulk_create(objects)
        for session in created[::2]:
            session_price_freeze(session=session)
            price = SessionPrice.objects.filter(session=session).first()
            if price is not None and rng.random() < 0.5:
                terminal_payment_record(session=session, amount=price.gross_total, reference=f"T{session.pk}")
    return driver


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, action="append", help="sessions in the PDF (repeatable)")
    parser.add_argument("--repeat", type=int, default=3, help="timed builds per size (default 3)")
    parser.add_argument("--database-url", help="a throwaway database (default: a new SQLite file)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--profile", action="store_true", help="cProfile one build of the largest size")
    args = parser.parse_args(argv)
    sizes = sorted(set(args.sessions or [1500]))

    tmp = tempfile.TemporaryDirectory(prefix="bench-history-pdf-")
    setup_django(args.database_url or f"sqlite:///{tmp.name}/bench.sqlite3", media_root=f"{tmp.name}/media")
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from sessions_app.models import ChargingSession

    t0 = time.perf_counter()
    call_command("migrate", verbosity=0)
    driver = build_data(sessions=sizes[-1], seed=args.seed)
    print(
        f"{connection.vendor}: {sizes[-1]:,} sessions over a year built in {time.perf_counter() - t0:.1f} s (not timed)"
    )

    client = Client()
    client.force_login(driver)
    url = reverse("history_export_pdf")
    started = list(
        ChargingSession.objects.filter(id_tag__owner=driver)
        .order_by("-started_at")
        .values_list("started_at", flat=True)
    )

    def build(n: int) -> bytes:
        # the n newest sessions: from the local day of the n-th newest (a day's margin is cut by the count check)
        params = {"date_from": (started[n - 1] + timedelta(days=1)).date().isoformat()} if n < len(started) else {}
        response = client.get(url, params, secure=True)
        if response.status_code != 200:
            raise SystemExit(f"the export answered {response.status_code}")
        return response.content

    build(sizes[0])  # warm: fonts, templates, connection
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        t0 = time.perf_counter()
        profiler.runcall(build, sizes[-1])
        print(f"{sizes[-1]} sessions under cProfile: {time.perf_counter() - t0:.2f} s")
        pstats.Stats(profiler).sort_stats(os.environ.get("BENCH_SORT", "cumulative")).print_stats(40)
        return 0

    import io

    from pypdf import PdfReader

    for n in sizes:
        times, cpu = [], []
        for _ in range(args.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            content = build(n)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        pages = len(PdfReader(io.BytesIO(content)).pages)
        print(
            f"{n:>6,} sessions: median {statistics.median(times):.2f} s, best {min(times):.2f} s "
            f"({args.repeat} builds; CPU of this process {statistics.median(cpu):.2f} s), "
            f"{pages} pages, {len(content) / 1024:.0f} KB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
