"""Reservations through the API: drivers reserve a connector with their own card (me/reservations/), operators
any connector or charger of theirs for any of their cards (operator/reservations/); both list and cancel.

A reservation is made by ``sessions_app.reservations.reservation_create``: what it refuses before sending is a
409 (``cannot_reserve``). For a driver the charger's answer other than Accepted is an error as for a start (409,
503 offline, 504 no answer, 502 error); an operator gets the reservation either way (201), its ``status`` and
``reason`` saying what the charger answered.
"""

from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import exceptions, generics, serializers, status
from rest_framework.response import Response

from accounts.api.driver import error_response
from accounts.api.operator import IdFilter, OperatorAPIView, moment_field, related_field, related_limit
from accounts.models import IdTag
from core.api import IsDriver
from sessions_app import hooks
from sessions_app.api import driver
from sessions_app.api.driver import ChargerError, ChargerOffline, ChargerRejected, ChargerTimeout
from sessions_app.models import ChargePoint, Connector, Reservation
from sessions_app.reservations import (
    ReservationRefused,
    refusal_reason,
    reservation_cancel,
    reservation_create,
    reservations_for_driver,
)


class CannotReserve(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "cannot_reserve"


_CREATE_ERRORS = {
    409: error_response("Not possible (card, connector, duration, a reservation already held), or refused."),
}


def _refused_as_error(reservation: Reservation) -> None:
    """A driver's reservation the charger did not accept, as the API's error for that outcome."""
    answer, reason = reservation.charger_answer, refusal_reason(reservation)
    if answer == "offline":
        raise ChargerOffline(reason)
    if answer in ("timeout", "no_answer"):
        raise ChargerTimeout(reason)
    if answer == "error":
        raise ChargerError(reason)
    raise ChargerRejected(reason)


class _ReasonMixin(serializers.Serializer):
    reason = serializers.SerializerMethodField(help_text="Why a refused reservation was refused, in words.")

    @extend_schema_field(serializers.CharField())
    def get_reason(self, obj: Reservation) -> str:
        return refusal_reason(obj)


# --- drivers ---------------------------------------------------------------------------------------


class DriverReservationSerializer(_ReasonMixin, serializers.ModelSerializer):
    station = serializers.CharField(source="charge_point.ocpp_id", read_only=True)
    site = serializers.CharField(source="charge_point.site.name", read_only=True, allow_null=True, default=None)
    connector = serializers.IntegerField(
        source="connector.number", read_only=True, allow_null=True, default=None, help_text="Null: any connector."
    )
    card = serializers.CharField(source="id_tag.uid", read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    fee = serializers.SerializerMethodField(
        help_text="The reservation fee charged once it ended (incl. VAT, in words); empty: none."
    )

    class Meta:
        model = Reservation
        fields = [
            "id",
            "station",
            "site",
            "connector",
            "card",
            "status",
            "status_display",
            "charger_answer",
            "reason",
            "created_at",
            "expires_at",
            "ended_at",
            "session",
            "fee",
        ]
        read_only_fields = fields

    def get_fee(self, obj: Reservation) -> str:
        if obj.status in Reservation.OPEN:
            return ""
        return hooks.reservation_fees_charged(reservation_ids=[obj.pk]).get(obj.pk, "")


class DriverReservationInput(serializers.Serializer):
    connector = serializers.PrimaryKeyRelatedField(
        queryset=Connector.objects.none(), help_text="A connector id (from stations/)."
    )
    card = serializers.PrimaryKeyRelatedField(queryset=IdTag.objects.none(), help_text="One of your card ids.")
    minutes = serializers.IntegerField(
        required=False,
        default=None,
        allow_null=True,
        min_value=1,
        help_text="How long to hold it; by default the operator's usual time, at most its maximum.",
    )

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        account = user.customer_account if user is not None and user.customer_account_id else None
        if account is not None:  # only their operator's stations and their own cards
            self.fields["connector"].queryset = Connector.objects.filter(
                charge_point__organization_id=account.organization_id,
                charge_point__registration_status=ChargePoint.RegistrationStatus.ACCEPTED,
            ).select_related("charge_point")
            self.fields["card"].queryset = IdTag.objects.filter(
                owner=user, customer_account__organization_id=account.organization_id
            ).select_related("customer_account", "parent")


class DriverReservationListView(generics.ListCreateAPIView):
    """Your reservations, newest first (GET); reserve a connector with one of your cards (POST, ReserveNow).

    201: the charger holds the connector for your card until ``expires_at``; start charging there with that
    card (the reservation then shows as used). Cancel with me/reservations/<id>/cancel/.
    """

    permission_classes = [IsDriver]
    serializer_class = DriverReservationSerializer
    filter_backends: list = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Reservation.objects.none()
        return reservations_for_driver(user=self.request.user).order_by("-created_at")

    @extend_schema(
        request=DriverReservationInput,
        responses={
            201: DriverReservationSerializer,
            **_CREATE_ERRORS,
            502: error_response("The charger answered with an error."),
            503: error_response("The charger is offline."),
            504: error_response("The charger did not answer in time."),
        },
    )
    def post(self, request):
        data = DriverReservationInput(data=request.data, user=request.user)
        data.is_valid(raise_exception=True)
        connector = data.validated_data["connector"]
        try:
            reservation = reservation_create(
                charge_point=connector.charge_point,
                connector=connector,
                id_tag=data.validated_data["card"],
                created_by=request.user,
                minutes=data.validated_data["minutes"],
                now=timezone.now(),
                timeout=driver.COMMAND_TIMEOUT,
            )
        except ReservationRefused as refused:
            raise CannotReserve(refused.message) from refused
        if reservation.status == Reservation.Status.REFUSED:
            _refused_as_error(reservation)
        return Response(DriverReservationSerializer(reservation).data, status=status.HTTP_201_CREATED)


class DriverReservationCancelView(generics.GenericAPIView):
    """Cancel one of your open reservations (CancelReservation to the charger)."""

    permission_classes = [IsDriver]
    serializer_class = DriverReservationSerializer

    @extend_schema(
        request=None,
        responses={
            200: DriverReservationSerializer,
            404: error_response("Not your reservation."),
            409: error_response("It has ended already."),
        },
    )
    def post(self, request, pk: int):
        reservation = reservations_for_driver(user=request.user).filter(pk=pk).first()
        if reservation is None:
            raise exceptions.NotFound()
        try:
            reservation_cancel(
                reservation=reservation,
                now=timezone.now(),
                timeout=driver.COMMAND_TIMEOUT,
                cancelled_by=request.user,
            )
        except ReservationRefused as refused:
            raise CannotReserve(refused.message) from refused
        return Response(DriverReservationSerializer(reservation).data)


# --- operators -------------------------------------------------------------------------------------


class OperatorReservationSerializer(_ReasonMixin, serializers.ModelSerializer):
    station_ocpp_id = serializers.CharField(source="charge_point.ocpp_id", read_only=True)
    connector_number = serializers.IntegerField(
        source="connector.number", read_only=True, allow_null=True, default=None, help_text="Null: any connector."
    )
    card = serializers.IntegerField(source="id_tag_id", read_only=True)
    card_uid = serializers.CharField(source="id_tag.uid", read_only=True)

    class Meta:
        model = Reservation
        fields = [
            "id",
            "charge_point",
            "station_ocpp_id",
            "connector",
            "connector_number",
            "card",
            "card_uid",
            "created_by",
            "status",
            "charger_answer",
            "reason",
            "created_at",
            "expires_at",
            "ended_at",
            "session",
        ]
        read_only_fields = fields


class OperatorReservationInput(serializers.Serializer):
    station = related_field(queryset=ChargePoint.objects.none(), help_text="One of your stations.")
    connector = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1,
        help_text="A connector number of the station; empty: any connector (connector 0, if the station allows).",
    )
    card = related_field(queryset=IdTag.objects.none(), help_text="An active card of yours.")
    minutes = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1)
    expires_at = moment_field(required=False, allow_null=True, default=None, help_text="Instead of minutes.")

    def __init__(self, *args, organization=None, **kwargs):
        super().__init__(*args, **kwargs)
        related_limit(self.fields["station"], ChargePoint.objects.filter(organization=organization))
        related_limit(
            self.fields["card"],
            IdTag.objects.filter(customer_account__organization=organization).select_related(
                "customer_account", "parent"
            ),
        )

    def validate(self, data):
        if data["minutes"] is not None and data["expires_at"] is not None:
            raise serializers.ValidationError({"expires_at": [_("Give minutes or an expiry, not both.")]})
        number = data["connector"]
        data["connector_object"] = None
        if number is not None:
            data["connector_object"] = data["station"].connectors.filter(number=number).first()
            if data["connector_object"] is None:
                raise serializers.ValidationError({"connector": [_("The station has no such connector.")]})
        return data


class ReservationFilter(filters.FilterSet):
    station = IdFilter(field_name="charge_point_id")
    card = IdFilter(field_name="id_tag_id")
    status = filters.ChoiceFilter(choices=Reservation.Status.choices)

    class Meta:
        model = Reservation
        fields = ["station", "card", "status"]


class _OperatorReservations(OperatorAPIView):
    serializer_class = OperatorReservationSerializer

    def get_queryset(self):
        return Reservation.objects.filter(charge_point__organization=self.organization).select_related(
            "charge_point", "connector", "id_tag"
        )


class OperatorReservationListView(_OperatorReservations, generics.ListAPIView):
    """Reservations at your stations, newest first (GET); reserve for one of your cards (POST, ReserveNow).

    POST answers 201 with the reservation whatever the station said: ``status`` active, or refused with the
    station's answer (or offline, timeout) in ``charger_answer`` and ``reason``. A request that cannot be
    sent at all (card not allowed, connector reserved or busy, duration beyond the maximum) is a 409.
    """

    filterset_class = ReservationFilter
    ordering_fields = ["created_at", "expires_at"]
    ordering = ["-created_at"]
    required_permissions = {"GET": ("sessions_app.view_reservation",), "POST": ("sessions_app.add_reservation",)}

    @extend_schema(request=OperatorReservationInput, responses={201: OperatorReservationSerializer, **_CREATE_ERRORS})
    def post(self, request):
        data = OperatorReservationInput(data=request.data, organization=self.organization)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            reservation = reservation_create(
                charge_point=values["station"],
                connector=values["connector_object"],
                id_tag=values["card"],
                created_by=request.user,
                minutes=values["minutes"],
                expires_at=values["expires_at"],
                now=timezone.now(),
                timeout=driver.COMMAND_TIMEOUT,
            )
        except ReservationRefused as refused:
            raise CannotReserve(refused.message) from refused
        return Response(OperatorReservationSerializer(reservation).data, status=status.HTTP_201_CREATED)


class OperatorReservationDetailView(_OperatorReservations, generics.RetrieveAPIView):
    required_permissions = {"GET": ("sessions_app.view_reservation",)}


class OperatorReservationCancelView(_OperatorReservations):
    """Cancel an open reservation (CancelReservation to the station); it ends whatever the station answers."""

    required_permissions = {"POST": ("sessions_app.change_reservation",)}

    @extend_schema(request=None, responses={200: OperatorReservationSerializer, 409: error_response("Ended already.")})
    def post(self, request, pk: int):
        reservation = self.get_object()
        try:
            reservation_cancel(
                reservation=reservation,
                now=timezone.now(),
                timeout=driver.COMMAND_TIMEOUT,
                cancelled_by=request.user,
            )
        except ReservationRefused as refused:
            raise CannotReserve(refused.message) from refused
        return Response(OperatorReservationSerializer(reservation).data)


urlpatterns = [
    path("me/reservations/", DriverReservationListView.as_view(), name="reservations"),
    path("me/reservations/<int:pk>/cancel/", DriverReservationCancelView.as_view(), name="reservation_cancel"),
    path("operator/reservations/", OperatorReservationListView.as_view(), name="operator_reservations"),
    path("operator/reservations/<int:pk>/", OperatorReservationDetailView.as_view(), name="operator_reservation"),
    path(
        "operator/reservations/<int:pk>/cancel/",
        OperatorReservationCancelView.as_view(),
        name="operator_reservation_cancel",
    ),
]
