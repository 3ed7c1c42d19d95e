# Security event kind tls_required: a charger of security profile 2 or 3 refused for connecting without TLS.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sessions_app", "0017_charger_clock_wrong"),
    ]

    operations = [
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
                    ("subprotocol_refused", "Refused: does not speak OCPP 1.6"),
                    ("charger_reported", "Reported by the charger"),
                    ("certificate_refused", "Refused: client certificate missing or not ours"),
                    ("tls_required", "Refused: not over TLS, as its security profile requires"),
                ],
                max_length=30,
                verbose_name="event",
            ),
        ),
    ]
