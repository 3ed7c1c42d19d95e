"""The weekly operator summary: due once a week per organization with recipients, a PDF with the figures, sent once."""

import io
from datetime import UTC, date, datetime
from decimal import Decimal
from unittest import mock

import pytest
from django.core import mail
from pypdf import PdfReader

from reporting import tasks
from reporting.models import DriverDay, RollupState
from reporting.weekly import last_week, report_recipients, weekly_summaries_due, weekly_summary_send
from sessions_app.models import StatusEvent
from tests.factories import make_connector_hour

MONDAY_MORNING = datetime(2026, 5, 11, 6, 30, tzinfo=UTC)
WEEK = date(2026, 5, 4)


@pytest.fixture
def data(world):
    world.org_a.report_recipients = "ops@alpha.example\n\n  boss@alpha.example \nops@alpha.example\n"
    world.org_a.save()
    one = world.cp_a.connectors.get(number=1)
    for at, sessions, energy, revenue in [
        (datetime(2026, 5, 5, 16, tzinfo=UTC), 6, 54_321, "432.10"),
        (datetime(2026, 4, 28, 16, tzinfo=UTC), 4, 20_000, "160.00"),
    ]:
        make_connector_hour(
            one, at, sessions=sessions, energy_wh=energy, revenue=Decimal(revenue), occupied_s=3000, charging_s=2000
        )
    DriverDay.objects.create(
        organization=world.org_a,
        site=world.site_a,
        charge_point=world.cp_a,
        customer_account=world.alice.customer_account,
        day=date(2026, 5, 5),
    )
    StatusEvent.objects.create(
        charge_point=world.cp_a,
        connector=world.cp_a.connectors.get(number=2),
        status="Faulted",
        error_code="GroundFailure",
        timestamp=datetime(2026, 5, 8, 9, tzinfo=UTC),
    )
    make_connector_hour(
        world.cp_b.connectors.first(), datetime(2026, 5, 5, 16, tzinfo=UTC), sessions=99, energy_wh=99_999
    )
    return world


def test_recipients_are_one_per_line_without_blanks_or_repeats(data):
    assert report_recipients(data.org_a) == ["ops@alpha.example", "boss@alpha.example"]


def test_last_week_is_the_operators_last_finished_monday_to_sunday():
    assert last_week(now=MONDAY_MORNING, time_zone="Europe/Stockholm") == WEEK
    # Sunday 23:30 in Stockholm: that week has not ended yet.
    assert last_week(now=datetime(2026, 5, 10, 21, 30, tzinfo=UTC), time_zone="Europe/Stockholm") == date(2026, 4, 27)
    # Monday 06:30 UTC is still Sunday in Los Angeles.
    assert last_week(now=MONDAY_MORNING, time_zone="America/Los_Angeles") == date(2026, 4, 27)


def test_only_organizations_with_recipients_are_due_and_only_until_sent(data):
    assert weekly_summaries_due(now=MONDAY_MORNING) == [(data.org_a.pk, WEEK)]
    assert weekly_summary_send(organization_id=data.org_a.pk, week_start=WEEK, now=MONDAY_MORNING) == "sent"
    assert weekly_summaries_due(now=MONDAY_MORNING) == []
    assert weekly_summary_send(organization_id=data.org_b.pk, week_start=WEEK, now=MONDAY_MORNING) == "no recipients"


def test_the_summary_is_emailed_once_with_a_pdf_holding_the_figures(data):
    assert weekly_summary_send(organization_id=data.org_a.pk, week_start=WEEK, now=MONDAY_MORNING) == "sent"
    assert weekly_summary_send(organization_id=data.org_a.pk, week_start=WEEK, now=MONDAY_MORNING) == "already sent"

    [message] = mail.outbox
    assert message.to == ["ops@alpha.example", "boss@alpha.example"]
    assert "2026-W19" in message.subject and data.org_a.name in message.subject
    assert "Sessions: 6" in message.body and "54.321 kWh" in message.body
    [(filename, content, mimetype)] = message.attachments
    assert (filename, mimetype) == (f"weekly-summary-{data.org_a.slug}-2026-W19.pdf", "application/pdf")
    text = " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages).split())
    assert data.org_a.name in text and "2026-05-04" in text and "2026-05-10" in text
    assert "54.321" in text and "432.10" in text  # this week's energy and revenue
    assert "Sessions 6 4 50.0" in text and "Energy (kWh) 54.321 20.000 171.6" in text  # against last week
    assert "ALPHA-1" in text and "Alpha Depot" in text
    assert "GroundFailure" in text  # the station needing attention: its open fault
    assert "Rarely used" in text  # under 5 % of its connectors' time
    assert "99.999" not in text  # another operator's
    assert RollupState.objects.filter(key=f"weekly:{data.org_a.pk}:2026-W19").exists()


def test_a_failed_send_is_forgotten_so_the_next_run_retries(data):
    with (
        mock.patch("django.core.mail.EmailMessage.send", side_effect=ConnectionRefusedError("smtp down")),
        pytest.raises(ConnectionRefusedError),
    ):
        weekly_summary_send(organization_id=data.org_a.pk, week_start=WEEK, now=MONDAY_MORNING)
    assert weekly_summaries_due(now=MONDAY_MORNING) == [(data.org_a.pk, WEEK)]
    assert weekly_summary_send(organization_id=data.org_a.pk, week_start=WEEK, now=MONDAY_MORNING) == "sent"
    assert len(mail.outbox) == 1


def test_the_beat_job_enqueues_one_email_task_per_due_organization(data):
    with (
        mock.patch("reporting.tasks.timezone.now", return_value=MONDAY_MORNING),
        mock.patch.object(tasks.weekly_summary_email, "delay") as delay,
    ):
        assert tasks.weekly_summaries() == 1
    delay.assert_called_once_with(data.org_a.pk, "2026-05-04")
    with mock.patch("reporting.weekly.timezone.now", return_value=MONDAY_MORNING):
        assert tasks.weekly_summary_email(data.org_a.pk, "2026-05-04") == "sent"
        assert tasks.weekly_summary_email(data.org_a.pk, "2026-05-04") == "already sent"
    assert len(mail.outbox) == 1


def test_the_beat_schedule_runs_the_job_on_monday_mornings(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["weekly-summaries"]
    assert entry["task"] == tasks.weekly_summaries.name
    schedule = entry["schedule"]
    assert schedule.day_of_week == {1} and min(schedule.hour) >= 5 and max(schedule.hour) <= 12


def test_a_constraint_breaking_for_another_reason_is_an_error_not_already_sent(data):
    from django.db import IntegrityError

    with (
        mock.patch.object(RollupState.objects, "create", side_effect=IntegrityError("a check constraint")),
        pytest.raises(IntegrityError),
    ):
        weekly_summary_send(organization_id=data.org_a.pk, week_start=WEEK, now=MONDAY_MORNING)
    assert mail.outbox == []
