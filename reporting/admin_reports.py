"""Admin pages for operators: the overview of usage, demand and call-outs (``admin:reporting_overview``).

Scoped as billing's reports are: staff always get their own organization, superusers choose one; a
site or station of another organization is a 404. Every table on the page downloads as CSV or XLSX
(``?...&format=csv&table=stations``; ``format=xlsx`` without a table gives every table, a sheet
each). The pages are added in front of the admin site's URLs, and listed on the admin index under
"Reporting" (``REPORT_LINKS``; other reporting pages may add theirs), when this module is imported.
"""

import zoneinfo
from dataclasses import dataclass
from datetime import timedelta

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing.admin_reports import ReportForm
from billing.selectors import organization_time_zone
from core.admin_pages import admin_app_list_add, admin_page_entry, admin_urls_add
from core.exports import FORMATS, table_response, xlsx_response
from reporting.charts import bar_chart, heatmap, line_chart
from reporting.overview import HOURS, WEEKDAYS, Period, operator_overview, overview_tables
from sessions_app.models import ChargePoint, Site

PERMISSIONS = ("sessions_app.view_chargingsession", "billing.view_sessionprice")


class OverviewForm(ReportForm):
    site = forms.ModelChoiceField(Site.objects.none(), label=_("site"), required=False)
    charge_point = forms.ModelChoiceField(ChargePoint.objects.none(), label=_("station"), required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, user=user, **kwargs)
        sites = Site.objects.order_by("name")
        stations = ChargePoint.objects.filter(site__isnull=False).order_by("ocpp_id")
        if not user.is_superuser:
            organization = getattr(user, "organization", None)
            sites, stations = sites.filter(organization=organization), stations.filter(organization=organization)
        elif str(self.data.get("organization", "")).isdigit():  # a superuser's choices: the chosen operator's
            chosen = int(self.data["organization"])
            sites, stations = sites.filter(organization_id=chosen), stations.filter(organization_id=chosen)
        self.fields["site"].queryset = sites
        self.fields["charge_point"].queryset = stations

    def clean(self):
        cleaned = super().clean()
        organization = self.chosen_organization() if "organization" not in self.errors else None
        site, station = cleaned.get("site"), cleaned.get("charge_point")
        if organization is not None:
            if site is not None and site.organization_id != organization.pk:
                self.add_error("site", _("This site belongs to another operator."))
            if station is not None and station.organization_id != organization.pk:
                self.add_error("charge_point", _("This station belongs to another operator."))
        if site is not None and station is not None and station.site_id != site.pk:
            self.add_error("charge_point", _("This station is not at the chosen site."))
        return cleaned


def _check_access(request) -> None:
    user = request.user
    if user.is_superuser:
        return
    if getattr(user, "organization", None) is None or not user.has_perms(PERMISSIONS):
        raise PermissionDenied


def _form(request) -> OverviewForm:
    data = request.GET.copy()
    for key in ("format", "table"):
        data.pop(key, None)
    form = OverviewForm(data or {"period": "week"}, user=request.user)
    if (
        not form.is_valid()
        and not request.user.is_superuser
        and ("site" in form.errors or "charge_point" in form.errors)
    ):
        raise Http404  # staff naming another operator's site or station: not theirs to know about
    return form


def _charts(overview, tables) -> list[dict]:
    """Each chart with its title and the table holding its numbers."""
    labels = [label for label, *_rest in overview.series]
    per = gettext("hour") if overview.series_by_hour else gettext("day")
    charts = [
        (
            gettext("Sessions per %(per)s") % {"per": per},
            "series",
            lambda title: bar_chart(labels, [row[1] for row in overview.series], title=title),
        ),
        (
            gettext("Energy per %(per)s (kWh)") % {"per": per},
            "series",
            lambda title: line_chart(
                labels, {gettext("Energy (kWh)"): [row[2] / 1000 for row in overview.series]}, title=title, unit="kWh"
            ),
        ),
        (
            gettext("Sessions started by weekday and hour (site time)"),
            "heatmap",
            lambda title: heatmap([str(day) for day in WEEKDAYS], HOURS, overview.heatmap, title=title),
        ),
        (
            gettext("Utilization per site (%)"),
            "sites",
            lambda title: bar_chart(
                [usage.label for usage in overview.sites],
                [usage.utilization or 0 for usage in overview.sites],
                title=title,
                unit="%",
            ),
        ),
    ]
    return [{"title": title, "table": tables[key], "svg": draw(title)} for title, key, draw in charts]


def overview_view(request):
    _check_access(request)
    form = _form(request)
    organization = form.chosen_organization() if form.is_valid() else None
    context = {
        **admin.site.each_context(request),
        "title": gettext("Operator overview"),
        "form": form,
        "app_label": "reporting",
        "organization": organization,
        "query": request.GET.urlencode(),
    }
    if organization is not None:
        time_zone = organization_time_zone(organization)
        first, after = form.local_dates(timezone.localtime(timezone.now(), zoneinfo.ZoneInfo(time_zone)).date())
        # A period not over yet counts its elapsed part and is compared with the same part of the one before.
        period = Period(first, after - timedelta(days=1), time_zone).up_to(timezone.now())
        overview = operator_overview(
            organization=organization,
            period=period,
            site=form.cleaned_data.get("site"),
            charge_point=form.cleaned_data.get("charge_point"),
        )
        tables = overview_tables(overview)
        stem = f"overview-{organization.slug}-{period.first:%Y%m%d}-{period.last:%Y%m%d}"
        fmt, key = request.GET.get("format"), request.GET.get("table")
        if fmt in FORMATS:
            if key in tables:
                table = tables[key]
                return table_response(
                    fmt, filename_stem=f"{stem}-{key}", headers=table.headers, rows=table.rows, title=table.title
                )
            if fmt == "xlsx" and not key:
                return xlsx_response(filename=f"{stem}.xlsx", tables=list(tables.values()))
            raise Http404
        query = request.GET.copy()
        for name in ("format", "table"):
            query.pop(name, None)
        context.update(
            overview=overview,
            tables=tables,
            charts=_charts(overview, tables),
            time_zone=time_zone,
            first=period.first,
            last=period.last,
            query=query.urlencode(),
        )
    return TemplateResponse(request, "admin/reporting/overview.html", context)


@dataclass(frozen=True)
class ReportLink:
    """A reporting page listed on the admin index under "Reporting"."""

    url_name: str
    label: str | Promise
    permissions: tuple[str, ...] = PERMISSIONS

    def allowed(self, request) -> bool:
        user = request.user
        return user.is_superuser or (
            getattr(user, "organization", None) is not None and user.has_perms(self.permissions)
        )


REPORT_LINKS: list[ReportLink] = [
    ReportLink("admin:reporting_overview", _("Operator overview")),
    # billing's report pages (billing.admin_reports) are listed here too: every report under one heading.
    ReportLink("admin:billing_revenue", _("Revenue"), permissions=("billing.view_sessionprice",)),
    ReportLink("admin:billing_reconciliation", _("Energy reconciliation"), permissions=("billing.view_sessionprice",)),
]


def _report_entries(request) -> list[dict]:
    entries = []
    for link in REPORT_LINKS:
        if not link.allowed(request):
            continue
        try:
            url = reverse(link.url_name)
        except NoReverseMatch:
            continue
        entries.append(admin_page_entry(str(link.label), link.url_name.rsplit(":", 1)[-1], url))
    return entries


def report_urls() -> list[URLPattern]:
    return [path("reporting/overview/", admin.site.admin_view(overview_view), name="reporting_overview")]


# The index and the side bar list the reporting pages, as if they were models of the app.
admin_urls_add("reporting_reports", report_urls)
admin_app_list_add("reporting_reports", "reporting", _report_entries, app_name=lambda: str(_("Reporting")))
