from datetime import timedelta

from django.db import migrations
from django.db.models import Max, OuterRef, Subquery
from django.utils import timezone

#: A status time further ahead of the clock than this was a charger's bad clock, not a real time.
TOLERANCE = timedelta(days=1)


def repair_future_status_times(apps, schema_editor):
    """A connector whose status time lies in the future (a charger once sent 9999) would ignore every report
    until then: take the time of its latest plausible status event instead, or none (the next report applies)."""
    Connector = apps.get_model("sessions_app", "Connector")
    StatusEvent = apps.get_model("sessions_app", "StatusEvent")
    limit = timezone.now() + TOLERANCE
    latest = (StatusEvent.objects.filter(connector=OuterRef("pk"), timestamp__lte=limit)
              .values("connector").annotate(latest=Max("timestamp")).values("latest"))
    Connector.objects.filter(status_changed_at__gt=limit).update(status_changed_at=Subquery(latest))


class Migration(migrations.Migration):

    dependencies = [
        ('sessions_app', '0010_exactly_once_and_charger_time'),
    ]

    operations = [
        migrations.RunPython(repair_future_status_times, migrations.RunPython.noop, elidable=True),
    ]
