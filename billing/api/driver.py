"""The driver's stations with their prices, statements, wallet and its top-up, for the app."""

import re
import uuid
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, generics, renderers, serializers, status
from rest_framework.response import Response

from accounts.api.driver import error_response
from accounts.bank import bank_transfer_for
from billing.balances import account_balance
from billing.models import PaymentAccount, Statement, StripeCheckout
from billing.quotes import connector_prices_for_driver
from billing.selectors import statements_for_driver
from billing.statement_views import statement_filename, statement_local_dates, statement_period_label
from billing.stripe_payments import StripeUnavailable, checkout_start, stripe_enabled
from core import money
from core.api import IsDriver
from sessions_app.models import Connector, ConnectorStatus
from sessions_app.selectors import STARTABLE_STATUSES, NearbyStation, stations_near_for_driver

# --- stations near a position ---------------------------------------------------------------------


class StationQuery(serializers.Serializer):
    lat = serializers.FloatField(required=False, min_value=-90, max_value=90, help_text="Latitude (WGS 84).")
    lon = serializers.FloatField(required=False, min_value=-180, max_value=180, help_text="Longitude (WGS 84).")
    radius_m = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=20_000_000,
        help_text="Only stations this close (metres); needs lat and lon.",
    )
    available = serializers.BooleanField(
        required=False, default=False, help_text="Only stations with a connector free to start on now."
    )
    ordering = serializers.ChoiceField(
        choices=["distance", "-distance", "name", "-name"],
        required=False,
        help_text="By distance (the default with a position) or by site and station name (the default without).",
    )

    def validate(self, data):
        if ("lat" in data) != ("lon" in data):
            raise serializers.ValidationError({"lon" if "lat" in data else "lat": _("Give both lat and lon.")})
        if "radius_m" in data and "lat" not in data:
            raise serializers.ValidationError({"radius_m": _("A radius needs a position (lat and lon).")})
        if data.get("ordering", "").endswith("distance") and "lat" not in data:
            raise serializers.ValidationError({"ordering": _("Ordering by distance needs a position (lat and lon).")})
        return data


class PriceSerializer(serializers.Serializer):
    tariff_id = serializers.IntegerField()
    name = serializers.CharField()
    currency = serializers.CharField()
    vat_rate = serializers.DecimalField(max_digits=5, decimal_places=4)
    lines = serializers.ListField(child=serializers.CharField(), help_text="Each price incl. VAT, in words.")
    reservation_lines = serializers.ListField(
        child=serializers.CharField(),
        help_text="What reserving this connector costs (incl. VAT, in words; also among lines); empty: free.",
    )
    vat_note = serializers.CharField()


class StationConnectorSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="Give it to me/sessions/start/.")
    number = serializers.IntegerField()
    connector_type = serializers.ChoiceField(choices=Connector.ConnectorType.choices)
    max_power_kw = serializers.DecimalField(max_digits=6, decimal_places=1)
    status = serializers.ChoiceField(choices=ConnectorStatus.choices)
    available = serializers.BooleanField(help_text="Free to start on now (and the station online).")
    price = PriceSerializer(allow_null=True, help_text="The tariff that would apply to you; null when none is set.")


class StationSiteSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    street = serializers.CharField()
    postal_code = serializers.CharField()
    city = serializers.CharField()
    country = serializers.CharField()
    latitude = serializers.DecimalField(max_digits=9, decimal_places=6)
    longitude = serializers.DecimalField(max_digits=9, decimal_places=6)
    time_zone = serializers.CharField()


class StationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    ocpp_id = serializers.CharField()
    name = serializers.CharField()
    site = StationSiteSerializer()
    distance_m = serializers.IntegerField(allow_null=True, help_text="From the position asked about; null without.")
    online = serializers.BooleanField()
    available_connectors = serializers.IntegerField()
    connectors = StationConnectorSerializer(many=True)


def _station(station: NearbyStation, prices: dict[int, dict | None]) -> dict:
    cp = station.charge_point
    return {
        "id": cp.pk,
        "ocpp_id": cp.ocpp_id,
        "name": str(cp),
        "site": cp.site,
        "distance_m": station.distance_m,
        "online": station.online,
        "available_connectors": len(station.available_connectors),
        "connectors": [
            {
                "id": c.pk,
                "number": c.number,
                "connector_type": c.connector_type,
                "max_power_kw": c.max_power_kw,
                "status": c.status,
                "available": station.online and c.status in STARTABLE_STATUSES,
                "price": prices.get(c.pk),
            }
            for c in sorted(cp.connectors.all(), key=lambda c: c.number)
        ],
    }


class StationListView(generics.ListAPIView):
    """Your operator's stations, nearest first from ``lat``/``lon``, with each connector's status and your price.

    Without a position they are listed by site and station name with ``distance_m`` null.
    """

    permission_classes = [IsDriver]
    serializer_class = StationSerializer
    filter_backends: list = []

    @extend_schema(parameters=[StationQuery])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def list(self, request, *args, **kwargs):
        query = StationQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        q, now = query.validated_data, timezone.now()
        stations = stations_near_for_driver(
            user=request.user,
            now=now,
            latitude=q.get("lat"),
            longitude=q.get("lon"),
            radius_m=q.get("radius_m"),
            available_only=q["available"],
        )
        ordering = q.get("ordering", "")
        if ordering.endswith("name"):
            stations.sort(key=lambda s: (s.charge_point.site.name, s.charge_point.ocpp_id))
        if ordering.startswith("-"):
            stations.reverse()
        page = self.paginate_queryset(stations)
        prices = connector_prices_for_driver(
            user=request.user, connectors=[c for s in page for c in s.charge_point.connectors.all()], at=now
        )
        return self.get_paginated_response(StationSerializer([_station(s, prices) for s in page], many=True).data)


# --- statements -----------------------------------------------------------------------------------


class StatementSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    kind = serializers.ChoiceField(choices=Statement.Kind.choices)
    period = serializers.CharField(help_text="The period in words, in your language.")
    first_day = serializers.DateField(help_text="The first day covered, in the statement's time zone.")
    last_day = serializers.DateField(help_text="The last day covered, in the statement's time zone.")
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField(help_text="The first moment after the period.")
    time_zone = serializers.CharField()
    currency = serializers.CharField()
    sessions = serializers.IntegerField(help_text="How many sessions it lists.")
    gross_total = serializers.DecimalField(max_digits=12, decimal_places=2, help_text="Its sessions incl. VAT.")
    paid = serializers.DecimalField(max_digits=12, decimal_places=2, help_text="Paid in the period, incl. wallet.")
    amount_due = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text="Owed at the end of the period; negative is in your favour."
    )
    issued_at = serializers.DateTimeField()
    pdf_url = serializers.CharField()


def _statement(statement: Statement) -> dict:
    totals = statement.content.get("totals", {})
    first_day, last_day = statement_local_dates(statement)
    return {
        "id": statement.pk,
        "number": statement.display_number,
        "kind": statement.kind,
        "period": statement_period_label(statement),
        "first_day": first_day,
        "last_day": last_day,
        "period_start": statement.period_start,
        "period_end": statement.period_end,
        "time_zone": statement.time_zone,
        "currency": statement.currency,
        "sessions": len(statement.content.get("sessions", ())),
        "gross_total": statement.gross_total,
        "paid": Decimal(str(totals.get("paid", 0))) + Decimal(str(totals.get("paid_from_wallet", 0))),
        "amount_due": statement.amount_due,
        "issued_at": statement.issued_at,
        "pdf_url": reverse("api:statement_pdf", args=[statement.pk]),
    }


class StatementListView(generics.ListAPIView):
    """Your customer account's issued statements, newest period first; filter by ``kind``."""

    permission_classes = [IsDriver]
    serializer_class = StatementSerializer
    filterset_fields = ["kind"]
    ordering_fields = ["period_start", "number", "issued_at"]
    ordering = ["-period_start", "-number"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Statement.objects.none()
        return statements_for_driver(user=self.request.user)

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(StatementSerializer([_statement(s) for s in page], many=True).data)


class PDFRenderer(renderers.BaseRenderer):
    """Lets a client ask for ``Accept: application/pdf``; the file itself is sent as it is."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, bytes) else renderers.JSONRenderer().render(data)


class StatementPdfView(generics.GenericAPIView):
    """One of your issued statements as a PDF file (an attachment)."""

    permission_classes = [IsDriver]
    renderer_classes = [renderers.JSONRenderer, PDFRenderer]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Statement.objects.none()
        return statements_for_driver(user=self.request.user)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if isinstance(response, Response):  # an error: always in the API's JSON error body
            response.accepted_renderer, response.accepted_media_type = renderers.JSONRenderer(), "application/json"
        return response

    @extend_schema(
        responses={
            (200, "application/pdf"): OpenApiTypes.BINARY,
            (404, "application/json"): error_response("Not one of your issued statements."),
        }
    )
    def get(self, request, pk: int):
        statement = self.get_queryset().exclude(pdf="").filter(pk=pk).first()
        if statement is None:
            raise Http404
        try:
            pdf = statement.pdf.open("rb")
        except FileNotFoundError as exc:
            raise Http404 from exc
        response = FileResponse(
            pdf, as_attachment=True, filename=statement_filename(statement), content_type="application/pdf"
        )
        response["Cache-Control"] = "private, no-store"
        return response


# --- wallet ---------------------------------------------------------------------------------------


class BankTransferSerializer(serializers.Serializer):
    holder = serializers.CharField(help_text="The payee: the name the account is in.")
    iban = serializers.CharField(
        allow_blank=True, help_text="Without spaces (show it in groups of four); may be empty."
    )
    bic = serializers.CharField(allow_blank=True, help_text="May be empty.")
    other_account = serializers.CharField(
        allow_blank=True,
        help_text="A domestic account as the operator wrote it, e.g. 'Bankgiro 123-4567'; may be empty.",
    )
    reference = serializers.CharField(
        help_text="Write it on the transfer: your account's number and a Luhn check digit, digits only."
    )


class WalletSerializer(serializers.Serializer):
    currency = serializers.CharField()
    payment_method = serializers.ChoiceField(choices=PaymentAccount.Method.choices)
    wallet = serializers.DecimalField(max_digits=14, decimal_places=2, help_text="Prepaid money not yet spent.")
    wallet_minimum = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text="The wallet must hold more than this to start charging."
    )
    owed = serializers.DecimalField(
        max_digits=14, decimal_places=2, help_text="Owed for sessions; negative is money in your favour."
    )
    can_charge = serializers.BooleanField(help_text="False when a prepaid wallet is at or below its minimum.")
    top_up_available = serializers.BooleanField(help_text="Whether me/wallet/top-up/ can take a card payment.")
    bank_transfer = BankTransferSerializer(
        allow_null=True,
        help_text=(
            "Where to transfer money to (a wallet top-up, or what is owed): the operator books the transfer by hand, "
            "and the wallet is credited then. Null when the operator has entered no bank account: ask them "
            "(operator_email, operator_phone)."
        ),
    )
    operator_email = serializers.CharField(allow_blank=True)
    operator_phone = serializers.CharField(allow_blank=True)


def _payment_settings(account) -> PaymentAccount:
    """The account's payment settings; one nobody set up pays by invoice (nothing is created by reading)."""
    return PaymentAccount.objects.filter(customer_account=account).first() or PaymentAccount(customer_account=account)


class WalletView(generics.GenericAPIView):
    """Your customer account's balance: the prepaid wallet and what is owed, and whether a top-up is possible."""

    permission_classes = [IsDriver]
    serializer_class = WalletSerializer

    def get(self, request):
        account = request.user.customer_account
        balance = account_balance(account)
        settings_ = _payment_settings(account)
        is_wallet = settings_.method == PaymentAccount.Method.WALLET
        return Response(
            WalletSerializer(
                {
                    "currency": balance.currency,
                    "payment_method": settings_.method,
                    "wallet": balance.wallet,
                    "wallet_minimum": settings_.wallet_minimum,
                    "owed": balance.owed,
                    "can_charge": not is_wallet or balance.wallet > settings_.wallet_minimum,
                    "top_up_available": is_wallet and stripe_enabled(),
                    "bank_transfer": bank_transfer_for(account),
                    "operator_email": account.organization.email,
                    "operator_phone": account.organization.phone,
                }
            ).data
        )


_REQUEST_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class TopUpInput(serializers.Serializer):
    amount = serializers.DecimalField(
        max_digits=12,
        decimal_places=money.STORED_DECIMAL_PLACES,
        min_value=money.STORED_QUANTUM,
        help_text="In your operator's currency, in its minor unit (whole yen).",
    )
    request_key = serializers.RegexField(
        _REQUEST_KEY,
        required=False,
        help_text="16-64 letters, digits, - or _; the same key again returns the same checkout (no second "
        "payment). Without one, each request opens a new checkout.",
    )


class TopUpSerializer(serializers.Serializer):
    checkout_id = serializers.IntegerField()
    url = serializers.URLField(help_text="Stripe's payment page: open it in a browser.")
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()
    status = serializers.ChoiceField(choices=StripeCheckout.Status.choices)
    request_key = serializers.CharField()


class TopUpNotAvailable(exceptions.NotFound):
    default_code = "top_up_not_available"


class TopUpConflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class PaymentUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "payment_unavailable"


class WalletTopUpView(generics.GenericAPIView):
    """Top up your prepaid wallet by card: opens a Stripe Checkout and returns its payment page.

    The money is in the wallet once Stripe confirms the payment (its webhook), not before.
    """

    permission_classes = [IsDriver]
    serializer_class = TopUpInput

    @extend_schema(
        request=TopUpInput,
        responses={
            201: TopUpSerializer,
            400: error_response("The amount or the request key is not valid."),
            404: error_response("Online card payment is not configured."),
            409: error_response("The account pays by invoice, or the request key was used for another payment."),
            503: error_response("Stripe could not open the checkout now; try again."),
        },
    )
    def post(self, request):
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        if not stripe_enabled():
            raise TopUpNotAvailable(_("Online card payment is not available."))
        key = data.validated_data.get("request_key") or uuid.uuid4().hex
        back = request.build_absolute_uri(reverse("checkout_return"))
        try:
            checkout = checkout_start(
                customer_account=request.user.customer_account,
                purpose=StripeCheckout.Purpose.TOP_UP,
                amount=data.validated_data["amount"],
                request_key=key,
                user=request.user,
                success_url=f"{back}?result=paid",
                cancel_url=f"{back}?result=cancelled",
            )
        except ValidationError as exc:
            if exc.code in ("no_wallet", "used", "paid", "expired"):
                conflict = TopUpConflict(" ".join(exc.messages))
                conflict.default_code = exc.code
                raise conflict from exc
            raise serializers.ValidationError({"amount": exc.messages}) from exc
        except StripeUnavailable as exc:
            raise PaymentUnavailable(str(exc)) from exc
        return Response(
            TopUpSerializer(
                {
                    "checkout_id": checkout.pk,
                    "url": checkout.url,
                    "amount": checkout.amount,
                    "currency": checkout.currency,
                    "status": checkout.status,
                    "request_key": checkout.request_key,
                }
            ).data,
            status=status.HTTP_201_CREATED,
        )


urlpatterns = [
    path("stations/", StationListView.as_view(), name="stations"),
    path("me/statements/", StatementListView.as_view(), name="statement_list"),
    path("me/statements/<int:pk>/pdf/", StatementPdfView.as_view(), name="statement_pdf"),
    path("me/wallet/", WalletView.as_view(), name="wallet"),
    path("me/wallet/top-up/", WalletTopUpView.as_view(), name="wallet_top_up"),
]
