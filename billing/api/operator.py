"""Operators' systems: tariffs with their elements and prices, where they apply, revenue and reconciliation.

Tariffs are written through ``billing.services`` (``tariff_create``, ``tariff_update``,
``tariff_assignment_create``), which refuse invalid or contradictory definitions and overlapping
assignments with every problem named. The reports take the admin pages' parameters (``period`` day,
week, month or custom with ``day``, ``start``, ``end``; local dates in the operator's time zone).
"""

import zoneinfo
from datetime import date, datetime, time, timedelta

from django.db.models import Q
from django.urls import path
from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from accounts.api.operator import IdFilter, MomentFilter, OperatorAPIView, moment_field, related_field
from billing.admin_reports import ReportForm, RevenueForm
from billing.models import (
    CustomerGroup,
    PriceComponent,
    Tariff,
    TariffAssignment,
    TariffElement,
    days_of_week_parse,
)
from billing.reconciliation import reconciliation_report
from billing.revenue import GROUP_BY, revenue_report
from billing.selectors import organization_time_zone
from billing.services import TARIFF_ELEMENT_FIELDS, tariff_assignment_create, tariff_create, tariff_update
from core import money
from sessions_app.models import ChargePoint, Connector, Site

TARIFF_VIEW = ("billing.view_tariff",)
REPORT_PERMISSIONS = ("billing.view_sessionprice",)  # as the admin's report pages

# --- tariffs: output ---------------------------------------------------------------------------------


class OperatorPriceComponentSerializer(serializers.ModelSerializer):
    class Meta:
        model = PriceComponent
        fields = ["type", "price", "step_size"]
        read_only_fields = fields


class OperatorTariffElementSerializer(serializers.ModelSerializer):
    days_of_week = serializers.SerializerMethodField(help_text="0 = Monday ... 6 = Sunday; empty: every day.")
    reservation = serializers.SerializerMethodField(
        help_text="Set: the element prices reserved time (RESERVATION: used or cancelled by the driver; "
        "RESERVATION_EXPIRES: expired), never charging; null for a charging element."
    )
    components = OperatorPriceComponentSerializer(many=True, read_only=True)

    class Meta:
        model = TariffElement
        fields = [*TARIFF_ELEMENT_FIELDS, "components"]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_days_of_week(self, obj: TariffElement) -> list[int]:
        return sorted(days_of_week_parse(obj.days_of_week) or ())

    @extend_schema_field(serializers.ChoiceField(choices=TariffElement.Reservation.choices, allow_null=True))
    def get_reservation(self, obj: TariffElement) -> str | None:
        return obj.reservation or None


class OperatorTariffSerializer(serializers.ModelSerializer):
    elements = OperatorTariffElementSerializer(many=True, read_only=True)

    class Meta:
        model = Tariff
        fields = [
            "id",
            "name",
            "currency",
            "vat_rate",
            "prices_include_vat",
            "valid_from",
            "valid_until",
            "min_price",
            "max_price",
            "parking_grace_minutes",
            "created_at",
            "elements",
        ]
        read_only_fields = fields


# --- tariffs: input ----------------------------------------------------------------------------------

_MAX_INT = 2_147_483_647


class OperatorPriceComponentInput(serializers.Serializer):
    type = serializers.ChoiceField(choices=PriceComponent.Type.choices)
    price = serializers.DecimalField(
        max_digits=12,
        decimal_places=4,
        min_value=0,
        help_text="Per kWh, per hour or per session; gross or net as the tariff says.",
    )
    step_size = serializers.IntegerField(
        min_value=1,
        max_value=_MAX_INT,
        required=False,
        default=1,
        help_text="Wh for ENERGY, seconds for TIME and PARKING_TIME.",
    )


class OperatorTariffElementInput(serializers.Serializer):
    position = serializers.IntegerField(
        min_value=0,
        max_value=32767,
        required=False,
        help_text="Elements are tried by position; default: their order here.",
    )
    start_time = serializers.TimeField(required=False, allow_null=True)
    end_time = serializers.TimeField(required=False, allow_null=True)
    days_of_week = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=6),
        required=False,
        max_length=7,
        help_text="0 = Monday ... 6 = Sunday; empty: every day.",
    )
    min_kwh = serializers.DecimalField(max_digits=10, decimal_places=3, min_value=0, required=False, allow_null=True)
    max_kwh = serializers.DecimalField(max_digits=10, decimal_places=3, min_value=0, required=False, allow_null=True)
    min_duration_minutes = serializers.IntegerField(min_value=0, max_value=_MAX_INT, required=False, allow_null=True)
    max_duration_minutes = serializers.IntegerField(min_value=0, max_value=_MAX_INT, required=False, allow_null=True)
    min_power_kw = serializers.DecimalField(
        max_digits=8, decimal_places=2, min_value=0, required=False, allow_null=True
    )
    max_power_kw = serializers.DecimalField(
        max_digits=8, decimal_places=2, min_value=0, required=False, allow_null=True
    )
    reservation = serializers.ChoiceField(
        choices=TariffElement.Reservation.choices,
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text="OCPI 2.2.1 reservation restriction: set, the element prices reserved time (FLAT per reservation, "
        "TIME per hour reserved), never charging. RESERVATION: a reservation used or cancelled by the driver; "
        "RESERVATION_EXPIRES: one that expired. Empty or null: a charging element.",
    )
    components = OperatorPriceComponentInput(many=True, help_text="At most one of each type.")


class OperatorTariffInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    currency = serializers.RegexField(r"^[A-Z]{3}\Z", required=False, help_text="ISO 4217; default the operator's.")
    vat_rate = serializers.DecimalField(
        max_digits=5, decimal_places=4, min_value=0, max_value=1, required=False, help_text="0.25 for 25 %."
    )
    prices_include_vat = serializers.BooleanField(required=False)
    valid_from = moment_field(required=False)
    valid_until = moment_field(required=False, allow_null=True)
    min_price = serializers.DecimalField(
        max_digits=12, decimal_places=money.STORED_DECIMAL_PLACES, min_value=0, required=False, allow_null=True
    )
    max_price = serializers.DecimalField(
        max_digits=12, decimal_places=money.STORED_DECIMAL_PLACES, min_value=0, required=False, allow_null=True
    )
    parking_grace_minutes = serializers.IntegerField(min_value=0, max_value=_MAX_INT, required=False)
    # many=True hands max_length to the ListSerializer; the stubs list only the child's arguments.
    elements = OperatorTariffElementInput(
        many=True,
        max_length=100,  # type: ignore[call-arg]
        help_text="Given on a change, they replace all of the tariff's elements.",
    )


def _tariff_values(validated: dict) -> tuple[dict, list[dict] | None]:
    values = dict(validated)
    return values, values.pop("elements", None)


# --- tariffs: views ----------------------------------------------------------------------------------


class TariffFilter(filters.FilterSet):
    name = filters.CharFilter(lookup_expr="icontains")
    currency = filters.CharFilter(lookup_expr="iexact")
    valid_at = MomentFilter(method="filter_valid_at", label="Valid at this moment")

    class Meta:
        model = Tariff
        fields = ["name", "currency", "valid_at"]

    def filter_valid_at(self, queryset, name, value):
        return queryset.filter(Q(valid_until__isnull=True) | Q(valid_until__gt=value), valid_from__lte=value)


class TariffsMixin:
    def get_queryset(self):
        return Tariff.objects.filter(organization=self.organization).prefetch_related("elements__components")


class TariffListCreateView(TariffsMixin, OperatorAPIView, generics.ListAPIView):
    """The operator's tariffs with their elements (GET), or a new tariff (POST)."""

    serializer_class = OperatorTariffSerializer
    filterset_class = TariffFilter
    ordering_fields = ["name", "valid_from", "valid_until", "created_at"]
    ordering = ["name", "-valid_from"]
    required_permissions = {
        "GET": TARIFF_VIEW,
        "POST": ("billing.add_tariff", "billing.add_tariffelement", "billing.add_pricecomponent"),
    }

    @extend_schema(request=OperatorTariffInput, responses={201: OperatorTariffSerializer})
    def post(self, request):
        data = OperatorTariffInput(data=request.data)
        data.is_valid(raise_exception=True)
        values, elements = _tariff_values(data.validated_data)
        tariff = tariff_create(organization=self.organization, values=values, elements=elements)
        tariff = self.get_queryset().get(pk=tariff.pk)  # with its elements and prices
        return Response(OperatorTariffSerializer(tariff).data, status=status.HTTP_201_CREATED)


class TariffDetailView(TariffsMixin, OperatorAPIView, generics.RetrieveAPIView):
    """One tariff (GET), or change it (PATCH: the fields given; ``elements`` given replace them all)."""

    serializer_class = OperatorTariffSerializer
    http_method_names = ["get", "patch", "head", "options"]
    required_permissions = {
        "GET": TARIFF_VIEW,
        "PATCH": (
            "billing.change_tariff",
            "billing.add_tariffelement",
            "billing.delete_tariffelement",
            "billing.add_pricecomponent",
            "billing.delete_pricecomponent",
        ),
    }

    @extend_schema(request=OperatorTariffInput, responses={200: OperatorTariffSerializer})
    def patch(self, request, pk: int):
        tariff = self.get_object()
        data = OperatorTariffInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values, elements = _tariff_values(data.validated_data)
        tariff_update(tariff=tariff, values=values, elements=elements)
        return Response(OperatorTariffSerializer(self.get_queryset().get(pk=tariff.pk)).data)


# --- where tariffs apply -----------------------------------------------------------------------------


class OperatorTariffAssignmentSerializer(serializers.ModelSerializer):
    tariff_name = serializers.CharField(source="tariff.name", read_only=True)
    scope = serializers.SerializerMethodField()

    class Meta:
        model = TariffAssignment
        fields = [
            "id",
            "tariff",
            "tariff_name",
            "scope",
            "site",
            "charge_point",
            "connector",
            "customer_group",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=["operator", "site", "charge_point", "connector"]))
    def get_scope(self, obj: TariffAssignment) -> str:
        return next((name for name in ("connector", "charge_point", "site") if getattr(obj, f"{name}_id")), "operator")


class OperatorTariffAssignmentInput(serializers.Serializer):
    tariff = related_field(queryset=Tariff.objects.none())
    site = related_field(queryset=Site.objects.none(), required=False, allow_null=True, default=None)
    charge_point = related_field(queryset=ChargePoint.objects.none(), required=False, allow_null=True, default=None)
    connector = related_field(queryset=Connector.objects.none(), required=False, allow_null=True, default=None)
    customer_group = related_field(
        queryset=CustomerGroup.objects.none(),
        required=False,
        allow_null=True,
        default=None,
        help_text="Empty: for every customer.",
    )

    def __init__(self, *args, organization=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tariff"].queryset = Tariff.objects.filter(organization=organization)
        self.fields["site"].queryset = Site.objects.filter(organization=organization)
        self.fields["charge_point"].queryset = ChargePoint.objects.filter(organization=organization)
        self.fields["connector"].queryset = Connector.objects.filter(charge_point__organization=organization)
        self.fields["customer_group"].queryset = CustomerGroup.objects.filter(organization=organization)


class TariffAssignmentFilter(filters.FilterSet):
    tariff = IdFilter(field_name="tariff_id")
    site = IdFilter(field_name="site_id")
    charge_point = IdFilter(field_name="charge_point_id")
    connector = IdFilter(field_name="connector_id")
    customer_group = IdFilter(field_name="customer_group_id")

    class Meta:
        model = TariffAssignment
        fields = ["tariff", "site", "charge_point", "connector", "customer_group"]


class TariffAssignmentListCreateView(OperatorAPIView, generics.ListAPIView):
    """Where the operator's tariffs apply (GET), or assign one (POST: one of site, charge point or connector, or
    none for all chargers; optionally for one customer group). An overlapping assignment is refused."""

    serializer_class = OperatorTariffAssignmentSerializer
    filterset_class = TariffAssignmentFilter
    ordering_fields = ["created_at", "id"]
    ordering = ["id"]
    required_permissions = {"GET": ("billing.view_tariffassignment",), "POST": ("billing.add_tariffassignment",)}

    def get_queryset(self):
        return TariffAssignment.objects.filter(tariff__organization=self.organization).select_related("tariff")

    @extend_schema(request=OperatorTariffAssignmentInput, responses={201: OperatorTariffAssignmentSerializer})
    def post(self, request):
        data = OperatorTariffAssignmentInput(data=request.data, organization=self.organization)
        data.is_valid(raise_exception=True)
        assignment = tariff_assignment_create(**data.validated_data)
        return Response(OperatorTariffAssignmentSerializer(assignment).data, status=status.HTTP_201_CREATED)


# --- reports -----------------------------------------------------------------------------------------

FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 12, 31)
MAX_CUSTOM_DAYS = 366


class OperatorReportQuery(serializers.Serializer):
    """The admin report pages' parameters; dates are the operator's local days."""

    period = serializers.ChoiceField(choices=["day", "week", "month", "custom"], required=False, default="month")
    day = serializers.DateField(required=False, help_text="A day in the period; default today.")
    start = serializers.DateField(required=False, help_text="First day of a custom period.")
    end = serializers.DateField(required=False, help_text="Last day of a custom period (inclusive).")

    def validate(self, data):
        for name in ("day", "start", "end"):
            if name in data and not FIRST_DAY <= data[name] <= LAST_DAY:
                raise serializers.ValidationError({name: f"Choose a day from {FIRST_DAY} to {LAST_DAY}."})
        if data["period"] == "custom":
            if "start" not in data or "end" not in data:
                raise serializers.ValidationError("A custom period needs a start and an end date.")
            if data["end"] < data["start"]:
                raise serializers.ValidationError("The end date is before the start date.")
            if (data["end"] - data["start"]).days >= MAX_CUSTOM_DAYS:
                raise serializers.ValidationError(f"A custom period is at most {MAX_CUSTOM_DAYS} days.")
        return data


class OperatorRevenueQuery(OperatorReportQuery):
    group_by = serializers.ChoiceField(choices=list(GROUP_BY), required=False, default="site")


class OperatorPeriodSerializer(serializers.Serializer):
    first = serializers.DateField(help_text="First local day.")
    last = serializers.DateField(help_text="Last local day (inclusive).")
    time_zone = serializers.CharField()
    start = serializers.DateTimeField(help_text="The period's start, UTC.")
    end = serializers.DateTimeField(help_text="The period's end (exclusive), UTC.")


def admin_report_form(form_class, *, query: dict, user):
    """The admin page's form for these (already checked) parameters: it decides the period, as on the page."""
    form = form_class(dict(query), user=user)
    if not form.is_valid():
        raise serializers.ValidationError(form.errors)
    return form


def report_period(*, form: ReportForm, time_zone: str) -> dict:
    """The local days the admin page would show for the form's parameters, and their bounds in ``time_zone``."""
    zone = zoneinfo.ZoneInfo(time_zone)
    first, after_last = form.local_dates(timezone.localtime(timezone.now(), zone).date())
    return {
        "first": first,
        "last": after_last - timedelta(days=1),
        "time_zone": time_zone,
        "start": datetime.combine(first, time.min, tzinfo=zone),
        "end": datetime.combine(after_last, time.min, tzinfo=zone),
    }


def _money(**kwargs):
    return serializers.DecimalField(max_digits=16, decimal_places=money.STORED_DECIMAL_PLACES, **kwargs)


class OperatorRevenueRowSerializer(serializers.Serializer):
    key = serializers.SerializerMethodField(
        help_text="The group's id, or its first local day for periods; empty for no group and the totals."
    )
    label = serializers.CharField()  # type: ignore[assignment]  # a declared field, not Field.label (DRF pops it)
    currency = serializers.CharField()
    sessions = serializers.IntegerField()
    energy_kwh = serializers.DecimalField(max_digits=16, decimal_places=3)
    net = _money()
    vat = _money()
    gross = _money()
    refund_net = _money()
    refund_vat = _money()
    refund_gross = _money()
    outstanding = _money(help_text="What the sessions (and reservation fees) still owe by the ledger, now.")
    reservations = serializers.IntegerField(help_text="Reservation fees above zero (reservations made in the period).")
    reservation_gross = _money(help_text="Those reservation fees incl. VAT; included in net, vat and gross.")
    gross_per_kwh = serializers.DecimalField(
        max_digits=16, decimal_places=4, allow_null=True, help_text="Average price per kWh incl. VAT, before refunds."
    )

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_key(self, row) -> str | None:
        return None if row.key is None else str(row.key)


class OperatorRevenueReportSerializer(serializers.Serializer):
    period = OperatorPeriodSerializer()
    group_by = serializers.CharField()
    rows = OperatorRevenueRowSerializer(many=True)
    totals = OperatorRevenueRowSerializer(many=True, help_text="One per currency.")


class RevenueReportView(OperatorAPIView):
    """Revenue from the frozen session prices of sessions started in the period, by group (as the admin page)."""

    serializer_class = OperatorRevenueReportSerializer
    required_permissions = {"GET": REPORT_PERMISSIONS}

    @extend_schema(parameters=[OperatorRevenueQuery], responses=OperatorRevenueReportSerializer)
    def get(self, request):
        query = OperatorRevenueQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        form = admin_report_form(RevenueForm, query=query.validated_data, user=request.user)
        period = report_period(form=form, time_zone=organization_time_zone(self.organization))
        report = revenue_report(
            organization=self.organization,
            start=period["start"],
            end=period["end"],
            group_by=query.validated_data["group_by"],
            time_zone=period["time_zone"],
        )
        return Response(
            OperatorRevenueReportSerializer(
                {
                    "period": period,
                    "group_by": report.group_by,
                    "rows": report.rows,
                    "totals": report.totals,
                }
            ).data
        )


class OperatorGapSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["unpriced", "meter_jump", "register_down", "implausible_power"])
    label = serializers.CharField()  # type: ignore[assignment]  # a declared field, not Field.label (DRF pops it)
    at = serializers.DateTimeField()
    session_id = serializers.IntegerField(allow_null=True)
    energy_wh = serializers.IntegerField(allow_null=True)
    detail = serializers.CharField()


class OperatorConnectorReconciliationSerializer(serializers.Serializer):
    connector = serializers.IntegerField(source="connector.pk")
    charge_point = serializers.IntegerField(source="connector.charge_point_id")
    station_ocpp_id = serializers.CharField(source="connector.charge_point.ocpp_id")
    number = serializers.IntegerField(source="connector.number")
    billed_wh = serializers.IntegerField()
    metered_wh = serializers.IntegerField(allow_null=True)
    metered_from_register = serializers.BooleanField(help_text="Else from the sessions' meter values at start/stop.")
    difference_wh = serializers.IntegerField(allow_null=True, help_text="Metered minus billed.")
    gaps = OperatorGapSerializer(many=True)


class OperatorReconciliationReportSerializer(serializers.Serializer):
    period = OperatorPeriodSerializer()
    connectors = OperatorConnectorReconciliationSerializer(many=True)


class ReconciliationReportView(OperatorAPIView):
    """Billed against metered energy per connector in the period, and the gaps between them (as the admin page)."""

    serializer_class = OperatorReconciliationReportSerializer
    required_permissions = {"GET": REPORT_PERMISSIONS}

    @extend_schema(parameters=[OperatorReportQuery], responses=OperatorReconciliationReportSerializer)
    def get(self, request):
        query = OperatorReportQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        form = admin_report_form(ReportForm, query=query.validated_data, user=request.user)
        period = report_period(form=form, time_zone=organization_time_zone(self.organization))
        report = reconciliation_report(organization=self.organization, start=period["start"], end=period["end"])
        return Response(OperatorReconciliationReportSerializer({"period": period, "connectors": report}).data)


urlpatterns = [
    path("operator/tariffs/", TariffListCreateView.as_view(), name="operator_tariffs"),
    path("operator/tariffs/<int:pk>/", TariffDetailView.as_view(), name="operator_tariff"),
    path("operator/tariff-assignments/", TariffAssignmentListCreateView.as_view(), name="operator_tariff_assignments"),
    path("operator/reports/revenue/", RevenueReportView.as_view(), name="operator_revenue"),
    path("operator/reports/reconciliation/", ReconciliationReportView.as_view(), name="operator_reconciliation"),
]
