"""``manage.py demo_data``: fill the database with a believable Swedish charge-point operator."""

import time
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError
from django.db.models import ProtectedError, RestrictedError
from django.utils import timezone
from tqdm import tqdm

from accounts.models import Organization
from demo import builder as demo


def _until(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--until must be an ISO date or date-time, got {value!r}.") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = (
        "Create demo data: Laddkraft Sverige AB with 3 sites, 26 charge points, 200 drivers and "
        "N days of sessions and meter values, plus a small second operator. Deterministic for a "
        "given --seed and --until."
    )

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=42, help="Random seed (default 42).")
        parser.add_argument("--days", type=int, default=90, help="Days of history (default 90).")
        parser.add_argument(
            "--until",
            type=_until,
            default=None,
            help="End of the history, ISO date or date-time, UTC if naive (default: the current hour).",
        )
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--reset", action="store_true", help="Delete existing demo data first.")
        group.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing if any organization exists (for `make demo`).",
        )

    def handle(
        self,
        *args,
        seed: int,
        days: int,
        until: datetime | None,
        reset: bool,
        if_empty: bool,
        verbosity: int,
        **options,
    ):
        if days < 1:
            raise CommandError("--days must be at least 1.")
        if if_empty and Organization.objects.exists():
            self.stdout.write("Organizations already exist; demo data not created (--if-empty).")
            self._print_logins()
            return
        if demo.demo_data_exists():
            if not reset:
                raise CommandError(
                    "Demo data already exists (organization 'laddkraft' or a demo login). "
                    "Run with --reset to delete and rebuild it."
                )
            try:
                deleted = demo.demo_data_delete()
            except (ProtectedError, RestrictedError) as exc:
                raise CommandError(
                    f"Cannot delete the demo data, other records still refer to it: {exc.args[0]}"
                ) from exc
            if verbosity:
                self.stdout.write(f"Deleted the previous demo data ({deleted} sessions).")

        until = until or demo.default_until(timezone.now())
        show = verbosity > 0

        def progress(iterable, desc, total):
            return tqdm(iterable, desc=desc, total=total, unit="", leave=False, disable=not show, file=self.stderr._out)

        began = time.monotonic()
        summary = demo.build_demo(seed=seed, days=days, until=until, progress=progress)
        elapsed = time.monotonic() - began

        if not show:
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data for seed {seed}: {days} days until {until:%Y-%m-%d %H:%M} UTC, built in {elapsed:.1f} s."
            )
        )
        width = max(len(name) for name in summary.counts)
        for name, count in summary.counts.items():
            self.stdout.write(f"  {name:<{width}}  {count:>9,}")
        self._print_logins()

    def _print_logins(self) -> None:
        self.stdout.write("Demo logins (http://127.0.0.1:8000/ and /admin/):")
        for login in demo.DEMO_LOGINS:
            self.stdout.write(f"  {login.role:<15} {login.email:<32} {login.password}")
        self.stdout.write(
            f"  Every other demo driver (firstname.lastnameN@example.se) has the password {demo.DRIVER_PASSWORD}."
        )
