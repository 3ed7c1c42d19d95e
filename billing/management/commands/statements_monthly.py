"""``manage.py statements_monthly``: the monthly statement job, inline, for installs without Celery beat.

Run it from cron (hourly is right, as beat does: each operator's month ends at its own midnight;
a run finding nothing due does nothing). It builds and issues every statement the previous month
still needs, exactly as the Celery fan-out does (``monthly_statements_due`` then ``statement_issue``
per account), and emails each one through ``statement_email_send``, which sends a statement once
however often it is asked. Emails that failed earlier (no Celery to retry them) are tried again,
up to the service's limit. Statements never sent and not due (made on demand without email, or
by the demo) are left alone.
"""

from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import CustomerAccount
from billing.models import Statement
from billing.statements import monthly_statements_due, statement_email_send, statement_issue


def _moment(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--now must be an ISO date or date-time, got {value!r}.") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = (
        "Build, issue and email the statements of every customer account for its operator's previous month "
        "(the job Celery beat runs hourly), inline. Safe to run again: nothing is built or sent twice."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--now",
            type=_moment,
            default=None,
            help="Run as if it were this moment (ISO date or date-time, UTC if naive).",
        )

    def handle(self, *args, now: datetime | None, verbosity: int, **options):
        now = now or timezone.now()
        due = monthly_statements_due(now=now)
        built, to_send, failed = 0, [], []
        for account_id, start, end in due:
            account = CustomerAccount.objects.select_related("organization").get(pk=account_id)
            try:
                statement = statement_issue(customer_account=account, start=start, end=end)
            except Exception as exc:  # one account's failure must not stop the others
                failed.append(f"statement of {account} for {start:%Y-%m-%d}: {type(exc).__name__}: {exc}")
                continue
            built += 1
            to_send.append(statement.pk)
        # Emails that failed before (a run without Celery has nobody else to retry them).
        to_send += (
            Statement.objects.filter(status=Statement.Status.ISSUED, delivery=Statement.Delivery.FAILED)
            .exclude(pk__in=to_send)
            .order_by("pk")
            .values_list("pk", flat=True)
        )

        sent, not_sent, no_email = 0, 0, 0
        for statement_id in to_send:
            try:
                result = statement_email_send(statement_id=statement_id, now=timezone.now())
            except Exception as exc:  # recorded on the statement (failed, or given up); tried again next run
                not_sent += 1
                self.stderr.write(f"Statement {statement_id} not sent: {type(exc).__name__}: {exc}")
                continue
            sent += result == "sent"
            no_email += result != "sent"

        if verbosity:
            self.stdout.write(
                f"Statements built: {built} of {len(due)} due. Emails sent: {sent}"
                + (f", not sent (no billing email or sent already): {no_email}" if no_email else "")
                + (f", failed: {not_sent} (tried again next run)." if not_sent else ".")
            )
        if failed:
            raise CommandError("Some statements could not be built:\n" + "\n".join(failed))
