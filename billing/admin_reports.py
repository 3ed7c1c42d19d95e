"""Admin pages: revenue and energy reconciliation for one operator and a period, as a table, CSV or XLSX.

Operator staff always get their own organization (whatever the query string says);
superusers choose one. The pages are added in front of the admin site's own URLs
(``admin:billing_revenue``, ``admin:billing_reconciliation``) when this module is imported.
"""

import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import Organization
from billing.reconciliation import reconciliation_report
from billing.revenue import GROUP_BY, revenue_report
from billing.selectors import organization_time_zone
from core.admin_pages import admin_urls_add
from core.exports import FORMATS, table_response

PERIODS = [("day", _("Day")), ("week", _("Week")), ("month", _("Month")), ("custom", _("Custom"))]


class ReportForm(forms.Form):
    organization = forms.ModelChoiceField(Organization.objects.order_by("name"), label=_("operator"), required=False)
    period = forms.ChoiceField(label=_("period"), choices=PERIODS, initial="month", required=False)
    day = forms.DateField(label=_("date"), required=False, help_text=_("A day in the period; empty: today."))
    start = forms.DateField(label=_("from"), required=False)
    end = forms.DateField(label=_("until (inclusive)"), required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        if not user.is_superuser:
            del self.fields["organization"]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("period") == "custom":
            start, end = cleaned.get("start"), cleaned.get("end")
            if start is None or end is None:
                raise forms.ValidationError(_("A custom period needs a start and an end date."))
            if end < start:
                raise forms.ValidationError(_("The end date is before the start date."))
        return cleaned

    def chosen_organization(self) -> Organization | None:
        if self.user.is_superuser:
            return self.cleaned_data.get("organization")
        return getattr(self.user, "organization", None)

    def local_dates(self, today: date) -> tuple[date, date]:
        """First day and the day after the last, in local dates."""
        period = self.cleaned_data.get("period") or "month"
        anchor = self.cleaned_data.get("day") or today
        if period == "custom":
            return self.cleaned_data["start"], self.cleaned_data["end"] + timedelta(days=1)
        if period == "day":
            return anchor, anchor + timedelta(days=1)
        if period == "week":
            monday = anchor - timedelta(days=anchor.weekday())
            return monday, monday + timedelta(days=7)
        first = anchor.replace(day=1)
        return first, (first + timedelta(days=32)).replace(day=1)


class RevenueForm(ReportForm):
    group_by = forms.ChoiceField(
        label=_("group by"),
        choices=[(key, label) for key, (label, _f) in GROUP_BY.items()],
        initial="site",
        required=False,
    )


def report_allowed(user, permission: str = "billing.view_sessionprice") -> bool:
    """Superusers, and staff of an organization with ``permission``, may see a report."""
    return user.is_superuser or (getattr(user, "organization", None) is not None and user.has_perm(permission))


def report_access_check(request, permission: str = "billing.view_sessionprice") -> None:
    """Refuses whoever may not see the report (``report_allowed``)."""
    if not report_allowed(request.user, permission):
        raise PermissionDenied


def report_period(form: ReportForm, time_zone: str) -> tuple[datetime, datetime, date, date]:
    """The form's period: its start and end in ``time_zone``, its first and last local day."""
    zone = zoneinfo.ZoneInfo(time_zone)
    first, after_last = form.local_dates(timezone.localtime(timezone.now(), zone).date())
    return (
        datetime.combine(first, time.min, tzinfo=zone),
        datetime.combine(after_last, time.min, tzinfo=zone),
        first,
        after_last - timedelta(days=1),
    )


def report_form(request, form_class, permission: str = "billing.view_sessionprice"):
    """The report's form bound to the query string (the month by default) and the organization it is for (None
    until one is chosen), once the user may see it."""
    report_access_check(request, permission)
    data = request.GET.copy()
    data.pop("format", None)
    form = form_class(data or None, user=request.user)
    if not data:
        form = form_class({"period": "month"}, user=request.user)
    organization = form.chosen_organization() if form.is_valid() else None
    return form, organization


def report_context(request, form, title, *, app_label: str = "billing", **extra):
    """What a report page's template needs besides its own figures."""
    return {
        **admin.site.each_context(request),
        "title": title,
        "form": form,
        "app_label": app_label,
        "query": request.GET.urlencode(),
        **extra,
    }


@dataclass(frozen=True)
class ReportPage:
    """One admin report for an organization and a period: how it is built, and shown as a page or a table."""

    title: Promise
    template: str
    filename: str  # the export's file name starts with it
    columns: list
    build: Callable[..., Any]  # (organization, start, end, time_zone, cleaned_data) -> the report
    rows: Callable[[Any], list[list]]  # the report's table, as exported
    form_class: type[ReportForm] = ReportForm
    permission: str = "billing.view_sessionprice"
    app_label: str = "billing"
    context: Callable[[Any], dict] = lambda _report: {}  # what its template needs besides the report


def report_page_view(request, page: ReportPage):
    """The report's page, or its table as CSV/XLSX when the query string asks for a ``format``."""
    form, organization = report_form(request, page.form_class, page.permission)
    report = time_zone = first = last = None
    if organization is not None:
        time_zone = organization_time_zone(organization)
        start, end, first, last = report_period(form, time_zone)
        report = page.build(
            organization=organization, start=start, end=end, time_zone=time_zone, cleaned_data=form.cleaned_data
        )
        if request.GET.get("format") in FORMATS:
            return table_response(
                request.GET["format"],
                filename_stem=f"{page.filename}-{organization.slug}-{first:%Y%m%d}-{last:%Y%m%d}",
                headers=page.columns,
                rows=page.rows(report),
                title=str(page.title),
            )
    return TemplateResponse(
        request,
        page.template,
        report_context(
            request,
            form,
            str(page.title),
            app_label=page.app_label,
            organization=organization,
            report=report,
            time_zone=time_zone,
            first=first,
            last=last,
            **(page.context(report) if report is not None else {}),
        ),
    )


def rows_per_gap(items, head: Callable[[Any], list], gap_cells: Callable[[Any], list], gap_width: int) -> list[list]:
    """One row per gap of each item (``item.gaps``), led by the item's own cells; an item without gaps gets one row
    with the gap's cells empty."""
    rows: list[list] = []
    for item in items:
        cells = head(item)
        rows.extend([*cells, *gap_cells(gap)] for gap in item.gaps)
        if not item.gaps:
            rows.append([*cells, *[""] * gap_width])
    return rows


REVENUE_COLUMNS = [
    _("Group"),
    _("Currency"),
    _("Sessions"),
    _("Energy (kWh)"),
    _("Net"),
    _("VAT"),
    _("Gross"),
    _("Refunds net"),
    _("Refunds VAT"),
    _("Refunds gross"),
    _("Outstanding"),
    _("Average per kWh incl. VAT"),
    _("Reservation fees"),
    _("Reservation fees incl. VAT"),
]


def _revenue_cells(row) -> list:
    per_kwh = row.gross_per_kwh
    return [
        row.label,
        row.currency,
        row.sessions,
        row.energy_kwh,
        row.net,
        row.vat,
        row.gross,
        row.refund_net,
        row.refund_vat,
        row.refund_gross,
        row.outstanding,
        "" if per_kwh is None else per_kwh,
        row.reservations,
        row.reservation_gross,
    ]


REVENUE = ReportPage(
    title=_("Revenue"),
    template="admin/billing/revenue.html",
    filename="revenue",
    columns=REVENUE_COLUMNS,
    build=lambda *, organization, start, end, time_zone, cleaned_data: revenue_report(
        organization=organization,
        start=start,
        end=end,
        group_by=cleaned_data.get("group_by") or "site",
        time_zone=time_zone,
    ),
    rows=lambda report: [_revenue_cells(row) for row in [*report.rows, *report.totals]],
    form_class=RevenueForm,
    context=lambda report: {
        "columns": REVENUE_COLUMNS,
        "rows": [_revenue_cells(row) for row in report.rows],
        "totals": [_revenue_cells(row) for row in report.totals],
    },
)


RECONCILIATION_COLUMNS = [
    _("Connector"),
    _("Energy billed (Wh)"),
    _("Energy metered (Wh)"),
    _("Metered from"),
    _("Difference (Wh)"),
    _("Gap"),
    _("Time"),
    _("Session"),
    _("Energy (Wh)"),
    _("Detail"),
]


def _reconciliation_head(item) -> list:
    source = gettext("register") if item.metered_from_register else gettext("sessions")
    return [
        str(item.connector),
        item.billed_wh,
        "" if item.metered_wh is None else item.metered_wh,
        source if item.metered_wh is not None else "",
        "" if item.difference_wh is None else item.difference_wh,
    ]


def _reconciliation_gap(gap) -> list:
    return [
        gap.label,
        gap.at.isoformat(),
        gap.session_id or "",
        "" if gap.energy_wh is None else gap.energy_wh,
        gap.detail,
    ]


RECONCILIATION = ReportPage(
    title=_("Energy reconciliation"),
    template="admin/billing/reconciliation.html",
    filename="reconciliation",
    columns=RECONCILIATION_COLUMNS,
    build=lambda *, organization, start, end, **_other: reconciliation_report(
        organization=organization, start=start, end=end
    ),
    rows=lambda report: rows_per_gap(report, _reconciliation_head, _reconciliation_gap, gap_width=5),
)


def report_urls() -> list[URLPattern]:
    return [
        path("billing/reports/revenue/", admin.site.admin_view(report_page_view), {"page": REVENUE}, "billing_revenue"),
        path(
            "billing/reports/reconciliation/",
            admin.site.admin_view(report_page_view),
            {"page": RECONCILIATION},
            "billing_reconciliation",
        ),
    ]


admin_urls_add("billing_reports", report_urls)
