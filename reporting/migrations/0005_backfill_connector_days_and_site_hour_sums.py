"""Fill ConnectorDay and SiteHour's new columns from the ConnectorHour rows already there.

What ``rollups_rebuild`` would write for them, without going back to the raw rows: a connector's
hours summed per local day (its site's time zone, else its operator's), and each site hour's sums
and place in the site's week. Peaks are kept as they are.
"""

import zoneinfo
from decimal import Decimal

from django.conf import settings
from django.db import migrations
from django.db.models import F, IntegerField, Sum, Value
from django.db.models.functions import Greatest, TruncDate

COLUMNS = ("sessions", "energy_wh", "revenue", "occupied_s", "charging_s", "outage_s", "offline_s", "down_s",
           "failed_starts", "zero_energy")
BATCH = 5000


def backfill(apps, schema_editor):
    ConnectorHour = apps.get_model("reporting", "ConnectorHour")
    ConnectorDay = apps.get_model("reporting", "ConnectorDay")
    SiteHour = apps.get_model("reporting", "SiteHour")
    Site = apps.get_model("sessions_app", "Site")
    Connector = apps.get_model("sessions_app", "Connector")

    site_zone = dict(Site.objects.values_list("pk", "time_zone"))
    org_zone = {}
    for org_id, zone in Site.objects.order_by("-pk").values_list("organization_id", "time_zone"):
        org_zone[org_id] = zone  # the first site's (lowest pk) wins, as organization_time_zone
    for site_id, zone_name in site_zone.items():
        zone = zoneinfo.ZoneInfo(zone_name)
        peaks = dict(SiteHour.objects.filter(site_id=site_id).values_list("hour", "peak_sessions"))
        organization_id = Site.objects.filter(pk=site_id).values_list("organization_id", flat=True).get()
        sums = {hour: (started or 0, occupied or 0) for hour, started, occupied in ConnectorHour.objects.filter(
            site_id=site_id).values("hour").annotate(started=Sum("sessions"), occupied=Sum("occupied_s"))
            .values_list("hour", "started", "occupied")}
        rows = []
        for hour in sorted(set(peaks) | {h for h, (s, o) in sums.items() if s or o}):
            local = hour.astimezone(zone)
            started, occupied = sums.get(hour, (0, 0))
            rows.append(SiteHour(organization_id=organization_id, site_id=site_id, hour=hour,
                                 peak_sessions=peaks.get(hour, 0), sessions=started, occupied_s=occupied,
                                 local_weekday=local.weekday(), local_hour=local.hour))
        SiteHour.objects.filter(site_id=site_id).delete()
        SiteHour.objects.bulk_create(rows, batch_size=BATCH)

    by_zone = {}
    for pk, org_id, site_id, cp_id in Connector.objects.values_list(
            "pk", "charge_point__organization_id", "charge_point__site_id", "charge_point_id"):
        zone = site_zone.get(site_id) or org_zone.get(org_id) or settings.TIME_ZONE
        by_zone.setdefault(zone, {})[pk] = (org_id, site_id, cp_id)
    idle = Sum(Greatest(F("occupied_s") - F("charging_s"), Value(0), output_field=IntegerField()))
    ConnectorDay.objects.all().delete()
    for zone_name, connectors in by_zone.items():
        days = ConnectorHour.objects.filter(connector_id__in=list(connectors)).annotate(
            day=TruncDate("hour", tzinfo=zoneinfo.ZoneInfo(zone_name))).values("connector_id", "day").annotate(
            sum_idle_s=idle, **{f"sum_{name}": Sum(name) for name in COLUMNS}).order_by("day", "connector_id")
        batch = []
        for row in days.iterator(chunk_size=BATCH):
            org_id, site_id, cp_id = connectors[row["connector_id"]]
            values = {name: row[f"sum_{name}"] or 0 for name in (*COLUMNS, "idle_s")}
            values["revenue"] = Decimal(values["revenue"]).quantize(Decimal("0.01"))
            batch.append(ConnectorDay(organization_id=org_id, site_id=site_id, charge_point_id=cp_id,
                                      connector_id=row["connector_id"], day=row["day"], **values))
            if len(batch) >= BATCH:
                ConnectorDay.objects.bulk_create(batch)
                batch = []
        ConnectorDay.objects.bulk_create(batch)


class Migration(migrations.Migration):

    dependencies = [
        ("reporting", "0004_connector_days_and_site_hour_sums"),
    ]

    operations = [
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
