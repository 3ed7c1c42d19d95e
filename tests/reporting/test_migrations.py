"""The rollup migrations fill what they add from the rows already there, as the rollups would."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from tests.billing.test_migrations import back_to_latest, migrate  # noqa: F401 - the fixture, used by name


@pytest.mark.django_db(transaction=True)
def test_connector_days_and_site_hour_sums_are_filled_from_the_hours_there(back_to_latest):  # noqa: F811
    apps = migrate(("reporting", "0003_connectorhour_down"))
    org = apps.get_model("accounts", "Organization").objects.create(name="Op", slug="op")
    site = apps.get_model("sessions_app", "Site").objects.create(
        organization=org,
        name="Depot",
        time_zone="Europe/Stockholm",
        latitude=Decimal("59.3"),
        longitude=Decimal("18.0"),
    )
    cp = apps.get_model("sessions_app", "ChargePoint").objects.create(organization=org, site=site, ocpp_id="CP-1")
    one, two = (
        apps.get_model("sessions_app", "Connector").objects.create(
            charge_point=cp, number=n, max_power_kw=Decimal("22")
        )
        for n in (1, 2)
    )
    ConnectorHour = apps.get_model("reporting", "ConnectorHour")
    for connector, hour, sessions, occupied, charging in [
        (one, datetime(2026, 5, 4, 21, tzinfo=UTC), 1, 3600, 600),  # 23:00 on the 4th in Stockholm
        (one, datetime(2026, 5, 4, 22, tzinfo=UTC), 0, 1800, 1800),  # 00:00 on the 5th
        (two, datetime(2026, 5, 4, 22, tzinfo=UTC), 2, 1200, 0),
    ]:
        ConnectorHour.objects.create(
            organization=org,
            site=site,
            charge_point=cp,
            connector=connector,
            hour=hour,
            sessions=sessions,
            occupied_s=occupied,
            charging_s=charging,
            revenue=Decimal("12.50") * sessions,
        )
    apps.get_model("reporting", "SiteHour").objects.create(
        organization=org, site=site, hour=datetime(2026, 5, 4, 22, tzinfo=UTC), peak_sessions=2
    )

    apps = migrate(("reporting", "0005_backfill_connector_days_and_site_hour_sums"))

    days = apps.get_model("reporting", "ConnectorDay").objects
    assert sorted(days.values_list("connector_id", "day", "sessions", "occupied_s", "idle_s", "revenue")) == [
        (one.pk, date(2026, 5, 4), 1, 3600, 3000, Decimal("12.50")),
        (one.pk, date(2026, 5, 5), 0, 1800, 0, Decimal("0.00")),
        (two.pk, date(2026, 5, 5), 2, 1200, 1200, Decimal("25.00")),
    ]
    assert set(days.values_list("organization_id", "site_id", "charge_point_id")) == {(org.pk, site.pk, cp.pk)}
    hours = apps.get_model("reporting", "SiteHour").objects.order_by("hour")
    assert list(
        hours.values_list("hour", "peak_sessions", "sessions", "occupied_s", "local_weekday", "local_hour")
    ) == [
        (datetime(2026, 5, 4, 21, tzinfo=UTC), 0, 1, 3600, 0, 23),  # Monday 23:00
        (datetime(2026, 5, 4, 22, tzinfo=UTC), 2, 2, 3000, 1, 0),
    ]  # Tuesday 00:00, its peak kept
