"""Operators' systems and the local authorization list of their stations (``sessions_app.local_list``).

- ``GET operator/stations/<id>/local-list/``: the list's state on the station.
- ``POST operator/stations/<id>/local-list/resend/``: send the full list again (queued: at once when the station is
  online, else when it is back); answers the state.
- ``POST operator/stations/<id>/local-list/send/``: one SendLocalList built from the request (``command_payloads``),
  for a station whose list this system does not keep; its answer as every command's.
"""

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from accounts.api.operator import Conflict
from sessions_app.api.operator import (
    COMMAND_PERMISSIONS,
    VIEW_STATIONS,
    OperatorAPIView,
    StationsMixin,
    _command_schema,
    _StationBuiltCommandView,
)
from sessions_app.local_list import local_list_resend, local_list_sent_by_hand, local_list_summary
from sessions_app.models import ChargePoint, LocalAuthList
from sessions_app.ocpp import command_payloads


class OperatorLocalListSerializer(serializers.Serializer):
    kept = serializers.BooleanField(
        help_text="The operator keeps a list on this station (its own choice, else its site's)."
    )
    list_state = serializers.ChoiceField(
        choices=LocalAuthList.State.choices,
        allow_null=True,
        help_text="in_sync, pending, failed (sent again later) or unsupported; null before the first attempt.",
    )
    version = serializers.IntegerField(allow_null=True, help_text="The version the station last accepted.")
    entries = serializers.IntegerField(help_text="Id tags on the station's list, as it confirmed.")
    last_status = serializers.CharField(help_text="The station's last answer: Accepted, Failed, NotSupported, ...")
    last_sent_at = serializers.DateTimeField(allow_null=True)
    failed_attempts = serializers.IntegerField()
    cards_allowed = serializers.IntegerField(help_text="The operator's cards that may charge now.")
    left_out = serializers.IntegerField(
        help_text="Cards that may charge but find no room on the station (LocalAuthListMaxLength); the most "
        "recently used are on the list."
    )
    capacity = serializers.IntegerField(allow_null=True, help_text="LocalAuthListMaxLength, read at boot.")
    per_message = serializers.IntegerField(allow_null=True, help_text="SendLocalListMaxLength, read at boot.")


def _state(charge_point: ChargePoint) -> dict:
    summary = local_list_summary(charge_point=charge_point)
    state = summary.state
    return OperatorLocalListSerializer(
        {
            "kept": summary.wanted,
            "list_state": state.state if state else None,
            "version": state.version if state else None,
            "entries": summary.entries,
            "last_status": state.last_status if state else "",
            "last_sent_at": state.last_sent_at if state else None,
            "failed_attempts": state.attempts if state else 0,
            "cards_allowed": summary.cards_allowed,
            "left_out": summary.left_out,
            "capacity": charge_point.local_list_max_length,
            "per_message": charge_point.send_local_list_max_length,
        }
    ).data


class StationLocalListView(StationsMixin, OperatorAPIView):
    """The local authorization list's state on the station."""

    serializer_class = OperatorLocalListSerializer
    required_permissions = {"GET": VIEW_STATIONS}

    def get(self, request, pk: int):
        return Response(_state(self.get_object()))


class StationLocalListResendView(StationsMixin, OperatorAPIView):
    """Send the full list again (also after NotSupported or failures); 409 when the station keeps no list."""

    serializer_class = OperatorLocalListSerializer
    required_permissions = {"POST": COMMAND_PERMISSIONS}

    @extend_schema(request=None, responses={202: OperatorLocalListSerializer})
    def post(self, request, pk: int):
        station = self.get_object()
        if not _state(station)["kept"]:
            raise Conflict("This station keeps no local list: set it on the station or its site first.")
        local_list_resend(charge_point=station)
        return Response(_state(ChargePoint.objects.get(pk=station.pk)), status=status.HTTP_202_ACCEPTED)


class OperatorIdTagInfoInput(serializers.Serializer):
    status = serializers.CharField(help_text="Accepted, Blocked, Expired, Invalid or ConcurrentTx.")
    expiry_date = serializers.DateTimeField(required=False, allow_null=True, default=None)
    parent_id_tag = serializers.CharField(required=False, allow_blank=True, default="")


class OperatorAuthorizationDataInput(serializers.Serializer):
    id_tag = serializers.CharField(trim_whitespace=False, help_text="Up to 20 printable ASCII characters.")
    id_tag_info = OperatorIdTagInfoInput(
        required=False,
        allow_null=True,
        default=None,
        help_text="Required in a Full update; absent in a Differential one: the id tag is removed.",
    )


class OperatorSendLocalListInput(serializers.Serializer):
    list_version = serializers.IntegerField(help_text="Higher than the station's list version.")
    update_type = serializers.CharField(help_text="Full (replaces the list) or Differential.")
    local_authorization_list = OperatorAuthorizationDataInput(many=True, required=False, default=list)


@_command_schema(OperatorSendLocalListInput)
class StationSendLocalListView(_StationBuiltCommandView):
    """SendLocalList as given; for a station whose list this system keeps, use local-list/resend/ instead (a list
    sent here is not what the system tracks, and its next update starts with the full list)."""

    builder = staticmethod(command_payloads.send_local_list)
    input_class = OperatorSendLocalListInput

    def post(self, request, pk: int):
        response = super().post(request, pk)
        if response.data.get("outcome") != "offline":  # the list the system tracks may no longer be the station's
            local_list_sent_by_hand(charge_point_id=pk)
        return response


urlpatterns = [
    path("operator/stations/<int:pk>/local-list/", StationLocalListView.as_view(), name="operator_station_local_list"),
    path(
        "operator/stations/<int:pk>/local-list/resend/",
        StationLocalListResendView.as_view(),
        name="operator_station_local_list_resend",
    ),
    path(
        "operator/stations/<int:pk>/local-list/send/",
        StationSendLocalListView.as_view(),
        name="operator_station_local_list_send",
    ),
]
