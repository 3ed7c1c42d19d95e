"""Monthly statements benchmark: statements built per minute (snapshot, numbering, PDF, stored), N processes.

Not a test: run it and read the lines it prints (target from the issue: 2,000 statements of 30 sessions
each in under 2 minutes on a 2-core machine).

    .venv/bin/python bench/statements.py                      # 2,000 accounts x 30 sessions, throwaway SQLite
    .venv/bin/python bench/statements.py --accounts 300 --workers 2
    .venv/bin/python bench/statements.py --database-url postgres://postgres@127.0.0.1:5432/cp_bench
    .venv/bin/python bench/statements.py --accounts 50 --profile   # cProfile of one process, no pool

The database is a throwaway: by default a new SQLite file in a temporary directory, else the (existing,
empty or not) database of ``--database-url``, migrated first; a new operator is made in it each run. Each
account gets ``--sessions`` completed sessions spread over last month (seeded), priced by the operator's
tariff by the service a StopTransaction runs (``session_price_freeze``, a thousand sessions per transaction)
and charged in that month. Building the data is not timed.

Timed: ``billing.statements.statement_issue`` for every account, exactly what the Celery task
``billing.statement_build`` runs, in ``--workers`` processes of a multiprocessing pool (forked after
Django is set up). Celery itself is left out: it would add a Redis round trip per task and the
e2e tests (tests/e2e/test_statement_jobs.py) cover it. No email is sent. PDFs go to a temporary MEDIA_ROOT.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.django_setup import setup_django  # noqa: E402

ZONE = "Europe/Stockholm"


def build_data(*, accounts: int, sessions: int, seed: int) -> tuple[int, datetime, datetime]:
    """A new operator with ``accounts`` customer accounts, each with ``sessions`` priced sessions last month."""
    from django.db import connection, transaction
    from django.db.models import OuterRef, Subquery
    from django.utils import timezone

    from accounts.models import CustomerAccount, IdTag, Organization
    from billing.models import LedgerEntry, PriceComponent, SessionPrice, Tariff, TariffElement
    from billing.services import session_price_freeze, tariff_assignment_create
    from core.timeutil import month_period, previous_month
    from sessions_app.models import ChargePoint, ChargingSession, Connector, Site

    rng = random.Random(seed)  # noqa: S311 - a benchmark, not cryptography
    start, end = month_period(previous_month(timezone.now(), ZONE), ZONE)
    stamp = f"{time.time_ns():x}"
    with transaction.atomic():
        organization = Organization.objects.create(
            name="Bänk Laddning AB",
            slug=f"bench-{stamp}",
            street="Storgatan 1",
            postal_code="111 22",
            city="Stockholm",
            registration_number="556000-0000",
            vat_number="SE556000000001",
            email="faktura@bench.example",
            phone="+46 8 000 00 00",
        )
        sites = [
            Site.objects.create(
                organization=organization,
                name=f"Bänk {n}",
                street="Storgatan 1",
                postal_code="111 22",
                city="Stockholm",
                latitude=Decimal("59.329300"),
                longitude=Decimal("18.068600"),
                time_zone=ZONE,
            )
            for n in range(3)
        ]
        connectors = []
        for n in range(30):
            charge_point = ChargePoint.objects.create(
                organization=organization,
                site=sites[n % 3],
                ocpp_id=f"BENCH-{stamp}-{n:02d}",
                name=f"Laddare {n + 1}",
                registration_status=ChargePoint.RegistrationStatus.ACCEPTED,
            )
            connectors += [
                Connector.objects.create(charge_point=charge_point, number=number, max_power_kw=Decimal("22.0"))
                for number in (1, 2)
            ]
        tariff = Tariff.objects.create(
            organization=organization, name="Standard", valid_from=datetime(2020, 1, 1, tzinfo=UTC)
        )
        element = TariffElement.objects.create(tariff=tariff, position=0)
        PriceComponent.objects.create(element=element, type="ENERGY", price=Decimal("4.49"))
        PriceComponent.objects.create(element=element, type="FLAT", price=Decimal("5.00"))
        tariff_assignment_create(tariff=tariff)

        account_rows = CustomerAccount.objects.bulk_create(
            [
                CustomerAccount(
                    organization=organization,
                    name=f"Kund {i + 1:05d} Andersson",
                    street=f"Vägen {i + 1}",
                    postal_code="123 45",
                    city="Solna",
                    billing_email=f"kund{i + 1}@bench.example",
                    reference=f"REF-{i + 1}",
                )
                for i in range(accounts)
            ],
            batch_size=500,
        )
        if account_rows[0].pk is None:  # backends that do not return ids from bulk_create
            account_rows = list(CustomerAccount.objects.filter(organization=organization).order_by("pk"))
        tags = IdTag.objects.bulk_create(
            [
                IdTag(uid=f"B{stamp[-7:]}{i:06d}", label=f"Kort {i + 1}", customer_account=account)
                for i, account in enumerate(account_rows)
            ],
            batch_size=500,
        )
        if tags[0].pk is None:
            tags = list(IdTag.objects.filter(customer_account__organization=organization).order_by("pk"))

    seconds = int((end - start).total_seconds()) - 12 * 3600
    rows = []
    for account, tag in zip(account_rows, tags, strict=True):
        for _ in range(sessions):
            connector = rng.choice(connectors)
            started = start + timedelta(seconds=rng.randrange(seconds))
            minutes = rng.randrange(20, 600)
            energy = rng.randrange(3_000, 60_000)
            meter_start = rng.randrange(0, 10_000_000)
            rows.append(
                ChargingSession(
                    charge_point_id=connector.charge_point_id,
                    connector=connector,
                    id_tag=tag,
                    id_tag_uid=tag.uid,
                    customer_account=account,
                    auth_status="Accepted",
                    started_at=started,
                    stopped_at=started + timedelta(minutes=minutes),
                    meter_start_wh=meter_start,
                    meter_stop_wh=meter_start + energy,
                    energy_wh=energy,
                    state=ChargingSession.State.COMPLETED,
                    stop_reason="EVDisconnected",
                )
            )
    ChargingSession.objects.bulk_create(rows, batch_size=1000)
    session_ids = list(
        ChargingSession.objects.filter(charge_point__organization=organization).values_list("pk", flat=True)
    )
    for i in range(0, len(session_ids), 1000):
        with transaction.atomic():  # one commit per thousand sessions, not one per session
            for session in ChargingSession.objects.filter(pk__in=session_ids[i : i + 1000]).select_related(
                "connector__charge_point", "charge_point__site", "customer_account"
            ):
                session_price_freeze(session=session)
    # Priced and charged when they stopped, as a StopTransaction would have done.
    stopped = ChargingSession.objects.filter(pk=OuterRef("session_id")).values("stopped_at")[:1]
    SessionPrice.objects.filter(session__charge_point__organization=organization).update(priced_at=Subquery(stopped))
    LedgerEntry.objects.filter(customer_account__organization=organization, session__isnull=False).update(
        booked_at=Subquery(stopped)
    )
    with connection.cursor() as cursor:  # planner statistics, as a database in use has them
        cursor.execute("ANALYZE")
    return organization.pk, start, end


_PERIOD: tuple[datetime, datetime] | None = None


def _init(period: tuple[datetime, datetime]) -> None:
    global _PERIOD
    _PERIOD = period
    from django.db import connections

    connections.close_all()  # each process its own connection


def _issue(account_id: int) -> tuple[int, float, float, float]:
    """``statement_issue`` in its two steps, timed: numbered snapshot, then PDF rendered, stored and issued;
    and the CPU time this process spent on both."""
    from accounts.models import CustomerAccount
    from billing.statements import statement_create, statement_render

    cpu = time.process_time()
    t0 = time.perf_counter()
    statement = statement_create(
        customer_account=CustomerAccount.objects.get(pk=account_id), start=_PERIOD[0], end=_PERIOD[1]
    )
    t1 = time.perf_counter()
    statement = statement_render(statement=statement)
    return statement.pdf.size, t1 - t0, time.perf_counter() - t1, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--sessions", type=int, default=30, help="sessions per account (default 30)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: cores)")
    parser.add_argument("--database-url", help="a throwaway database (default: a new SQLite file)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--profile", action="store_true", help="cProfile the statements in this process")
    args = parser.parse_args(argv)

    tmp = tempfile.TemporaryDirectory(prefix="bench-statements-")
    database_url = args.database_url or f"sqlite:///{tmp.name}/bench.sqlite3"
    setup_django(database_url, media_root=f"{tmp.name}/media")
    from django.core.management import call_command
    from django.db import connection, connections

    from accounts.models import CustomerAccount
    from billing.models import Statement

    t0 = time.perf_counter()
    call_command("migrate", verbosity=0)
    organization_id, start, end = build_data(accounts=args.accounts, sessions=args.sessions, seed=args.seed)
    account_ids = list(
        CustomerAccount.objects.filter(organization_id=organization_id).order_by("pk").values_list("pk", flat=True)
    )
    print(
        f"{connection.vendor}: {len(account_ids):,} accounts x {args.sessions} priced sessions in "
        f"{start:%Y-%m} built in {time.perf_counter() - t0:.1f} s (not timed)"
    )

    if args.profile:
        import cProfile
        import pstats

        _init((start, end))
        profiler = cProfile.Profile()
        t0 = time.perf_counter()
        profiler.runcall(lambda: [_issue(pk) for pk in account_ids])
        elapsed = time.perf_counter() - t0
        print(f"{len(account_ids)} statements in one process under cProfile: {elapsed:.2f} s")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
        return 0

    connections.close_all()
    context = multiprocessing.get_context("fork")
    t0 = time.perf_counter()
    with context.Pool(args.workers, initializer=_init, initargs=((start, end),)) as pool:
        results = list(pool.imap_unordered(_issue, account_ids, chunksize=4))
    elapsed = time.perf_counter() - t0

    statements = Statement.objects.filter(organization_id=organization_id, status=Statement.Status.ISSUED)
    numbers = sorted(statements.values_list("number", flat=True))
    if numbers != list(range(1, len(account_ids) + 1)):
        print(f"ERROR: {len(numbers)} statements issued for {len(account_ids)} accounts, or numbers with gaps.")
        return 1

    def median_ms(values) -> float:
        values = sorted(values)
        return values[len(values) // 2] * 1000

    kib = sum(size for size, *_times in results) / len(results) / 1024
    cpu = median_ms(cpu for *_rest, cpu in results)
    print(
        f"{len(results):,} statements ({args.sessions} sessions each, PDF {kib:.0f} KiB average) "
        f"built with {args.workers} processes in {elapsed:.1f} s: {len(results) / elapsed * 60:,.0f} statements/min"
    )
    print(
        f"one statement, median: {median_ms(c for _s, c, _r, _cpu in results):.0f} ms numbered snapshot "
        f"(statement_create), {median_ms(r for _s, _c, r, _cpu in results):.0f} ms PDF (statement_render); "
        f"{cpu:.0f} ms of CPU, so about {60_000 / cpu:,.0f} statements/min per core the machine leaves free"
    )
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
