"""A status time a charger's bad clock stored in the future (before times were checked) is repaired, so the
connector's status follows the charger's reports again."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from sessions_app.models import ChargePoint, Connector
from sessions_app.services import StatusReport, connector_status_record_many
from tests.billing.test_migrations import back_to_latest, migrate  # noqa: F401 - the fixture, used by name

BEFORE = ("sessions_app", "0010_exactly_once_and_charger_time")
AFTER = ("sessions_app", "0011_repair_future_status_times")
FAR = datetime(9999, 1, 1, tzinfo=UTC)


@pytest.mark.django_db(transaction=True)
def test_status_times_far_ahead_become_the_latest_plausible_event_or_none(back_to_latest):  # noqa: F811
    now = timezone.now().replace(microsecond=0)
    apps = migrate(BEFORE)
    org = apps.get_model("accounts", "Organization").objects.create(name="Op", slug="op")
    cp = apps.get_model("sessions_app", "ChargePoint").objects.create(organization=org, ocpp_id="CP-1")
    Connector_, Event = apps.get_model("sessions_app", "Connector"), apps.get_model("sessions_app", "StatusEvent")
    status_times = {1: FAR, 2: FAR, 3: now + timedelta(hours=2), 4: now - timedelta(days=3), 5: None}
    connectors = {
        number: Connector_.objects.create(
            charge_point=cp, number=number, max_power_kw=Decimal("22"), status="Faulted", status_changed_at=at
        )
        for number, at in status_times.items()
    }
    for connector, at in [(1, now - timedelta(hours=5)), (1, now - timedelta(hours=1)), (1, FAR), (2, FAR)]:
        Event.objects.create(
            charge_point=cp,
            connector=connectors[connector],
            status="Faulted",
            error_code="GroundFailure",
            timestamp=at,
            received_at=now,
        )

    apps = migrate(AFTER)

    repaired = dict(apps.get_model("sessions_app", "Connector").objects.values_list("number", "status_changed_at"))
    assert repaired == {
        1: now - timedelta(hours=1),
        2: None,
        3: now + timedelta(hours=2),
        4: now - timedelta(days=3),
        5: None,
    }

    call_command("migrate", verbosity=0)  # the services need every app's latest tables
    charge_point = ChargePoint.objects.get(pk=cp.pk)
    reports = [StatusReport(charge_point, number, "Available", "NoError", timezone.now()) for number in (1, 2)]
    connector_status_record_many(reports=reports, now=timezone.now())
    assert set(Connector.objects.filter(number__in=(1, 2)).values_list("status", flat=True)) == {"Available"}
