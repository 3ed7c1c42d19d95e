"""Station alerts: one email per incident, none for short outages, each operator only about its own stations."""

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
import time_machine
from django.core import mail
from django.db import IntegrityError
from django.urls import reverse

from reporting.alerts import Problem, incident_alert_send, incident_open, station_alerts_run
from reporting.models import AlertIncident
from reporting.tasks import station_alerts
from sessions_app.models import ChargerConnection, StatusEvent

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def connect(cp, at: datetime) -> None:
    ChargerConnection.objects.create(charge_point=cp, connected_at=at)
    cp.channel_name, cp.connected_at, cp.last_seen_at = f"chan-{cp.pk}-{at.timestamp()}", at, at
    cp.save(update_fields=["channel_name", "connected_at", "last_seen_at"])


def disconnect(cp, at: datetime) -> None:
    ChargerConnection.objects.filter(charge_point=cp, disconnected_at__isnull=True).update(disconnected_at=at)
    cp.channel_name, cp.last_seen_at = "", at
    cp.save(update_fields=["channel_name", "last_seen_at"])


def heartbeat(cp, at: datetime) -> None:
    cp.last_seen_at = at
    cp.save(update_fields=["last_seen_at"])


def status(cp, number: int | None, value: str, at: datetime, error_code: str = "NoError") -> None:
    connector = cp.connectors.get(number=number) if number else None
    StatusEvent.objects.create(charge_point=cp, connector=connector, status=value, error_code=error_code, timestamp=at)
    if connector is not None:
        connector.status, connector.error_code, connector.status_changed_at = value, error_code, at
        connector.save(update_fields=["status", "error_code", "status_changed_at"])


@pytest.fixture
def stations(world):
    world.org_a.report_recipients = "ops@alpha.example\n\n  tech@alpha.example  \n"
    world.org_a.save()
    world.org_b.report_recipients = "noc@beta.example"
    world.org_b.save()
    connect(world.cp_a, T0)
    connect(world.cp_b, T0)
    return world


def test_an_offline_station_is_alerted_once_per_incident_and_again_after_it_came_back(stations):
    w = stations
    disconnect(w.cp_a, minutes(5))
    heartbeat(w.cp_b, minutes(34))
    station_alerts_run(now=minutes(20))  # offline 15 minutes: shorter than the 30 allowed
    assert not AlertIncident.objects.exists() and mail.outbox == []

    first = station_alerts_run(now=minutes(36))
    assert (first.opened, first.sent) == (1, 1)
    [message] = mail.outbox
    assert message.to == ["ops@alpha.example", "tech@alpha.example"]
    assert "ALPHA-1" in message.subject and "offline" in message.subject
    assert "09:05" in message.subject  # since 08:05 UTC, shown in Stockholm time
    assert "ALPHA-1" in message.body

    heartbeat(w.cp_b, minutes(40))
    again = station_alerts_run(now=minutes(41))  # still offline: the same incident, no second email
    assert (again.opened, again.sent, again.cleared) == (0, 0, 0)
    assert len(mail.outbox) == 1

    connect(w.cp_a, minutes(45))
    back = station_alerts_run(now=minutes(46))
    assert back.cleared == 1
    incident = AlertIncident.objects.get()
    assert (incident.started_at, incident.cleared_at, incident.alerted_at) == (minutes(5), minutes(46), minutes(36))
    assert incident.organization == w.org_a and incident.kind == "offline" and incident.connector is None

    disconnect(w.cp_a, minutes(50))
    heartbeat(w.cp_b, minutes(81))
    station_alerts_run(now=minutes(85))
    assert AlertIncident.objects.count() == 2
    assert len(mail.outbox) == 2
    second = AlertIncident.objects.get(cleared_at__isnull=True)
    assert second.started_at == minutes(50) and second.alerted_at == minutes(85)


def test_a_station_that_falls_silent_counts_from_its_last_message(stations):
    w = stations
    heartbeat(w.cp_a, minutes(3))  # socket still open, then nothing: offline after 2 x 300 s
    heartbeat(w.cp_b, minutes(30))
    station_alerts_run(now=minutes(32))  # silent 29 minutes
    assert not AlertIncident.objects.exists()
    station_alerts_run(now=minutes(34))
    incident = AlertIncident.objects.get()
    assert (incident.charge_point, incident.started_at, incident.kind) == (w.cp_a, minutes(3), "offline")


def test_short_outages_open_no_incident_and_send_nothing(stations):
    w = stations
    for start in (10, 60, 110):
        disconnect(w.cp_a, minutes(start))
        heartbeat(w.cp_b, minutes(start + 25))
        station_alerts_run(now=minutes(start + 25))
        connect(w.cp_a, minutes(start + 28))
        station_alerts_run(now=minutes(start + 29))
    assert not AlertIncident.objects.exists()
    assert mail.outbox == []


def test_the_delay_is_the_organizations_own(stations):
    w = stations
    w.org_a.alert_after_minutes = 5
    w.org_a.save()
    disconnect(w.cp_a, minutes(0))
    heartbeat(w.cp_b, minutes(6))
    assert station_alerts_run(now=minutes(6)).sent == 1


def test_a_faulted_connector_is_alerted_from_the_start_of_its_fault(stations):
    w = stations
    status(w.cp_a, 1, "Available", minutes(0))
    status(w.cp_a, 1, "Faulted", minutes(10), "GroundFailure")
    status(w.cp_a, 1, "Faulted", minutes(25), "OverCurrentFailure")  # still the same fault
    heartbeat(w.cp_a, minutes(40))
    heartbeat(w.cp_b, minutes(40))
    assert station_alerts_run(now=minutes(39)).opened == 0
    run = station_alerts_run(now=minutes(41))
    assert (run.opened, run.sent) == (1, 1)
    incident = AlertIncident.objects.get()
    assert incident.connector == w.cp_a.connectors.get(number=1)
    assert (incident.kind, incident.started_at) == ("faulted", minutes(10))
    assert "OverCurrentFailure" in incident.detail
    assert "connector 1 faulted" in mail.outbox[0].subject

    status(w.cp_a, 1, "Available", minutes(50))
    heartbeat(w.cp_a, minutes(51))
    heartbeat(w.cp_b, minutes(51))
    assert station_alerts_run(now=minutes(52)).cleared == 1
    assert AlertIncident.objects.get().cleared_at == minutes(52)


def test_a_station_wide_fault_is_one_incident_for_the_station(stations):
    w = stations
    status(w.cp_a, None, "Faulted", minutes(0), "PowerSwitchFailure")
    heartbeat(w.cp_a, minutes(40))
    heartbeat(w.cp_b, minutes(40))
    station_alerts_run(now=minutes(40))
    incident = AlertIncident.objects.get()
    assert (incident.charge_point, incident.connector, incident.kind) == (w.cp_a, None, "faulted")
    status(w.cp_a, None, "Available", minutes(45))
    assert station_alerts_run(now=minutes(45)).cleared == 1


def test_two_workers_never_both_send(stations):
    w = stations
    disconnect(w.cp_a, minutes(0))
    heartbeat(w.cp_b, minutes(40))
    # A second worker's run already opened the incident and claimed it, but has not sent yet:
    station_alerts_run(now=minutes(40))
    incident = AlertIncident.objects.get()
    assert incident_alert_send(incident_id=incident.pk, now=minutes(40)) == "not due"
    assert len(mail.outbox) == 1
    AlertIncident.objects.filter(pk=incident.pk).update(alerted_at=None)
    results = [incident_alert_send(incident_id=incident.pk, now=minutes(41)) for _worker in range(2)]
    assert sorted(results) == ["not due", "sent"]
    assert len(mail.outbox) == 2


def test_a_failed_email_is_tried_again_on_the_next_run(stations, settings):
    w = stations
    settings.EMAIL_BACKEND = "tests.reporting.test_alerts.FailingBackend"
    disconnect(w.cp_a, minutes(0))
    heartbeat(w.cp_b, minutes(40))
    assert station_alerts_run(now=minutes(40)).sent == 0
    assert AlertIncident.objects.get().alerted_at is None
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert station_alerts_run(now=minutes(45)).sent == 1
    assert len(mail.outbox) == 1


class FailingBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("SMTP server down")


def test_without_recipients_nothing_is_sent_until_some_are_added(stations):
    w = stations
    w.org_a.report_recipients = ""
    w.org_a.save()
    disconnect(w.cp_a, minutes(0))
    heartbeat(w.cp_b, minutes(40))
    station_alerts_run(now=minutes(40))
    assert AlertIncident.objects.get().alerted_at is None and mail.outbox == []
    w.org_a.report_recipients = "late@alpha.example"
    w.org_a.save()
    station_alerts_run(now=minutes(45))
    assert [m.to for m in mail.outbox] == [["late@alpha.example"]]


def test_each_operator_is_told_only_about_its_own_stations(stations):
    w = stations
    disconnect(w.cp_a, minutes(0))
    disconnect(w.cp_b, minutes(0))
    station_alerts_run(now=minutes(40))
    recipients = sorted(tuple(m.to) for m in mail.outbox)
    assert recipients == [("noc@beta.example",), ("ops@alpha.example", "tech@alpha.example")]
    beta_mail = next(m for m in mail.outbox if m.to == ["noc@beta.example"])
    assert "BETA-1" in beta_mail.subject and "ALPHA" not in beta_mail.body
    assert AlertIncident.objects.get(charge_point=w.cp_b).organization == w.org_b


def test_stations_never_heard_from_or_not_accepted_are_not_alerted(world):
    world.org_a.report_recipients = "ops@alpha.example"
    world.org_a.save()
    station_alerts_run(now=minutes(600))  # cp_a and cp_b never connected
    assert not AlertIncident.objects.exists()
    connect(world.cp_a, T0)
    disconnect(world.cp_a, minutes(1))
    world.cp_a.registration_status = "rejected"
    world.cp_a.save(update_fields=["registration_status"])
    station_alerts_run(now=minutes(600))
    assert not AlertIncident.objects.exists()


def test_operators_see_only_their_own_incidents_in_the_admin(client, stations):
    w = stations
    disconnect(w.cp_a, minutes(0))
    disconnect(w.cp_b, minutes(0))
    station_alerts_run(now=minutes(40))
    incident_a = AlertIncident.objects.get(charge_point=w.cp_a)
    incident_b = AlertIncident.objects.get(charge_point=w.cp_b)
    client.force_login(w.carol)
    page = client.get(reverse("admin:reporting_alertincident_changelist"))
    assert page.status_code == 200
    assert b"ALPHA-1" in page.content and b"BETA-1" not in page.content
    assert client.get(reverse("admin:reporting_alertincident_change", args=[incident_a.pk])).status_code == 200
    assert client.get(reverse("admin:reporting_alertincident_change", args=[incident_b.pk])).status_code in (302, 404)

    client.force_login(w.dave)
    other = client.get(reverse("admin:reporting_alertincident_change", args=[incident_a.pk]))
    assert other.status_code in (302, 404)
    if other.status_code == 302:  # the admin's answer for an object outside the queryset
        assert other.url == reverse("admin:index")
    page = client.get(reverse("admin:reporting_alertincident_changelist"))
    assert b"BETA-1" in page.content and b"ALPHA-1" not in page.content


def test_the_attention_page_lists_open_incidents_of_the_operator_only(client, stations):
    w = stations
    disconnect(w.cp_a, minutes(0))
    disconnect(w.cp_b, minutes(0))
    station_alerts_run(now=minutes(40))
    client.force_login(w.carol)
    page = client.get(reverse("admin:reporting_attention"), {"period": "month", "day": "2026-03-02"})
    assert page.status_code == 200
    incidents = page.content.split(b'id="table-incidents"')[1]
    assert b"ALPHA-1" in incidents and b"BETA-1" not in incidents


def test_the_beat_task_runs_the_alerts_and_is_scheduled_every_five_minutes(stations, settings):
    schedule = settings.CELERY_BEAT_SCHEDULE["station-alerts"]
    assert (schedule["task"], schedule["schedule"]) == (station_alerts.name, 300.0)
    disconnect(stations.cp_a, minutes(0))
    heartbeat(stations.cp_b, minutes(40))
    with time_machine.travel(minutes(40), tick=False):
        assert station_alerts() == {"opened": 1, "sent": 1, "cleared": 0}  # called in-process, never enqueued
        assert station_alerts() == {"opened": 0, "sent": 0, "cleared": 0}
    assert len(mail.outbox) == 1


def test_opening_an_incident_raises_when_a_constraint_breaks_without_an_open_one(stations):
    problem = Problem(stations.cp_a, None, AlertIncident.Kind.OFFLINE, minutes(0), "offline")
    assert incident_open(problem=problem) is not None
    assert incident_open(problem=problem) is None  # open already: another worker was quicker

    AlertIncident.objects.update(cleared_at=minutes(5))
    with (
        mock.patch.object(AlertIncident.objects, "create", side_effect=IntegrityError("a check constraint")),
        pytest.raises(IntegrityError),
    ):
        incident_open(problem=problem)  # nothing open: not a race but a bug, and it is not hidden
