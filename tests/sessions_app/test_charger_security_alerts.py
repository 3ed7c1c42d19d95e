"""A charger's alarming security events reach its operator: emailed to the report recipients once, and listed in
"Needs attention"; routine ones and other operators' are not."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.core.cache import cache
from django.utils import timezone

from reporting.faults import POINTS_SECURITY_ALERT, needs_attention
from sessions_app.charger_security import security_event_report
from sessions_app.models import SecurityEvent

pytestmark = pytest.mark.django_db(transaction=True)  # the email is sent after the commit


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def report(charge_point, event_type: str, tech_info: str = ""):
    now = timezone.now()
    return security_event_report(
        charge_point=charge_point, event_type=event_type, timestamp=now, tech_info=tech_info, now=now
    )


def test_an_alarming_event_is_emailed_to_the_operators_recipients_once(world):
    world.org_a.report_recipients = "ops@alpha.example\nnight@alpha.example"
    world.org_a.save()
    report(world.cp_a, "TamperDetectionActivated", "cabinet door opened")
    report(world.cp_a, "TamperDetectionActivated", "cabinet door opened")  # counted, not emailed again
    report(world.cp_a, "StartupOfTheDevice")  # routine: listed only

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ops@alpha.example", "night@alpha.example"]
    assert "TamperDetectionActivated" in message.subject and "cabinet door opened" in message.body
    assert SecurityEvent.objects.get(event_type="TamperDetectionActivated").count == 2


def test_without_recipients_nothing_is_sent_and_other_operators_hear_nothing(world):
    world.org_b.report_recipients = "ops@beta.example"
    world.org_b.save()
    report(world.cp_a, "invalidfirmwaresignature")  # letter case varies between chargers
    assert mail.outbox == []
    assert SecurityEvent.objects.get().event_type == "invalidfirmwaresignature"


def test_needs_attention_lists_the_alarming_events_of_the_operators_own_chargers(world):
    report(world.cp_a, "InvalidFirmwareSignature")
    report(world.cp_a, "FirmwareUpdated")
    report(world.cp_b, "TamperDetectionActivated")
    start, end = timezone.now() - timedelta(days=1), timezone.now() + timedelta(minutes=1)

    alpha = needs_attention(organization=world.org_a, start=start, end=end)
    reasons = [(station.charge_point, reason.text, reason.points) for station in alpha for reason in station.reasons]
    security = [entry for entry in reasons if "Security events" in entry[1]]
    assert security == [(world.cp_a, "Security events: InvalidFirmwareSignature ×1", POINTS_SECURITY_ALERT)]
    beta = needs_attention(organization=world.org_b, start=start, end=end)
    assert all("InvalidFirmwareSignature" not in reason.text for station in beta for reason in station.reasons)
    earlier = needs_attention(
        organization=world.org_a, start=datetime(2020, 1, 1, tzinfo=UTC), end=datetime(2020, 2, 1, tzinfo=UTC)
    )
    assert not any("Security events" in reason.text for station in earlier for reason in station.reasons)
