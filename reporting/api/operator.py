"""Operators' systems: the overview (usage, utilization, demand, trends, call-outs) and uptime per connector.

The figures are ``reporting.overview.operator_overview`` and ``reporting.uptime.uptime_by_month``, with
the admin pages' parameters: the overview's period (day, week, month or custom, in the operator's local
days) with an optional site or station, the uptime's months (``YYYY-MM``, the last 24) with an optional
station. Another operator's site or station is a 404.
"""

from datetime import timedelta

from django.http import Http404
from django.urls import path
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response

from accounts.api.operator import MAX_ID, OperatorAPIView
from billing.api.operator import OperatorPeriodSerializer, OperatorReportQuery, report_period
from billing.selectors import organization_time_zone
from reporting.admin_reports import PERMISSIONS as OVERVIEW_PERMISSIONS
from reporting.admin_reports import OverviewForm
from reporting.admin_uptime import STATUS_PERMISSION, UptimeForm
from reporting.overview import CALLOUT_KINDS, Period, operator_overview
from reporting.uptime import TARGET, uptime_by_month

# --- overview ----------------------------------------------------------------------------------------


class OperatorOverviewQuery(OperatorReportQuery):
    period = serializers.ChoiceField(choices=["day", "week", "month", "custom"], required=False, default="week")
    site = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="Only this site of the operator's."
    )
    charge_point = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="Only this station of the operator's."
    )


def _percent(**kwargs):
    return serializers.DecimalField(max_digits=7, decimal_places=1, allow_null=True, **kwargs)


class OperatorUsageSerializer(serializers.Serializer):
    key = serializers.IntegerField(allow_null=True, help_text="The site's, station's or connector's id.")
    label = serializers.CharField()  # type: ignore[assignment]  # a declared field, not Field.label (DRF pops it)
    site_label = serializers.CharField()
    connectors = serializers.IntegerField()
    capacity_s = serializers.IntegerField(help_text="Connectors x seconds in the period.")
    sessions = serializers.IntegerField()
    energy_wh = serializers.IntegerField()
    energy_kwh = serializers.DecimalField(max_digits=16, decimal_places=3)
    revenue = serializers.DecimalField(max_digits=16, decimal_places=2, help_text="Incl. VAT.")
    occupied_s = serializers.IntegerField()
    charging_s = serializers.IntegerField()
    idle_s = serializers.IntegerField(help_text="Plugged in but not charging.")
    outage_s = serializers.IntegerField()
    offline_s = serializers.IntegerField()
    down_s = serializers.IntegerField(help_text="Faulted, unavailable or offline, each second once.")
    failed_starts = serializers.IntegerField()
    zero_energy = serializers.IntegerField()
    unique_drivers = serializers.IntegerField(allow_null=True)
    utilization = _percent(help_text="Occupied time, % of capacity.")
    charging_share = _percent(help_text="Charging time, % of capacity.")
    down_share = _percent()
    average_duration_min = serializers.DecimalField(max_digits=12, decimal_places=1, allow_null=True)
    energy_per_session_kwh = serializers.DecimalField(max_digits=16, decimal_places=3, allow_null=True)


class OperatorTrendSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # a declared field, not Field.label (DRF pops it)
    current = serializers.SerializerMethodField()
    previous = serializers.SerializerMethodField()
    change = _percent(help_text="Percent change from the previous period.")

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_current(self, trend) -> str | None:
        return None if trend.current is None else str(trend.current)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_previous(self, trend) -> str | None:
        return None if trend.previous is None else str(trend.previous)


class OperatorSiteDemandSerializer(serializers.Serializer):
    site = serializers.IntegerField(source="site.pk")
    site_name = serializers.CharField(source="site.name")
    connectors = serializers.IntegerField()
    peak_sessions = serializers.IntegerField(help_text="Most sessions at once in the period.")
    peak_share = _percent()
    busiest_weekday = serializers.IntegerField(allow_null=True, help_text="0 = Monday, site time.")
    busiest_hour = serializers.IntegerField(allow_null=True)
    busiest_occupancy = _percent()
    near_full = serializers.BooleanField()


class OperatorSeriesPointSerializer(serializers.Serializer):
    label = serializers.CharField(help_text="Local day, or hour of day for a one-day period.")  # type: ignore[assignment]
    sessions = serializers.IntegerField()
    energy_wh = serializers.IntegerField()
    revenue = serializers.DecimalField(max_digits=16, decimal_places=2)


class OperatorCalloutSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=list(CALLOUT_KINDS))
    subject = serializers.CharField()
    reason = serializers.CharField()


class OperatorRankingsSerializer(serializers.Serializer):
    top_utilization = OperatorUsageSerializer(many=True)
    bottom_utilization = OperatorUsageSerializer(many=True)
    top_energy = OperatorUsageSerializer(many=True)
    bottom_energy = OperatorUsageSerializer(many=True)


class OverviewPeriodSerializer(OperatorPeriodSerializer):
    as_of = serializers.DateTimeField(
        allow_null=True,
        help_text="For a period not over yet: the end of what is counted (the last whole hour); the previous "
        "period is then cut at the same elapsed part. Null for a period that is over.",
    )


class OperatorOverviewSerializer(serializers.Serializer):
    period = OverviewPeriodSerializer()
    previous_period = OverviewPeriodSerializer()
    site = serializers.IntegerField(allow_null=True)
    charge_point = serializers.IntegerField(allow_null=True)
    currency = serializers.CharField()
    totals = OperatorUsageSerializer()
    previous = OperatorUsageSerializer(help_text="The totals of the same number of days just before.")
    trends = OperatorTrendSerializer(many=True)
    sites = OperatorUsageSerializer(many=True)
    stations = OperatorUsageSerializer(many=True)
    connectors = OperatorUsageSerializer(many=True)
    demand = OperatorSiteDemandSerializer(many=True)
    heatmap = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField()),
        help_text="Sessions started: 7 weekdays (Monday first) x 24 hours, site time.",
    )
    series = OperatorSeriesPointSerializer(many=True)
    series_by_hour = serializers.BooleanField()
    top_bottom = OperatorRankingsSerializer()
    callouts = OperatorCalloutSerializer(many=True)


def _period(period: Period) -> dict:
    return {
        "first": period.first,
        "last": period.last,
        "time_zone": period.time_zone,
        "start": period.start,
        "end": period.end,
        "as_of": period.as_of,
    }


class OverviewView(OperatorAPIView):
    """The operator overview, from the rollups: usage and utilization per site, station and connector, demand,
    trends against the period before, top and bottom stations and the expand / relocate call-outs."""

    serializer_class = OperatorOverviewSerializer
    required_permissions = {"GET": OVERVIEW_PERMISSIONS}

    @extend_schema(parameters=[OperatorOverviewQuery], responses=OperatorOverviewSerializer)
    def get(self, request):
        query = OperatorOverviewQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        form = OverviewForm(dict(data), user=request.user)
        if not form.is_valid():
            if any(
                error.code == "invalid_choice"
                for name in ("site", "charge_point")
                for error in form.errors.as_data().get(name, [])
            ):
                raise Http404  # not one of the operator's: as on the admin page, nothing to know about it
            raise serializers.ValidationError(form.errors)
        time_zone = organization_time_zone(self.organization)
        bounds = report_period(form=form, time_zone=time_zone)
        period = Period(bounds["first"], bounds["last"], time_zone).up_to(timezone.now())
        site, station = form.cleaned_data.get("site"), form.cleaned_data.get("charge_point")
        overview = operator_overview(organization=self.organization, period=period, site=site, charge_point=station)
        series = [
            {"label": label, "sessions": sessions, "energy_wh": energy_wh, "revenue": revenue}
            for label, sessions, energy_wh, revenue in overview.series
        ]
        return Response(
            OperatorOverviewSerializer(
                {
                    "period": _period(period),
                    "previous_period": _period(overview.previous_period),
                    "site": site.pk if site else None,
                    "charge_point": station.pk if station else None,
                    "currency": overview.currency,
                    "totals": overview.totals,
                    "previous": overview.previous,
                    "trends": overview.trends,
                    "sites": overview.sites,
                    "stations": overview.stations,
                    "connectors": overview.connectors,
                    "demand": overview.demand,
                    "heatmap": overview.heatmap,
                    "series": series,
                    "series_by_hour": overview.series_by_hour,
                    "top_bottom": overview.top_bottom,
                    "callouts": overview.callouts,
                }
            ).data
        )


# --- uptime ------------------------------------------------------------------------------------------


class OperatorUptimeQuery(serializers.Serializer):
    first_month = serializers.RegexField(
        r"^\d{4}-\d{2}\Z", required=False, help_text="YYYY-MM, one of the last 24 months; default two months ago."
    )
    last_month = serializers.RegexField(
        r"^\d{4}-\d{2}\Z", required=False, help_text="YYYY-MM, one of the last 24 months; default this month."
    )
    charge_point = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="Only this station."
    )
    below_target = serializers.BooleanField(
        required=False, default=False, help_text="Only connector months below the 97 % target."
    )


class OperatorUptimeRowSerializer(serializers.Serializer):
    connector = serializers.IntegerField(source="connector.pk")
    charge_point = serializers.IntegerField(source="connector.charge_point_id")
    station_ocpp_id = serializers.CharField(source="connector.charge_point.ocpp_id")
    number = serializers.IntegerField(source="connector.number")
    site_name = serializers.CharField(source="connector.charge_point.site.name")
    month = serializers.DateField(help_text="First day of the site's local month.")
    period_minutes = serializers.IntegerField(help_text="Up to now for the running month.")
    outage_minutes = serializers.IntegerField()
    excluded_minutes = serializers.IntegerField(help_text="Outage inside excluded outages (NEVI).")
    counted_minutes = serializers.IntegerField()
    uptime = serializers.DecimalField(max_digits=6, decimal_places=2, help_text="Percent.")
    below_target = serializers.BooleanField()


class OperatorUptimeSerializer(serializers.Serializer):
    first_month = serializers.DateField()
    last_month = serializers.DateField()
    target = serializers.DecimalField(max_digits=5, decimal_places=2, help_text="Percent (NEVI).")
    rows = OperatorUptimeRowSerializer(many=True)


class UptimeView(OperatorAPIView):
    """NEVI uptime per connector and local month, from the rollups and the excluded outages."""

    serializer_class = OperatorUptimeSerializer
    required_permissions = {"GET": (STATUS_PERMISSION,)}

    @extend_schema(parameters=[OperatorUptimeQuery], responses=OperatorUptimeSerializer)
    def get(self, request):
        query = OperatorUptimeQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = {name: value for name, value in query.validated_data.items() if value is not None}
        today = timezone.localtime(timezone.now()).date()
        months = [today.replace(day=1)]
        while len(months) < 3:
            months.append((months[-1] - timedelta(days=1)).replace(day=1))
        data.setdefault("first_month", f"{months[-1]:%Y-%m}")  # as the admin page: this month and the two before
        data.setdefault("last_month", f"{months[0]:%Y-%m}")
        form = UptimeForm(data, user=request.user, today=today)
        if not form.is_valid():
            if "charge_point" in form.errors:
                raise Http404
            raise serializers.ValidationError(form.errors)
        rows = uptime_by_month(
            organization=self.organization,
            first_month=form.cleaned_data["first_month"],
            last_month=form.cleaned_data["last_month"],
            charge_point=form.chosen_station(self.organization),
        )
        if form.cleaned_data.get("below_target"):
            rows = [row for row in rows if row.below_target]
        return Response(
            OperatorUptimeSerializer(
                {
                    "first_month": form.cleaned_data["first_month"],
                    "last_month": form.cleaned_data["last_month"],
                    "target": TARGET,
                    "rows": rows,
                }
            ).data
        )


urlpatterns = [
    path("operator/reports/overview/", OverviewView.as_view(), name="operator_overview"),
    path("operator/reports/uptime/", UptimeView.as_view(), name="operator_uptime"),
]
