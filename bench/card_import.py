"""Card import benchmark: how fast a CSV of new cards is checked and written (cards per second).

Not a test: run it and read the line it prints (the issue measured 70,000 valid lines in 50.7 s, with a
20 MB answer, before the import was chunked).

    .venv/bin/python bench/card_import.py                       # 70,000 lines, throwaway SQLite
    .venv/bin/python bench/card_import.py --rows 20000
    .venv/bin/python bench/card_import.py --database-url postgres://postgres@127.0.0.1:5432/cp_bench

The database is a throwaway: by default a new SQLite file in a temporary directory, else the database of
``--database-url``, migrated first; each run makes a new operator with one driver and imports ``--rows``
new cards for that driver (UIDs unique per run), as the admin page and the API do
(``accounts.services.id_tags_import_csv`` on an uploaded file). The file is kept under the 2 MB upload
limit: short addresses. Timed: the import call alone.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.django_setup import setup_django  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=70_000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    if not 1 <= args.rows <= 500_000:
        parser.error("--rows must be from 1 to 500,000")
    with tempfile.TemporaryDirectory() as scratch:
        setup_django(args.database_url or f"sqlite:///{scratch}/bench.sqlite3")
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from accounts.models import CustomerAccount, Organization, User
        from accounts.services import id_tags_import_csv

        run = uuid.uuid4().hex[:6]
        organization = Organization.objects.create(name=f"Bench {run}", slug=f"bench-{run}")
        account = CustomerAccount.objects.create(organization=organization, name="Fleet", billing_email=f"{run}@b.se")
        driver = User.objects.create_user(email=f"d{run}@b.se", password=None, customer_account=account)
        first = int(run[:4], 16) << 16  # 8 hex digits, distinct per run
        content = (
            "uid,owner_email\n" + "".join(f"{(first + n) % 2**32:08X},{driver.email}\n" for n in range(args.rows))
        ).encode()

        started = time.perf_counter()
        result = id_tags_import_csv(organization=organization, csv_file=io.BytesIO(content))
        elapsed = time.perf_counter() - started
        if not result.ok:
            sys.exit(f"The import was refused: {result.errors[:3]}")
        print(
            f"card import: {result.created:,} cards from {len(content) / 1e6:.1f} MB in {elapsed:.1f} s "
            f"= {result.created / elapsed:,.0f} cards/s ({'PostgreSQL' if args.database_url else 'SQLite'})"
        )


if __name__ == "__main__":
    main()
