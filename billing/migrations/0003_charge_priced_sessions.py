"""Sessions priced before the ledger existed are charged to their customers, as pricing does now."""

from django.db import migrations


def charge_priced_sessions(apps, schema_editor):
    SessionPrice = apps.get_model("billing", "SessionPrice")
    LedgerEntry = apps.get_model("billing", "LedgerEntry")
    prices = (
        SessionPrice.objects.filter(gross_total__gt=0).exclude(session__ledger_entries__kind="charge")
        .values_list("session_id", "session__charge_point__organization_id", "session__customer_account_id",
                     "currency", "gross_total", "priced_at")
    )
    LedgerEntry.objects.bulk_create(
        (
            LedgerEntry(session_id=session_id, organization_id=organization_id, customer_account_id=account_id,
                        kind="charge", currency=currency, receivable=gross, idempotency_key=f"charge:{session_id}",
                        line=0, booked_at=priced_at)
            for session_id, organization_id, account_id, currency, gross, priced_at in prices.iterator()
        ),
        batch_size=1000, ignore_conflicts=True,
    )


class Migration(migrations.Migration):
    dependencies = [("billing", "0002_payments_ledger")]

    operations = [migrations.RunPython(charge_priced_sessions, migrations.RunPython.noop)]
