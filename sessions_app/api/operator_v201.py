"""Operators' systems: the commands only OCPP 2.0.1 stations take (device model and a running session's cost).

- ``POST operator/stations/<id>/variables/read/``: GetVariables; the payload's get_variable_result has each value.
- ``POST operator/stations/<id>/variables/change/``: SetVariables; each result's attribute_status.
- ``POST operator/stations/<id>/report/base/``: GetBaseReport; the station then sends its device model (NotifyReport).
- ``POST operator/stations/<id>/report/``: GetReport of chosen components and variables.
- ``POST operator/sessions/<id>/cost/``: CostUpdated, the running session's cost so far as billing prices it.

Every other command reaches a 2.0.1 station through the same endpoints as a 1.6 one (``api.operator``), translated
(``ocpp.v201_commands``). These answer like them; sent to a 1.6 station they are a 400.
"""

from django.urls import path
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from accounts.api.operator import OperatorAPIView
from sessions_app.api.operator import (
    COMMAND_PERMISSIONS,
    OperatorCommandResultSerializer,
    SessionsMixin,
    _command_schema,
    _StationBuiltCommandView,
    command_result_data,
)
from sessions_app.models import ChargingSession
from sessions_app.ocpp import v201_commands
from sessions_app.session_cost import session_cost_send

#: How long a request waits for the station's answer (seconds), as ``api.operator``'s.
COMMAND_TIMEOUT = 30


def _name(**options) -> serializers.CharField:
    return serializers.CharField(max_length=v201_commands.NAME_MAX_LENGTH, **options)


class OperatorVariableInput(serializers.Serializer):
    component = _name(help_text="The component's name, e.g. OCPPCommCtrlr.")
    component_instance = _name(required=False, default="", allow_blank=True)
    variable = _name(help_text="The variable's name, e.g. HeartbeatInterval.")
    variable_instance = _name(required=False, default="", allow_blank=True)
    attribute_type = serializers.ChoiceField(
        choices=v201_commands.ATTRIBUTE_TYPES,
        required=False,
        allow_null=True,
        default=None,
        help_text="Actual if empty.",
    )


class OperatorVariableSetInput(OperatorVariableInput):
    value = serializers.CharField(max_length=v201_commands.VALUE_MAX_LENGTH, allow_blank=True, trim_whitespace=False)


class OperatorVariablesReadInput(serializers.Serializer):
    variables = OperatorVariableInput(many=True)


class OperatorVariablesChangeInput(serializers.Serializer):
    variables = OperatorVariableSetInput(
        many=True, help_text="Not SecurityCtrlr.BasicAuthPassword: the password is rotated (password/rotate/)."
    )


def _request_id(**options) -> serializers.IntegerField:
    return serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Named by the station's NotifyReport messages; empty: a fresh one (see the payload sent).",
        **options,
    )


class OperatorBaseReportInput(serializers.Serializer):
    report_base = serializers.ChoiceField(choices=v201_commands.REPORT_BASES)
    request_id = _request_id()


class OperatorReportInput(serializers.Serializer):
    component_criteria = serializers.ListField(
        child=serializers.ChoiceField(choices=v201_commands.COMPONENT_CRITERIA), required=False, default=list
    )
    variables = OperatorVariableInput(many=True, required=False, default=list)
    request_id = _request_id()


@_command_schema(OperatorVariablesReadInput)
class StationVariablesReadView(_StationBuiltCommandView):
    """GetVariables (OCPP 2.0.1): read variables of the station's device model."""

    builder = staticmethod(v201_commands.get_variables)
    input_class = OperatorVariablesReadInput


@_command_schema(OperatorVariablesChangeInput)
class StationVariablesChangeView(_StationBuiltCommandView):
    """SetVariables (OCPP 2.0.1): set variables of the station's device model."""

    builder = staticmethod(v201_commands.set_variables)
    input_class = OperatorVariablesChangeInput


@_command_schema(OperatorBaseReportInput)
class StationBaseReportView(_StationBuiltCommandView):
    """GetBaseReport (OCPP 2.0.1): the station reports its device model in NotifyReport messages."""

    builder = staticmethod(v201_commands.get_base_report)
    input_class = OperatorBaseReportInput


@_command_schema(OperatorReportInput)
class StationReportView(_StationBuiltCommandView):
    """GetReport (OCPP 2.0.1): the station reports the components matching the criteria or named."""

    builder = staticmethod(v201_commands.get_report)
    input_class = OperatorReportInput


class SessionCostView(SessionsMixin, OperatorAPIView):
    """CostUpdated (OCPP 2.0.1): tell a running session's station what the session costs so far."""

    serializer_class = OperatorCommandResultSerializer
    required_permissions = {"POST": COMMAND_PERMISSIONS}

    def get_queryset(self):
        return super().get_queryset().filter(state=ChargingSession.State.ACTIVE)

    @extend_schema(request=None, responses=OperatorCommandResultSerializer)
    def post(self, request, pk: int):
        session = self.get_object()
        result = session_cost_send(session=session, now=timezone.now(), timeout=COMMAND_TIMEOUT)
        if result is None:
            raise serializers.ValidationError(
                "Nothing to send: the station does not speak OCPP 2.0.1, has not named the transaction yet, or the "
                "session has no price."
            )
        return Response(OperatorCommandResultSerializer(command_result_data("CostUpdated", result)).data)


urlpatterns = [
    path(
        "operator/stations/<int:pk>/variables/read/",
        StationVariablesReadView.as_view(),
        name="operator_station_variables_read",
    ),
    path(
        "operator/stations/<int:pk>/variables/change/",
        StationVariablesChangeView.as_view(),
        name="operator_station_variables_change",
    ),
    path(
        "operator/stations/<int:pk>/report/base/", StationBaseReportView.as_view(), name="operator_station_base_report"
    ),
    path("operator/stations/<int:pk>/report/", StationReportView.as_view(), name="operator_station_report"),
    path("operator/sessions/<int:pk>/cost/", SessionCostView.as_view(), name="operator_session_cost"),
]
