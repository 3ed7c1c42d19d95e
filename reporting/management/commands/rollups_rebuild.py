"""``manage.py rollups_rebuild``: the reporting rollups recomputed from the raw rows, in one go.

Run it once after installing (or restoring) a database, or whenever the rollups are in doubt: it gives
exactly the numbers the incremental updates keep (``reporting.rollups``). Without ``--since`` every
rollup row of the scope is deleted first and the whole history recomputed, a month at a time, one
transaction per month, with a progress bar; ``--since`` recomputes only the hours from that day on.
"""

import time
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from accounts.models import Organization
from reporting.rollups import rollups_rebuild


def _moment(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--since must be an ISO date or date-time, got {value!r}.") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Rebuild the reporting rollups (connector hours, site hours, driver days) from the raw data."

    def add_arguments(self, parser):
        parser.add_argument("--organization", metavar="SLUG", help="Only this operator's chargers.")
        parser.add_argument(
            "--since", type=_moment, metavar="DATE", help="Only the hours from this day (UTC midnight) or moment on."
        )

    def handle(self, *args, organization: str | None, since: datetime | None, verbosity: int, **options):
        org = None
        if organization:
            org = Organization.objects.filter(slug=organization).first()
            if org is None:
                raise CommandError(f"No operator with the slug {organization!r}.")
        started = time.monotonic()

        def progress(months, total):
            return tqdm(
                months, total=total, unit="month", desc="rollups", disable=verbosity == 0, file=self.stderr._out
            )

        result = rollups_rebuild(organization=org, since=since, progress=progress)
        if verbosity:
            scope = f"operator {org.slug}" if org else "all operators"
            span = (
                f"{result.start:%Y-%m-%d %H:00} to {result.end:%Y-%m-%d %H:00} UTC"
                if result.connectors
                else "nothing (no connectors)"
            )
            self.stdout.write(
                f"Rollups rebuilt for {scope}, {result.connectors} connectors, {span}"
                f"{' (from ' + since.isoformat() + ')' if since else ''}: "
                f"{result.connector_hours} connector hours, {result.connector_days} connector days, "
                f"{result.site_hours} site hours, "
                f"{result.driver_days} driver days in {time.monotonic() - started:.1f} s."
            )
