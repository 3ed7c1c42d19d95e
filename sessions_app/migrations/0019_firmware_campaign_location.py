from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sessions_app", "0018_security_event_tls_required"),
    ]

    operations = [
        migrations.AddField(
            model_name="firmwarecampaign",
            name="location",
            field=models.CharField(
                blank=True,
                help_text="What chargers are given: the firmware's URL, or the address this system serves its file at.",
                max_length=512,
                verbose_name="download address",
            ),
        ),
    ]
