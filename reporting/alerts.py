"""Station alerts: an operator is emailed once when a station stays offline or faulted too long.

``station_alerts_run`` is the 5-minutely beat job (``reporting.station_alerts``). Each run:

1. finds what is wrong now with the accepted stations of every operator:
   - offline: ``ChargePoint.is_online`` is false (no socket, or silent for more than two heartbeat
     intervals), since the later of its last message and its last connection's end; a station never
     heard from is not offline (it was never online);
   - faulted: a connector whose current status is Faulted, or the station itself (connector 0) whose
     latest status event is Faulted, since the first event of that Faulted run;
2. clears every open incident whose problem is gone (``cleared_at``), so the next outage is a new
   incident;
3. opens an incident for each problem that has lasted at least the organization's
   ``alert_after_minutes`` and has none open (a short outage never opens one; the partial unique
   constraints keep one open incident per station/connector and kind even with two workers);
4. emails the organization's report recipients about each open incident not yet alerted. The
   incident is claimed first with a conditional update (``alerted_at`` from empty to now): of two
   workers only one sends. If sending fails the claim is given back, and the next run tries again. An
   organization without recipients is not marked alerted, so adding recipients later still alerts it.

A recovery and a new failure both between two runs (five minutes) are seen as one incident.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import Max, OuterRef, Subquery
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import Organization
from core.timeutil import in_force
from reporting.models import AlertIncident
from sessions_app.models import ChargePoint, ChargerConnection, Connector, ConnectorStatus, SecurityEvent, StatusEvent

logger = logging.getLogger(__name__)


def report_recipients(organization: Organization) -> list[str]:
    """The organization's report recipients, one address per line (blank lines ignored)."""
    return [line.strip() for line in organization.report_recipients.splitlines() if line.strip()]


@dataclass(frozen=True)
class Problem:
    charge_point: ChargePoint
    connector: Connector | None
    kind: str
    since: datetime
    detail: str

    @property
    def key(self) -> tuple[int, int | None, str]:
        return self.charge_point.pk, self.connector.pk if self.connector else None, self.kind


def _faulted_since(events, fallback: datetime) -> datetime:
    """The first event of the latest run of Faulted events in ``events`` (one connector's or station's)."""
    last_ok = in_force(events.exclude(status=ConnectorStatus.FAULTED)).values("timestamp").first()
    run = events.filter(status=ConnectorStatus.FAULTED)
    if last_ok is not None:
        run = run.filter(timestamp__gte=last_ok["timestamp"])
    first = run.order_by("timestamp", "pk").values("timestamp").first()
    return first["timestamp"] if first else fallback


def _latest_station_event():
    return in_force(StatusEvent.objects.filter(charge_point_id=OuterRef("pk"), connector__isnull=True))


def station_problems(*, now: datetime) -> list[Problem]:
    """What is wrong now with accepted stations: offline stations and faulted connectors or stations."""
    problems = []
    stations = (
        ChargePoint.objects.filter(registration_status=ChargePoint.RegistrationStatus.ACCEPTED)
        .select_related("organization", "site")
        .annotate(
            last_disconnected_at=Subquery(
                ChargerConnection.objects.filter(charge_point_id=OuterRef("pk"))
                .values("charge_point_id")
                .annotate(last=Max("disconnected_at"))
                .values("last")[:1]
            ),
            station_status=Subquery(_latest_station_event().values("status")[:1]),
            station_error=Subquery(_latest_station_event().values("error_code")[:1]),
            station_status_at=Subquery(_latest_station_event().values("timestamp")[:1]),
        )
    )
    for station in stations:
        if not station.is_online(now):
            heard = [
                at
                for at in (station.last_seen_at, None if station.channel_name else station.last_disconnected_at)
                if at is not None
            ]
            if heard:
                since = max(heard)
                problems.append(
                    Problem(
                        charge_point=station,
                        connector=None,
                        kind=AlertIncident.Kind.OFFLINE,
                        since=since,
                        detail=_("Last heard from at %(time)s.") % {"time": _local(since, station)},
                    )
                )
        if station.station_status == ConnectorStatus.FAULTED:
            since = _faulted_since(
                StatusEvent.objects.filter(charge_point=station, connector__isnull=True), station.station_status_at
            )
            problems.append(
                Problem(
                    charge_point=station,
                    connector=None,
                    kind=AlertIncident.Kind.FAULTED,
                    since=since,
                    detail=_("Station faulted: %(code)s") % {"code": station.station_error},
                )
            )
    faulted = Connector.objects.filter(
        status=ConnectorStatus.FAULTED,
        charge_point__registration_status=ChargePoint.RegistrationStatus.ACCEPTED,
    ).select_related("charge_point__organization", "charge_point__site")
    for connector in faulted:
        since = _faulted_since(StatusEvent.objects.filter(connector=connector), connector.status_changed_at or now)
        problems.append(
            Problem(
                charge_point=connector.charge_point,
                connector=connector,
                kind=AlertIncident.Kind.FAULTED,
                since=since,
                detail=_("Connector %(number)d faulted: %(code)s")
                % {"number": connector.number, "code": connector.error_code},
            )
        )
    return problems


def _local(at: datetime, charge_point: ChargePoint) -> str:
    zone = charge_point.site.tzinfo if charge_point.site else timezone.get_current_timezone()
    return f"{timezone.localtime(at, zone):%Y-%m-%d %H:%M %Z}"


def incident_open(*, problem: Problem) -> AlertIncident | None:
    """Open an incident for the problem; None when one is open already (another worker was quicker)."""
    try:
        with transaction.atomic():
            return AlertIncident.objects.create(
                organization=problem.charge_point.organization,
                charge_point=problem.charge_point,
                connector=problem.connector,
                kind=problem.kind,
                started_at=problem.since,
                detail=problem.detail[:255],
            )
    except IntegrityError:
        open_already = AlertIncident.objects.filter(
            charge_point=problem.charge_point,
            connector=problem.connector,
            kind=problem.kind,
            cleared_at__isnull=True,
        ).exists()
        if open_already:
            return None
        raise  # another constraint broke: a real error, not a race


def _message(incident: AlertIncident, recipients: list[str]) -> EmailMessage:
    charge_point = incident.charge_point
    with translation.override(settings.LANGUAGE_CODE):
        what = (
            _("offline")
            if incident.kind == AlertIncident.Kind.OFFLINE
            else _("faulted")
            if incident.connector is None
            else _("connector %(number)d faulted") % {"number": incident.connector.number}
        )
        subject = _("Station %(station)s %(what)s since %(since)s") % {
            "station": charge_point,
            "what": what,
            "since": _local(incident.started_at, charge_point),
        }
        body = render_to_string(
            "reporting/alert_email.txt",
            {
                "incident": incident,
                "charge_point": charge_point,
                "site": charge_point.site,
                "what": what,
                "since": _local(incident.started_at, charge_point),
                "organization": incident.organization,
            },
        )
    organization = incident.organization
    return EmailMessage(
        subject=subject,
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=recipients,
        reply_to=[organization.email] if organization.email else None,
    )


def incident_alert_send(*, incident_id: int, now: datetime) -> str:
    """Email the incident to the organization's recipients, once: "sent", "no recipients", "not due" or "failed"."""
    incident = (
        AlertIncident.objects.select_related("organization", "charge_point__site", "connector")
        .filter(pk=incident_id)
        .first()
    )
    if incident is None:
        return "not due"
    recipients = report_recipients(incident.organization)
    if not recipients:
        return "no recipients"
    claimed = AlertIncident.objects.filter(pk=incident_id, alerted_at__isnull=True, cleared_at__isnull=True).update(
        alerted_at=now
    )
    if claimed != 1:
        return "not due"
    try:
        _message(incident, recipients).send()
    except Exception:
        logger.exception("Alert email for incident %s failed; the next run tries again.", incident_id)
        AlertIncident.objects.filter(pk=incident_id, alerted_at=now).update(alerted_at=None)
        return "failed"
    return "sent"


def security_alert_send(*, event_id: int) -> str:
    """Email a security event a charger reported that alerts the operator (``hooks.security_alert``) to its
    organization's report recipients, once: "sent", "no recipients", "not due" (gone, or sent already) or
    "failed" (given back, for a retry)."""
    event = SecurityEvent.objects.select_related("organization", "charge_point__site").filter(pk=event_id).first()
    if event is None or event.organization is None or event.charge_point is None:
        return "not due"
    recipients = report_recipients(event.organization)
    if not recipients:
        return "no recipients"
    claim = f"security-alert-sent:{event_id}"
    if not cache.add(claim, 1, 7 * 86_400):
        return "not due"
    charge_point, organization = event.charge_point, event.organization
    with translation.override(settings.LANGUAGE_CODE):
        subject = _("Station %(station)s: security event %(event_type)s") % {
            "station": charge_point,
            "event_type": event.event_type,
        }
        body = render_to_string(
            "reporting/security_alert_email.txt",
            {
                "event": event,
                "charge_point": charge_point,
                "site": charge_point.site,
                "when": _local(event.created_at, charge_point),
                "organization": organization,
            },
        )
    try:
        EmailMessage(
            subject=subject,
            body=body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=recipients,
            reply_to=[organization.email] if organization.email else None,
        ).send()
    except Exception:
        logger.exception("Security alert email for event %s failed", event_id)
        cache.delete(claim)
        return "failed"
    return "sent"


@dataclass(frozen=True)
class AlertRun:
    opened: int
    sent: int
    cleared: int


def station_alerts_run(*, now: datetime | None = None) -> AlertRun:
    now = now or timezone.now()
    problems = {problem.key: problem for problem in station_problems(now=now)}
    cleared = 0
    open_keys = set()
    for incident in AlertIncident.objects.filter(cleared_at__isnull=True):
        key = (incident.charge_point_id, incident.connector_id, incident.kind)
        if key in problems:
            open_keys.add(key)
        else:
            cleared += AlertIncident.objects.filter(pk=incident.pk, cleared_at__isnull=True).update(cleared_at=now)
    opened = 0
    for key, problem in problems.items():
        delay = timedelta(minutes=problem.charge_point.organization.alert_after_minutes)
        if key not in open_keys and now - problem.since >= delay and incident_open(problem=problem):
            opened += 1
    sent = 0
    for incident_id in AlertIncident.objects.filter(cleared_at__isnull=True, alerted_at__isnull=True).values_list(
        "pk", flat=True
    ):
        sent += incident_alert_send(incident_id=incident_id, now=now) == "sent"
    return AlertRun(opened=opened, sent=sent, cleared=cleared)
