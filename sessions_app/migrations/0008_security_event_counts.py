from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sessions_app", "0007_status_and_session_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="securityevent",
            name="count",
            field=models.PositiveIntegerField(
                default=1, help_text="Equal events in a short time are one row, counted here.", verbose_name="count"
            ),
        ),
        migrations.AddField(
            model_name="securityevent",
            name="last_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="last time"),
        ),
        migrations.AlterField(
            model_name="securityevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("unknown_charger", "Unknown charger refused"),
                    ("bad_password", "Wrong or missing password"),
                    ("hijack_refused", "Second connection refused"),
                    ("connection_replaced", "Connection replaced by a new one"),
                    ("registered", "New charger registered, pending"),
                    ("foreign_stop", "Stop for another station's transaction"),
                    ("locked_out", "Refused: locked out after failed attempts"),
                ],
                max_length=30,
                verbose_name="event",
            ),
        ),
    ]
