"""The driver's charging history for the app: sessions with the history page's filters, totals, one session.

Times are in each session's site's zone (with its offset), as the history page shows them; a
running session carries its energy, duration and cost so far (``cost_estimated``).
"""

from datetime import date

from django.http import Http404
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response

from accounts.api.driver import error_response
from core.api import IsDriver
from reporting import history
from sessions_app import signed_meter
from sessions_app.api.signed_meter import SignedMeterValueSerializer
from sessions_app.models import ChargingSession


class SiteLocalDateTimeField(serializers.DateTimeField):
    """An aware time as it is given (in its site's zone), not moved to the server's zone."""

    def enforce_timezone(self, value):
        return value if timezone.is_aware(value) else super().enforce_timezone(value)


#: Days a history can be asked for, and the largest id the database holds: beyond them nothing exists.
FIRST_DAY, LAST_DAY, MAX_ID = date(2000, 1, 1), date(2100, 12, 31), 2**63 - 1


class HistoryQuery(serializers.Serializer):
    date_from = serializers.DateField(required=False, help_text="Started on or after this day (the site's time).")
    date_to = serializers.DateField(required=False, help_text="Started on or before this day (the site's time).")
    station = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID, help_text="A station id.")
    card = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID, help_text="One of your card ids.")
    state = serializers.ChoiceField(choices=ChargingSession.State.choices, required=False)
    ordering = serializers.ChoiceField(
        choices=["-started_at", "started_at"], required=False, help_text="Newest first by default."
    )

    def validate(self, data):
        for field in ("date_from", "date_to"):
            if data.get(field) and not FIRST_DAY <= data[field] <= LAST_DAY:
                raise serializers.ValidationError(
                    {field: _("Give a day from %(first)s to %(last)s.") % {"first": FIRST_DAY, "last": LAST_DAY}}
                )
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise serializers.ValidationError({"date_to": _("The last day is before the first.")})
        return data


def _history(request) -> tuple[dict, object]:
    query = HistoryQuery(data=request.query_params)
    query.is_valid(raise_exception=True)
    q = query.validated_data
    filters = history.HistoryFilters(
        date_from=q.get("date_from"), date_to=q.get("date_to"), station_id=q.get("station"), card_id=q.get("card")
    )
    sessions = history.history_queryset(user=request.user, filters=filters)
    if q.get("state"):
        sessions = sessions.filter(state=q["state"])
    if q.get("ordering") == "started_at":
        sessions = sessions.order_by("started_at", "pk")
    return q, sessions


class HistoryRowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.ChoiceField(choices=ChargingSession.State.choices)
    started_at = SiteLocalDateTimeField()
    stopped_at = SiteLocalDateTimeField(allow_null=True)
    time_zone = serializers.CharField(help_text="The site's; the times above carry its offset.")
    station = serializers.CharField()
    site = serializers.CharField(allow_blank=True)
    address = serializers.CharField(allow_blank=True)
    connector = serializers.IntegerField(allow_null=True)
    card = serializers.CharField()
    card_label = serializers.CharField(allow_blank=True)
    duration_seconds = serializers.IntegerField(allow_null=True, help_text="So far, for a running session.")
    energy_wh = serializers.IntegerField(allow_null=True, help_text="So far, for a running session.")
    average_power_kw = serializers.DecimalField(max_digits=10, decimal_places=2, allow_null=True)
    cost = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        allow_null=True,
        help_text="Incl. VAT: the frozen price, or the cost so far while running.",
    )
    currency = serializers.CharField(allow_blank=True)
    cost_estimated = serializers.BooleanField(help_text="True while the session runs (the cost so far).")
    payment = serializers.ListField(
        child=serializers.ChoiceField(choices=history.PAYMENT_ORDER),
        help_text="How it was paid: terminal, wallet, stripe, bank, other; invoice or owed while owed; credited.",
    )


def _row(row: history.HistoryRow) -> dict:
    return {
        **{
            name: getattr(row, name)
            for name in (
                "id",
                "state",
                "started_at",
                "stopped_at",
                "time_zone",
                "station",
                "site",
                "address",
                "connector",
                "card",
                "card_label",
                "energy_wh",
                "average_power_kw",
                "cost",
                "currency",
                "cost_estimated",
            )
        },
        "duration_seconds": int(row.duration.total_seconds()) if row.duration is not None else None,
        "payment": list(row.payment),
    }


class HistoryListView(generics.ListAPIView):
    """Your charging sessions, newest first, with the history page's filters (site-local days, station, card)."""

    permission_classes = [IsDriver]
    serializer_class = HistoryRowSerializer
    filter_backends: list = []

    @extend_schema(parameters=[HistoryQuery])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def list(self, request, *args, **kwargs):
        _q, sessions = _history(request)
        page = self.paginate_queryset(sessions)
        rows = history.history_rows(page, now=timezone.now())
        return self.get_paginated_response(HistoryRowSerializer([_row(r) for r in rows], many=True).data)


class CostSerializer(serializers.Serializer):
    currency = serializers.CharField()
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)


class HistoryTotalsSerializer(serializers.Serializer):
    sessions = serializers.IntegerField()
    energy_wh = serializers.IntegerField(help_text="Of completed sessions.")
    duration_seconds = serializers.IntegerField(help_text="Of completed sessions.")
    costs = CostSerializer(many=True, help_text="Frozen prices incl. VAT, per currency.")


class HistoryTotalsView(generics.GenericAPIView):
    """The totals of your sessions matching the same filters as me/sessions/."""

    permission_classes = [IsDriver]
    serializer_class = HistoryTotalsSerializer
    filter_backends: list = []
    pagination_class = None

    @extend_schema(parameters=[HistoryQuery])
    def get(self, request):
        _q, sessions = _history(request)
        totals = history.history_totals(sessions)
        return Response(
            HistoryTotalsSerializer(
                {
                    "sessions": totals.sessions,
                    "energy_wh": totals.energy_wh,
                    "duration_seconds": int(totals.duration.total_seconds()),
                    "costs": [{"currency": currency, "amount": amount} for currency, amount in totals.costs],
                }
            ).data
        )


class PriceLineSerializer(serializers.Serializer):
    component = serializers.CharField(help_text="ENERGY, TIME, PARKING_TIME or FLAT.")
    label = serializers.CharField()  # type: ignore[assignment]  # a declared field, not Field.label (DRF pops it)
    starts_at = SiteLocalDateTimeField()
    ends_at = SiteLocalDateTimeField()
    quantity = serializers.DecimalField(max_digits=20, decimal_places=6)
    unit = serializers.CharField(allow_blank=True)
    unit_price = serializers.DecimalField(max_digits=16, decimal_places=4, help_text="Excl. VAT.")
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, help_text="Excl. VAT.")


class CreditNoteSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    issued_at = SiteLocalDateTimeField()
    reason = serializers.CharField()
    net_amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    vat_amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    gross_amount = serializers.DecimalField(max_digits=12, decimal_places=2)


class PriceDetailsSerializer(serializers.Serializer):
    currency = serializers.CharField()
    lines = PriceLineSerializer(many=True)
    net_total = serializers.DecimalField(max_digits=12, decimal_places=2)
    adjustment = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text="To the tariff's minimum or maximum price (net)."
    )
    vat_rate = serializers.DecimalField(max_digits=5, decimal_places=4)
    vat_amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    gross_total = serializers.DecimalField(max_digits=12, decimal_places=2)
    credit_notes = CreditNoteSerializer(many=True)
    after_credit = serializers.DecimalField(max_digits=12, decimal_places=2, help_text="Gross, less credit notes.")
    terminal_references = serializers.ListField(child=serializers.CharField())


class CurvePointSerializer(serializers.Serializer):
    at = SiteLocalDateTimeField()
    energy_kwh = serializers.DecimalField(
        max_digits=14, decimal_places=3, coerce_to_string=False, help_text="Since the start."
    )
    power_kw = serializers.DecimalField(max_digits=12, decimal_places=2, coerce_to_string=False)


class SessionDetailSerializer(HistoryRowSerializer):
    price = PriceDetailsSerializer(allow_null=True, help_text="The frozen price; null while running or unpriced.")
    curve = CurvePointSerializer(many=True, help_text="Energy and power over the session (at most 300 points).")
    signed_meter_values = SignedMeterValueSerializer(
        many=True, help_text="The meter's signed readings (Eichrecht), as sent, with their verification."
    )


def _price(details: dict | None) -> dict | None:
    if details is None:
        return None
    price = details["price"]
    return {
        "currency": details["currency"],
        "lines": details["lines"],
        "net_total": price.net_total,
        "adjustment": price.adjustment,
        "vat_rate": price.vat_rate,
        "vat_amount": price.vat_amount,
        "gross_total": price.gross_total,
        "after_credit": details["after_credit"],
        "credit_notes": [
            {
                "id": item["note"].pk,
                "issued_at": item["issued_at"],
                "reason": item["note"].reason,
                "net_amount": item["note"].net_amount,
                "vat_amount": item["note"].vat_amount,
                "gross_amount": item["note"].gross_amount,
            }
            for item in details["credit_notes"]
        ],
        "terminal_references": list(details["terminal_references"]),
    }


class HistorySessionView(generics.GenericAPIView):
    """One of your sessions: as in the history, with its price breakdown and its energy and power curve."""

    permission_classes = [IsDriver]
    serializer_class = SessionDetailSerializer

    @extend_schema(responses={200: SessionDetailSerializer, 404: error_response("Not your session.")})
    def get(self, request, pk: int):
        detail = history.session_detail(user=request.user, pk=pk, now=timezone.now())
        if detail is None:
            raise Http404
        return Response(
            SessionDetailSerializer(
                {
                    **_row(detail.row),
                    "price": _price(detail.price),
                    "curve": detail.curve["points"],
                    "signed_meter_values": signed_meter.session_signed_values(detail.session),
                }
            ).data
        )


urlpatterns = [
    path("me/sessions/", HistoryListView.as_view(), name="history"),
    path("me/sessions/totals/", HistoryTotalsView.as_view(), name="history_totals"),
    path("me/sessions/<int:pk>/", HistorySessionView.as_view(), name="history_session"),
]
