"""The weekly operator summary: last week's overview as a PDF, emailed to the report recipients once.

The week is Monday to Sunday in the operator's time zone. Each organization with report recipients
gets one email per week, with the PDF attached: key figures with their change against the week
before, the sites, top and bottom stations, the call-outs and the stations needing attention.

Sending once: a ``RollupState`` row with the key ``weekly:<organization id>:<ISO week>`` is created
(unique key, so one worker wins) before the PDF is built and the mail sent; when sending fails the
row is removed again so the next run retries. A worker killed between the two leaves the week
claimed and unsent (at most once, never twice).
"""

import logging
import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from weasyprint import HTML

from accounts.models import Organization
from billing.quotes import money_display
from billing.selectors import organization_time_zone
from reporting.charts import bar_chart
from reporting.faults import needs_attention
from reporting.models import RollupState
from reporting.overview import Overview, Period, operator_overview, overview_tables

logger = logging.getLogger(__name__)


def report_recipients(organization: Organization) -> list[str]:
    """The organization's report recipients: one address per line (commas and semicolons also separate)."""
    text = organization.report_recipients.replace(",", "\n").replace(";", "\n")
    seen: dict[str, None] = {}
    for line in text.splitlines():
        if line.strip():
            seen.setdefault(line.strip(), None)
    return list(seen)


def last_week(*, now: datetime, time_zone: str) -> date:
    """The Monday of the last week that has ended in ``time_zone``."""
    today = timezone.localtime(now, zoneinfo.ZoneInfo(time_zone)).date()
    return today - timedelta(days=today.weekday() + 7)


def week_period(week_start: date, time_zone: str) -> Period:
    return Period(week_start, week_start + timedelta(days=6), time_zone)


def week_label(week_start: date) -> str:
    year, week, _day = week_start.isocalendar()
    return f"{year}-W{week:02d}"


def state_key(organization_id: int, week_start: date) -> str:
    return f"weekly:{organization_id}:{week_label(week_start)}"


def weekly_summaries_due(*, now: datetime) -> list[tuple[int, date]]:
    """(organization, Monday) of every organization with report recipients whose last week is unsent."""
    due = []
    for organization in Organization.objects.exclude(report_recipients="").order_by("pk"):
        if not report_recipients(organization):
            continue
        week_start = last_week(now=now, time_zone=organization_time_zone(organization))
        if not RollupState.objects.filter(key=state_key(organization.pk, week_start)).exists():
            due.append((organization.pk, week_start))
    return due


@dataclass
class WeeklySummary:
    organization: Organization
    week_start: date
    overview: Overview
    attention: list  # reporting.faults.StationAttention, most urgent first

    @property
    def week_label(self) -> str:
        return week_label(self.week_start)


def weekly_summary_build(
    *, organization: Organization, week_start: date, now: datetime | None = None, attention_limit: int = 10
) -> WeeklySummary:
    period = week_period(week_start, organization_time_zone(organization))
    overview = operator_overview(organization=organization, period=period)
    attention = needs_attention(
        organization=organization, start=period.start, end=period.end, now=now or timezone.now()
    )[:attention_limit]
    return WeeklySummary(organization=organization, week_start=week_start, overview=overview, attention=attention)


def weekly_summary_pdf(summary: WeeklySummary) -> bytes:
    overview = summary.overview
    tables = overview_tables(overview)
    context = {
        "summary": summary,
        "organization": summary.organization,
        "overview": overview,
        "tables": tables,
        "revenue": money_display(overview.totals.revenue, overview.currency),
        "chart": bar_chart(
            [label[5:] for label, *_rest in overview.series],
            [row[1] for row in overview.series],
            title=_("Sessions per day"),
        ),
    }
    with timezone.override(zoneinfo.ZoneInfo(overview.period.time_zone)):
        html = render_to_string("admin/reporting/weekly_summary.html", context)
    return HTML(string=html).write_pdf()


def _message(summary: WeeklySummary, recipients: list[str], pdf: bytes) -> EmailMessage:
    organization, totals = summary.organization, summary.overview.totals
    subject = _("Weekly charging summary for %(organization)s, week %(week)s") % {
        "organization": organization.name,
        "week": summary.week_label,
    }
    lines = [
        _("Attached: the charging summary of %(organization)s for %(first)s to %(last)s.")
        % {
            "organization": organization.name,
            "first": summary.overview.period.first.isoformat(),
            "last": summary.overview.period.last.isoformat(),
        },
        "",
        _("Sessions: %(n)s") % {"n": totals.sessions},
        _("Energy: %(kwh)s kWh") % {"kwh": totals.energy_kwh},
        _("Revenue incl. VAT: %(revenue)s") % {"revenue": money_display(totals.revenue, summary.overview.currency)},
        _("Call-outs: %(n)s; stations needing attention: %(m)s")
        % {"n": len(summary.overview.callouts), "m": len(summary.attention)},
    ]
    message = EmailMessage(
        subject=subject,
        body="\n".join(lines) + "\n",
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=recipients,
        reply_to=[organization.email] if organization.email else None,
    )
    message.attach(f"weekly-summary-{organization.slug}-{summary.week_label}.pdf", pdf, "application/pdf")
    return message


def weekly_summary_send(*, organization_id: int, week_start: date, now: datetime | None = None) -> str:
    """Build and email one organization's summary of one week, once. Raises when sending failed."""
    now = now or timezone.now()
    organization = Organization.objects.get(pk=organization_id)
    recipients = report_recipients(organization)
    if not recipients:
        return "no recipients"
    key = state_key(organization.pk, week_start)
    try:
        with transaction.atomic():
            RollupState.objects.create(key=key, value=now)
    except IntegrityError:
        if RollupState.objects.filter(key=key).exists():
            return "already sent"
        raise  # another constraint broke: a real error, not a second sender
    try:
        with translation.override(settings.LANGUAGE_CODE):
            summary = weekly_summary_build(organization=organization, week_start=week_start, now=now)
            _message(summary, recipients, weekly_summary_pdf(summary)).send()
    except Exception:
        RollupState.objects.filter(key=key).delete()  # not sent: the next run tries again
        raise
    logger.info("Weekly summary %s sent to %d recipient(s).", key, len(recipients))
    return "sent"
