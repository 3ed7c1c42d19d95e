"""Operator admin: uptime per connector and month, the fault log, the "needs attention" list, excluded
outages and alert incidents.

The report pages follow ``billing.admin_reports``: staff always get their own organization, superusers
choose one; a station from another organization is a 404. They are added in front of the admin site's
URLs as ``admin:reporting_uptime``, ``admin:reporting_faults`` and ``admin:reporting_attention`` and
listed on the admin index under "Reporting" (``reporting.admin_reports.REPORT_LINKS``); each table
downloads as CSV or XLSX (``?format=csv[&table=...]`` / ``?format=xlsx``, every table a sheet). Who
may open them: superusers, and staff of an organization who may view status events (the pages are
read from them).
"""

import zoneinfo
from datetime import UTC, date, datetime, time, timedelta
from typing import cast

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import Organization
from billing.admin_reports import ReportForm
from billing.selectors import organization_time_zone
from core.admin_pages import admin_urls_add
from core.admin_scoping import ImmutableAdminMixin, OrganizationScopedAdmin
from core.exports import FORMATS, Table, table_response, xlsx_response
from core.timeutil import months_back
from reporting.admin_reports import REPORT_LINKS, ReportLink
from reporting.charts import bar_chart
from reporting.faults import fault_log, needs_attention, open_incidents, start_figures
from reporting.models import AlertIncident, OutageExclusion
from reporting.uptime import TARGET, uptime_by_month
from sessions_app.models import ChargePoint, Site

MONTHS_OFFERED = 24
STATUS_PERMISSION = "sessions_app.view_statusevent"


def _check_access(request) -> None:
    user = request.user
    if user.is_superuser:
        return
    if getattr(user, "organization", None) is None or not user.has_perm(STATUS_PERMISSION):
        raise PermissionDenied


class StationChoiceMixin(forms.Form):
    """A station filter limited to the user's organization (any station for a superuser)."""

    def _add_station_field(self, user) -> None:
        stations = ChargePoint.objects.filter(site__isnull=False).order_by("ocpp_id")
        if not user.is_superuser:
            stations = stations.filter(organization=getattr(user, "organization", None))
        self.fields["charge_point"] = forms.ModelChoiceField(stations, label=_("station"), required=False)

    def refuse_foreign_station(self) -> None:
        """A station the user may not choose is a 404, not an empty report."""
        if "charge_point" in self.errors:
            raise Http404

    def chosen_station(self, organization) -> ChargePoint | None:
        station = self.cleaned_data.get("charge_point")
        if station is not None and station.organization_id != getattr(organization, "pk", None):
            raise Http404
        return station


class UptimeForm(StationChoiceMixin, forms.Form):
    organization = forms.ModelChoiceField(Organization.objects.order_by("name"), label=_("operator"), required=False)
    first_month = forms.ChoiceField(label=_("from month"), required=False)
    last_month = forms.ChoiceField(label=_("until month"), required=False)
    below_target = forms.BooleanField(label=_("only below the 97 % target"), required=False)

    def __init__(self, *args, user, today: date, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        if not user.is_superuser:
            del self.fields["organization"]
        self._add_station_field(user)
        months = months_back(today, MONTHS_OFFERED)
        choices = [(f"{month:%Y-%m}", date_format(month, "YEAR_MONTH_FORMAT")) for month in months]
        cast(forms.ChoiceField, self.fields["first_month"]).choices = choices
        cast(forms.ChoiceField, self.fields["last_month"]).choices = choices
        self.fields["first_month"].initial = f"{months[2]:%Y-%m}"  # used when a field is left empty
        self.fields["last_month"].initial = f"{months[0]:%Y-%m}"

    def clean(self):
        cleaned = super().clean()
        for name, default in (
            ("first_month", self.fields["first_month"].initial),
            ("last_month", self.fields["last_month"].initial),
        ):
            cleaned[name] = date.fromisoformat(f"{cleaned.get(name) or default}-01")
        if cleaned["last_month"] < cleaned["first_month"]:
            raise ValidationError(_("The last month is before the first."))
        return cleaned

    def chosen_organization(self) -> Organization | None:
        if self.user.is_superuser:
            return self.cleaned_data.get("organization")
        return getattr(self.user, "organization", None)


class StationReportForm(StationChoiceMixin, ReportForm):
    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, user=user, **kwargs)
        self._add_station_field(user)


def _bound(request, form_class, defaults: dict, **kwargs):
    data = request.GET.copy()
    data.pop("format", None)
    data.pop("table", None)
    form = form_class(data or defaults, user=request.user, **kwargs)
    if isinstance(form, StationChoiceMixin):
        form.refuse_foreign_station()
    return form


def _local_period(form: ReportForm, time_zone: str) -> tuple[datetime, datetime, date, date]:
    zone = zoneinfo.ZoneInfo(time_zone)
    first, after_last = form.local_dates(timezone.localtime(timezone.now(), zone).date())
    return (
        datetime.combine(first, time.min, tzinfo=zone).astimezone(UTC),
        datetime.combine(after_last, time.min, tzinfo=zone).astimezone(UTC),
        first,
        after_last - timedelta(days=1),
    )


def _context(request, form, title, **extra) -> dict:
    return {
        **admin.site.each_context(request),
        "title": title,
        "form": form,
        "app_label": "reporting",
        "query": request.GET.urlencode(),
        "formats": FORMATS,
        **extra,
    }


def _export(request, stem: str, tables: list[Table]):
    """The response for ``?format=csv|xlsx`` (CSV: the table named by ``?table=``, else the first), or None."""
    fmt = request.GET.get("format")
    if fmt not in FORMATS:
        return None
    if fmt == "xlsx":
        return xlsx_response(filename=f"{stem}.xlsx", tables=tables)
    table = next((t for t in tables if t.key == request.GET.get("table")), tables[0])
    return table_response(
        "csv", filename_stem=f"{stem}-{table.key}" if len(tables) > 1 else stem, headers=table.headers, rows=table.rows
    )


# --- uptime -----------------------------------------------------------------------------------------

UPTIME_COLUMNS = [
    _("Station"),
    _("Connector"),
    _("Site"),
    _("Month"),
    _("Minutes in period"),
    _("Outage minutes"),
    _("Excluded minutes"),
    _("Counted outage minutes"),
    _("Uptime %"),
    _("Below 97 %"),
]


def _uptime_cells(row) -> list:
    return [
        str(row.connector.charge_point),
        row.connector.number,
        row.connector.charge_point.site.name,
        f"{row.month:%Y-%m}",
        row.period_minutes,
        row.outage_minutes,
        row.excluded_minutes,
        row.counted_minutes,
        row.uptime,
        gettext("yes") if row.below_target else "",
    ]


def uptime_view(request):
    _check_access(request)
    today = timezone.localtime(timezone.now()).date()
    recent = months_back(today, 3)  # by default the running month and the two before it
    form = _bound(
        request, UptimeForm, {"first_month": f"{recent[-1]:%Y-%m}", "last_month": f"{recent[0]:%Y-%m}"}, today=today
    )
    organization = form.chosen_organization() if form.is_valid() else None
    rows, chart = [], None
    if organization is not None:
        rows = uptime_by_month(
            organization=organization,
            first_month=form.cleaned_data["first_month"],
            last_month=form.cleaned_data["last_month"],
            charge_point=form.chosen_station(organization),
        )
        if form.cleaned_data.get("below_target"):
            rows = [row for row in rows if row.below_target]
        first, last = form.cleaned_data["first_month"], form.cleaned_data["last_month"]
        response = _export(
            request,
            f"uptime-{organization.slug}-{first:%Y%m}-{last:%Y%m}",
            [
                Table(
                    key="uptime", title=gettext("Uptime"), headers=UPTIME_COLUMNS, rows=[_uptime_cells(r) for r in rows]
                )
            ],
        )
        if response is not None:
            return response
        months = sorted({row.month for row in rows})
        chart = bar_chart(
            [f"{month:%Y-%m}" for month in months],
            [sum(row.counted_minutes for row in rows if row.month == month) for month in months],
            title=gettext("Counted outage minutes per month, all connectors"),
            unit="min",
        )
    return TemplateResponse(
        request,
        "admin/reporting/uptime.html",
        _context(
            request,
            form,
            gettext("Uptime"),
            organization=organization,
            columns=UPTIME_COLUMNS,
            target=TARGET,
            rows=[(row.below_target, _uptime_cells(row)) for row in rows],
            chart=chart,
            below=sum(row.below_target for row in rows),
        ),
    )


# --- fault log ---------------------------------------------------------------------------------------

FAULT_COLUMNS = [
    _("Station"),
    _("Connector"),
    _("Error code"),
    _("Vendor error code"),
    _("Info"),
    _("Status"),
    _("Started"),
    _("Cleared"),
    _("Time to repair (minutes)"),
    _("Open"),
]
STARTS_COLUMNS = [
    _("Station"),
    _("Connector"),
    _("Sessions"),
    _("Failed starts"),
    _("Zero-energy sessions"),
    _("Success rate %"),
]


def _local_text(at: datetime | None, site: Site) -> str:
    return f"{timezone.localtime(at, site.tzinfo):%Y-%m-%d %H:%M}" if at else ""


def _fault_cells(fault, now: datetime) -> list:
    return [
        str(fault.charge_point),
        fault.connector.number if fault.connector else gettext("station"),
        fault.error_code,
        fault.vendor_error_code,
        fault.info,
        fault.status,
        _local_text(fault.started_at, fault.charge_point.site),
        _local_text(fault.cleared_at, fault.charge_point.site),
        round(fault.duration(now).total_seconds() / 60),
        gettext("yes") if fault.is_open else "",
    ]


def _starts_cells(figure) -> list:
    rate = figure.success_rate
    return [
        str(figure.connector.charge_point),
        figure.connector.number,
        figure.sessions,
        figure.failed_starts,
        figure.zero_energy,
        "" if rate is None else rate,
    ]


def faults_view(request):
    _check_access(request)
    form = _bound(request, StationReportForm, {"period": "month"})
    organization = form.chosen_organization() if form.is_valid() else None
    faults = starts = time_zone = first = last = None
    now = timezone.now()
    if organization is not None:
        time_zone = organization_time_zone(organization)
        start, end, first, last = _local_period(form, time_zone)
        station = form.chosen_station(organization)
        faults = fault_log(organization=organization, start=start, end=end, charge_point=station)
        starts = start_figures(organization=organization, start=start, end=end, charge_point=station)
        response = _export(
            request,
            f"faults-{organization.slug}-{first:%Y%m%d}-{last:%Y%m%d}",
            [
                Table(
                    key="faults",
                    title=gettext("Fault log"),
                    headers=FAULT_COLUMNS,
                    rows=[_fault_cells(fault, now) for fault in faults],
                ),
                Table(
                    key="starts",
                    title=gettext("Starts"),
                    headers=STARTS_COLUMNS,
                    rows=[_starts_cells(figure) for figure in starts],
                ),
            ],
        )
        if response is not None:
            return response
    return TemplateResponse(
        request,
        "admin/reporting/faults.html",
        _context(
            request,
            form,
            gettext("Fault log"),
            organization=organization,
            time_zone=time_zone,
            first=first,
            last=last,
            fault_columns=FAULT_COLUMNS,
            starts_columns=STARTS_COLUMNS,
            faults=[(fault.is_open, _fault_cells(fault, now)) for fault in faults or []],
            starts=[_starts_cells(figure) for figure in starts or []],
        ),
    )


# --- needs attention ---------------------------------------------------------------------------------

ATTENTION_COLUMNS = [_("Rank"), _("Station"), _("Site"), _("Score"), _("Why")]
INCIDENT_COLUMNS = [_("Station"), _("Connector"), _("Kind"), _("Since"), _("Operator alerted"), _("Detail")]


def _attention_cells(rank: int, station) -> list:
    cp = station.charge_point
    return [
        rank,
        str(cp),
        cp.site.name if cp.site else "",
        station.score,
        "; ".join(f"{reason.text} ({reason.points})" for reason in station.reasons),
    ]


def _incident_cells(incident) -> list:
    cp = incident.charge_point
    return [
        str(cp),
        incident.connector.number if incident.connector else "",
        incident.get_kind_display(),
        _local_text(incident.started_at, cp.site) if cp.site else incident.started_at.isoformat(),
        _local_text(incident.alerted_at, cp.site) if cp.site else "",
        incident.detail,
    ]


def attention_view(request):
    _check_access(request)
    form = _bound(request, ReportForm, {"period": "month"})
    organization = form.chosen_organization() if form.is_valid() else None
    stations = incidents = time_zone = first = last = None
    if organization is not None:
        time_zone = organization_time_zone(organization)
        start, end, first, last = _local_period(form, time_zone)
        stations = needs_attention(organization=organization, start=start, end=end)
        incidents = open_incidents(organization=organization)
        response = _export(
            request,
            f"attention-{organization.slug}-{first:%Y%m%d}-{last:%Y%m%d}",
            [
                Table(
                    key="attention",
                    title=gettext("Needs attention"),
                    headers=ATTENTION_COLUMNS,
                    rows=[_attention_cells(rank, s) for rank, s in enumerate(stations, 1)],
                ),
                Table(
                    key="incidents",
                    title=gettext("Open incidents"),
                    headers=INCIDENT_COLUMNS,
                    rows=[_incident_cells(incident) for incident in incidents],
                ),
            ],
        )
        if response is not None:
            return response
    return TemplateResponse(
        request,
        "admin/reporting/attention.html",
        _context(
            request,
            form,
            gettext("Needs attention"),
            organization=organization,
            time_zone=time_zone,
            first=first,
            last=last,
            stations=stations,
            incidents=[_incident_cells(incident) for incident in incidents or []],
            incident_columns=INCIDENT_COLUMNS,
        ),
    )


def report_urls() -> list[URLPattern]:
    return [
        path("reporting/uptime/", admin.site.admin_view(uptime_view), name="reporting_uptime"),
        path("reporting/faults/", admin.site.admin_view(faults_view), name="reporting_faults"),
        path("reporting/attention/", admin.site.admin_view(attention_view), name="reporting_attention"),
    ]


admin_urls_add("reporting_uptime", report_urls)
REPORT_LINKS.extend(
    ReportLink(url_name, label, permissions=(STATUS_PERMISSION,))
    for url_name, label in (
        ("admin:reporting_uptime", _("Uptime")),
        ("admin:reporting_faults", _("Fault log")),
        ("admin:reporting_attention", _("Needs attention")),
    )
)


# --- models ---------------------------------------------------------------------------------------


class OutageExclusionForm(forms.ModelForm):
    class Meta:
        model = OutageExclusion
        fields = ["charge_point", "connector", "start", "end", "reason", "note"]

    def clean(self):
        cleaned = super().clean()
        charge_point, connector = cleaned.get("charge_point"), cleaned.get("connector")
        if charge_point and connector and connector.charge_point_id != charge_point.pk:
            self.add_error("connector", _("This connector belongs to another station."))
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and end <= start:
            self.add_error("end", _("The end must be after the start."))
        return cleaned


@admin.register(OutageExclusion)
class OutageExclusionAdmin(OrganizationScopedAdmin):
    """Downtime the operator shows was planned maintenance, a grid outage or vandalism (NEVI excludes it)."""

    organization_path = "organization"
    form = OutageExclusionForm
    list_display = ["charge_point", "connector", "start", "end", "reason", "note"]
    list_filter = ["reason", ("charge_point", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["charge_point", "connector"]
    search_fields = ["charge_point__ocpp_id", "charge_point__name", "note"]
    date_hierarchy = "start"

    def save_model(self, request, obj, form, change):
        obj.organization_id = obj.charge_point.organization_id  # the station's operator, never chosen
        super().save_model(request, obj, form, change)


class OpenListFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", _("Open")), ("cleared", _("Cleared"))]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(cleared_at__isnull=True)
        if self.value() == "cleared":
            return queryset.filter(cleared_at__isnull=False)
        return queryset


@admin.register(AlertIncident)
class AlertIncidentAdmin(ImmutableAdminMixin, OrganizationScopedAdmin):
    """Incidents are opened and cleared by the alert job: read only."""

    organization_path = "organization"
    list_display = ["charge_point", "connector_number", "kind", "started_at", "cleared_at", "alerted_at", "detail"]
    list_filter = [OpenListFilter, "kind", ("charge_point", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["charge_point", "connector"]
    search_fields = ["charge_point__ocpp_id", "charge_point__name", "detail"]
    date_hierarchy = "started_at"

    @admin.display(description=_("connector"), ordering="connector__number")
    def connector_number(self, obj: AlertIncident):
        return obj.connector.number if obj.connector else "–"
