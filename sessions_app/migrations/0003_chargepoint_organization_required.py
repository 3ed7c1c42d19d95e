# A charge point belongs to an operator even before it has a site (auto-registered, pending).
import django.db.models.deletion
from django.db import migrations, models


def organization_from_site(apps, schema_editor):
    ChargePoint = apps.get_model("sessions_app", "ChargePoint")
    for cp in ChargePoint.objects.filter(organization__isnull=True).select_related("site"):
        cp.organization_id = cp.site.organization_id
        cp.save(update_fields=["organization"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_organization_auto_register_chargers"),
        ("sessions_app", "0002_ocpp_connections"),
    ]

    operations = [
        migrations.RunPython(organization_from_site, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="chargepoint",
            name="organization",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="charge_points",
                to="accounts.organization",
                verbose_name="operator",
            ),
        ),
    ]
