"""Operators' systems: sites, stations and connectors (read), OCPP commands to their chargers, sessions.

A command goes to the charger through ``sessions_app.ocpp.commands.command_send`` and the request
waits for the answer (``COMMAND_TIMEOUT``); the response says what happened: ``answered`` (with the
charger's ``status``: Accepted, Rejected, ...), ``offline``, ``timeout``, ``no_answer`` or ``error``, and
``detail`` says it in ``commands.outcome_text``'s words. Only the operator's own chargers, cards and sessions can be
named (anything else is a 404 or a 400); on its own station, a remote start, remote stop and unlock may also name what
OCPP allows but this system may not know (no connector, a connector number or transaction id without a row here),
their risks stated on each field.
"""

import json
import re
from decimal import Decimal

from django.urls import path
from django.utils import timezone
from django.utils.text import capfirst
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from ocpp.charge_point import snake_to_camel_case
from ocpp.messages import MessageType, get_validator
from ocpp.v16 import call
from rest_framework import generics, serializers
from rest_framework.response import Response

from accounts.api.operator import IdFilter, MomentRangeFilter, OperatorAPIView, related_field
from accounts.models import IdTag
from sessions_app.api.signed_meter import SignedMeterValueSerializer
from sessions_app.charger_security import authorization_key_refusal
from sessions_app.models import (
    ChargePoint,
    ChargingSession,
    Connector,
    ConnectorStatus,
    ErrorCode,
    Site,
    StopReason,
)
from sessions_app.ocpp import command_payloads, commands

#: How long a request waits for the charger's answer (seconds); tests lower it.
COMMAND_TIMEOUT = 30

VIEW_STATIONS = ("sessions_app.view_chargepoint",)
COMMAND_PERMISSIONS = ("sessions_app.change_chargepoint",)  # as the admin's command page


# --- output ------------------------------------------------------------------------------------------


class OperatorSiteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Site
        fields = [
            "id",
            "name",
            "street",
            "postal_code",
            "city",
            "country",
            "latitude",
            "longitude",
            "time_zone",
            "created_at",
        ]
        read_only_fields = fields


class OperatorConnectorSerializer(serializers.ModelSerializer):
    station_ocpp_id = serializers.CharField(source="charge_point.ocpp_id", read_only=True)

    class Meta:
        model = Connector
        fields = [
            "id",
            "charge_point",
            "station_ocpp_id",
            "number",
            "connector_type",
            "max_power_kw",
            "status",
            "error_code",
            "status_changed_at",
        ]
        read_only_fields = fields


class OperatorStationConnectorSerializer(serializers.ModelSerializer):
    class Meta:
        model = Connector
        fields = ["id", "number", "connector_type", "max_power_kw", "status", "error_code", "status_changed_at"]
        read_only_fields = fields


class OperatorStationSerializer(serializers.ModelSerializer):
    site_name = serializers.CharField(source="site.name", read_only=True, allow_null=True, default=None)
    online = serializers.SerializerMethodField()
    connectors = OperatorStationConnectorSerializer(many=True, read_only=True)

    class Meta:
        model = ChargePoint
        fields = [
            "id",
            "ocpp_id",
            "name",
            "site",
            "site_name",
            "registration_status",
            "vendor",
            "model",
            "serial_number",
            "firmware_version",
            "online",
            "last_seen_at",
            "connected_at",
            "ocpp_protocol",
            "last_boot_at",
            "last_boot_reason",
            "heartbeat_interval",
            "connectors",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.BooleanField())
    def get_online(self, obj: ChargePoint) -> bool:
        return obj.is_online(self.context["now"])


class OperatorSessionSerializer(serializers.ModelSerializer):
    station_ocpp_id = serializers.CharField(source="charge_point.ocpp_id", read_only=True)
    site = serializers.IntegerField(source="charge_point.site_id", read_only=True, allow_null=True)
    connector_number = serializers.IntegerField(
        source="connector.number", read_only=True, allow_null=True, default=None
    )
    card = serializers.IntegerField(source="id_tag_id", read_only=True, allow_null=True)
    card_uid = serializers.CharField(source="id_tag_uid", read_only=True)
    stop_reason = serializers.ChoiceField(
        choices=StopReason.choices, allow_blank=True, read_only=True, help_text="Empty while charging."
    )

    class Meta:
        model = ChargingSession
        fields = [
            "id",
            "charge_point",
            "station_ocpp_id",
            "site",
            "connector",
            "connector_number",
            "card",
            "card_uid",
            "customer_account",
            "auth_status",
            "state",
            "started_at",
            "stopped_at",
            "meter_start_wh",
            "meter_stop_wh",
            "energy_wh",
            "stop_reason",
        ]
        read_only_fields = fields


class OperatorCommandResultSerializer(serializers.Serializer):
    action = serializers.CharField()
    outcome = serializers.ChoiceField(
        choices=commands.OUTCOMES,
        help_text="answered: see status; offline: not connected, nothing was sent; "
        "timeout: no answer in time; no_answer: sent, but the charger's connection ended before it answered "
        "(it may have carried the command out); error: the charger answered CALLERROR.",
    )
    status = serializers.CharField(help_text="The charger's status answer (Accepted, Rejected, ...), when it gave one.")
    payload = serializers.DictField(help_text="The charger's whole answer, in snake_case.")
    code = serializers.CharField(help_text="CALLERROR code, for outcome error.")
    description = serializers.CharField()
    detail = serializers.CharField(help_text="What happened, for people, in the words the admin's pages use.")


def command_result_data(action: str, result: commands.CommandResult) -> dict:
    """What ``OperatorCommandResultSerializer`` shows of a command's result."""
    return {
        "action": action,
        "outcome": result.outcome,
        "status": result.status,
        "payload": result.payload,
        "code": result.code,
        "description": result.description,
        "detail": f"{capfirst(commands.outcome_text(result))}.",
    }


def _answer(charge_point: ChargePoint, action: str, payload: dict) -> Response:
    """Send and answer; a command the station's OCPP version cannot say (``commands.command_translation``: an
    unmapped configuration key or a session without the station's transaction id for 2.0.1, a 2.0.1-only command
    to 1.6) is a 400 naming the field, nothing sent."""
    try:
        commands.command_translation(charge_point, action, payload)
    except command_payloads.CommandPayloadError as refused:
        raise serializers.ValidationError({refused.field: [refused.message]}) from refused
    result = commands.command_send(charge_point, action, payload, timeout=COMMAND_TIMEOUT)
    return Response(OperatorCommandResultSerializer(command_result_data(action, result)).data)


# --- sites -------------------------------------------------------------------------------------------


class SiteFilter(filters.FilterSet):
    name = filters.CharFilter(lookup_expr="icontains")
    city = filters.CharFilter(lookup_expr="icontains")
    country = filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Site
        fields = ["name", "city", "country"]


class SitesMixin:
    def get_queryset(self):
        return Site.objects.filter(organization=self.organization)


class SiteListView(SitesMixin, OperatorAPIView, generics.ListAPIView):
    serializer_class = OperatorSiteSerializer
    filterset_class = SiteFilter
    ordering_fields = ["name", "city", "created_at"]
    ordering = ["name"]
    required_permissions = {"GET": ("sessions_app.view_site",)}


class SiteDetailView(SitesMixin, OperatorAPIView, generics.RetrieveAPIView):
    serializer_class = OperatorSiteSerializer
    required_permissions = {"GET": ("sessions_app.view_site",)}


# --- stations ----------------------------------------------------------------------------------------


class StationFilter(filters.FilterSet):
    ocpp_id = filters.CharFilter(lookup_expr="icontains")
    site = IdFilter(field_name="site_id")
    registration_status = filters.ChoiceFilter(choices=ChargePoint.RegistrationStatus.choices)
    vendor = filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = ChargePoint
        fields = ["ocpp_id", "site", "registration_status", "vendor"]


class StationsMixin:
    def get_queryset(self):
        return (
            ChargePoint.objects.filter(organization=self.organization)
            .select_related("site")
            .prefetch_related("connectors")
        )

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "now": timezone.now()}


class StationListView(StationsMixin, OperatorAPIView, generics.ListAPIView):
    """The operator's charge points, with their connectors and whether they are online now."""

    serializer_class = OperatorStationSerializer
    filterset_class = StationFilter
    ordering_fields = ["ocpp_id", "name", "last_seen_at", "created_at"]
    ordering = ["ocpp_id"]
    required_permissions = {"GET": VIEW_STATIONS}


class StationDetailView(StationsMixin, OperatorAPIView, generics.RetrieveAPIView):
    serializer_class = OperatorStationSerializer
    required_permissions = {"GET": VIEW_STATIONS}


# --- connectors --------------------------------------------------------------------------------------


class ConnectorFilter(filters.FilterSet):
    station = IdFilter(field_name="charge_point_id")
    site = IdFilter(field_name="charge_point__site_id")
    status = filters.ChoiceFilter(choices=ConnectorStatus.choices)
    error_code = filters.ChoiceFilter(choices=ErrorCode.choices)
    connector_type = filters.ChoiceFilter(choices=Connector.ConnectorType.choices)

    class Meta:
        model = Connector
        fields = ["station", "site", "status", "error_code", "connector_type"]


class ConnectorsMixin:
    def get_queryset(self):
        return Connector.objects.filter(charge_point__organization=self.organization).select_related("charge_point")


class ConnectorListView(ConnectorsMixin, OperatorAPIView, generics.ListAPIView):
    serializer_class = OperatorConnectorSerializer
    filterset_class = ConnectorFilter
    ordering_fields = ["charge_point__ocpp_id", "number", "status", "status_changed_at"]
    ordering = ["charge_point__ocpp_id", "number"]
    required_permissions = {"GET": ("sessions_app.view_connector",)}


class ConnectorDetailView(ConnectorsMixin, OperatorAPIView, generics.RetrieveAPIView):
    serializer_class = OperatorConnectorSerializer
    required_permissions = {"GET": ("sessions_app.view_connector",)}


# --- commands ----------------------------------------------------------------------------------------


class OperatorAvailabilityInput(serializers.Serializer):
    type = serializers.ChoiceField(choices=["Operative", "Inoperative"])


class OperatorResetInput(serializers.Serializer):
    type = serializers.ChoiceField(choices=["Soft", "Hard"])


class OperatorRemoteStartInput(serializers.Serializer):
    card = related_field(queryset=IdTag.objects.none(), help_text="An active card of the operator's.")
    charging_profile = serializers.JSONField(
        required=False,
        default=None,
        help_text="Optional: OCPP 1.6's ChargingProfile for this transaction, its fields in snake_case "
        "(charging_profile_purpose TxProfile). The station may refuse a start with a profile it cannot follow.",
    )

    def __init__(self, *args, organization=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["card"].queryset = IdTag.objects.filter(
            customer_account__organization=organization, status=IdTag.Status.ACTIVE
        )

    def validate_charging_profile(self, profile):
        """Checked against OCPP 1.6's own schema here, so a malformed profile is a 400, never sent."""
        if profile is None:
            return None
        if not isinstance(profile, dict) or profile.get("charging_profile_purpose") != "TxProfile":
            raise serializers.ValidationError("An object with charging_profile_purpose TxProfile.")
        # Numbers as decimals, as the ocpp package validates them: a float 7.1 is no "multiple of 0.1".
        exact = json.loads(json.dumps(snake_to_camel_case(profile)), parse_float=Decimal)
        errors = _REMOTE_START_SCHEMA.iter_errors({"idTag": "-", "chargingProfile": exact})
        if (error := next(iter(errors), None)) is not None:
            where = ".".join(str(part) for part in list(error.absolute_path)[1:])
            raise serializers.ValidationError(_snake_words(f"{where}: {error.message}" if where else error.message))
        try:  # then OCPP 1.6's rules beyond the schema, as SetChargingProfile's (periods, limits, times, ...)
            command_payloads.charging_profile_check(profile)
        except command_payloads.CommandPayloadError as refused:
            raise serializers.ValidationError(f"{refused.field}: {refused.message}") from refused
        return profile

    def payload(self, connector_id: int | None) -> dict:
        """RemoteStartTransaction's fields; without ``connector_id`` the station picks the connector."""
        payload = {"id_tag": self.validated_data["card"].uid}
        if connector_id is not None:
            payload["connector_id"] = connector_id
        if self.validated_data["charging_profile"] is not None:
            payload["charging_profile"] = self.validated_data["charging_profile"]
        return payload


_REMOTE_START_SCHEMA = get_validator(MessageType.Call, "RemoteStartTransaction", "1.6", parse_float=Decimal)


def _snake_words(text: str) -> str:
    """The schema's messages name OCPP's camelCase fields; this API names them in snake_case."""
    return re.sub(r"\b[a-z]+(?:[A-Z][a-z0-9]*)+\b", lambda word: re.sub(r"(?=[A-Z])", "_", word[0]).lower(), text)


def _station_connector(**options) -> serializers.IntegerField:
    """A connector of the station by number, known to this system or not: the station may have more."""
    return serializers.IntegerField(min_value=1, max_value=command_payloads.CONNECTOR_MAX_ID, **options)


class OperatorStationRemoteStartInput(OperatorRemoteStartInput):
    connector = _station_connector(
        help_text="Optional connector number, sent as given even when this system does not know it. Empty: the "
        "station picks the connector (OCPP 1.6 allows it), which need not be the one the driver stands at.",
        required=False,
        allow_null=True,
        default=None,
    )


class OperatorStationStopInput(serializers.Serializer):
    transaction_id = serializers.IntegerField(
        help_text="Any transaction id, also one this system holds no session for (the station may run a "
        "transaction it has not reported yet). Sent unchecked: the station stops only its own transactions and "
        "answers Rejected for one it does not know; nothing checks whose card started it."
    )


class OperatorStationUnlockInput(serializers.Serializer):
    connector = _station_connector(
        source="connector_id",
        help_text="A connector number, sent as given even when this system does not know it. A transaction running "
        "on that connector is stopped by the station before it unlocks (OCPP 1.6).",
    )


class OperatorConfigurationGetInput(serializers.Serializer):
    keys = serializers.ListField(
        child=serializers.CharField(max_length=50),
        required=False,
        default=list,
        max_length=100,
        help_text="Empty: every key.",
    )


class OperatorConfigurationChangeInput(serializers.Serializer):
    key = serializers.CharField(
        max_length=50,
        help_text="Not AuthorizationKey: the station's password is changed with stations/<id>/password/rotate/.",
    )
    value = serializers.CharField(max_length=500, allow_blank=True)

    def validate_key(self, key: str) -> str:
        if refusal := authorization_key_refusal(key):
            raise serializers.ValidationError(refusal)
        return key


class OperatorTriggerInput(serializers.Serializer):
    requested_message = serializers.ChoiceField(
        choices=[
            "BootNotification",
            "DiagnosticsStatusNotification",
            "FirmwareStatusNotification",
            "Heartbeat",
            "MeterValues",
            "StatusNotification",
        ]
    )
    connector = serializers.IntegerField(
        min_value=1,
        max_value=1000,
        required=False,
        allow_null=True,
        default=None,
        help_text="A connector number of the station; empty for the station.",
    )


class OperatorDataTransferInput(serializers.Serializer):
    vendor_id = serializers.CharField(help_text="Identifies the vendor the data is meant for (up to 255 characters).")
    message_id = serializers.CharField(required=False, default="", allow_blank=True, help_text="Up to 50 characters.")
    # Named as OCPP names it; the serializer metaclass takes it off the class, so ``self.data`` stays the output.
    data = serializers.CharField(  # type: ignore[assignment]
        required=False, default="", allow_blank=True, trim_whitespace=False
    )


class OperatorCompositeScheduleInput(serializers.Serializer):
    connector = serializers.IntegerField(
        source="connector_id", help_text="A connector number of the station; 0 for the whole station."
    )
    duration = serializers.IntegerField(help_text="Seconds from now the schedule covers (up to one week).")
    charging_rate_unit = serializers.ChoiceField(
        choices=command_payloads.CHARGING_RATE_UNITS,
        required=False,
        default="",
        allow_blank=True,
        help_text="Empty: the station's choice.",
    )


class OperatorChargingProfileClearInput(serializers.Serializer):
    """Every field narrows what is cleared; with none given the station clears all its charging profiles."""

    id = serializers.IntegerField(source="profile_id", required=False, allow_null=True, default=None)
    connector = serializers.IntegerField(
        source="connector_id",
        required=False,
        allow_null=True,
        default=None,
        help_text="A connector number; 0 for the whole station.",
    )
    charging_profile_purpose = serializers.ChoiceField(
        choices=command_payloads.PROFILE_PURPOSES, required=False, default="", allow_blank=True
    )
    stack_level = serializers.IntegerField(required=False, allow_null=True, default=None)


class OperatorSchedulePeriodInput(serializers.Serializer):
    start_period = serializers.IntegerField(
        help_text="Seconds from the schedule's start: the first period starts at 0, each later one after the one "
        "before."
    )
    limit = serializers.DecimalField(
        max_digits=None,
        decimal_places=None,
        coerce_to_string=False,
        help_text="In the profile's charging_rate_unit (A or W): more than 0, at most one decimal.",
    )
    number_phases = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="1 to 3; empty: the station's default (3)."
    )


class OperatorChargingProfileSetInput(serializers.Serializer):
    """OCPP 1.6's SetChargingProfile: a ChargingProfile and its ChargingSchedule in one object."""

    connector = serializers.IntegerField(
        source="connector_id",
        help_text="A connector number of the station; 0 for the whole station (ChargePointMaxProfile only there, "
        "TxDefaultProfile there for every connector, TxProfile never there).",
    )
    charging_profile_id = serializers.IntegerField(help_text="A profile with the same id on the station is replaced.")
    stack_level = serializers.IntegerField(help_text="0 or more; a higher level prevails over a lower one.")
    charging_profile_purpose = serializers.ChoiceField(choices=command_payloads.PROFILE_PURPOSES)
    charging_profile_kind = serializers.ChoiceField(
        choices=command_payloads.PROFILE_KINDS,
        help_text="Absolute: the periods count from start_schedule; Recurring: repeats daily or weekly from "
        "start_schedule; Relative: the periods count from the transaction's start.",
    )
    recurrency_kind = serializers.ChoiceField(
        choices=command_payloads.RECURRENCY_KINDS,
        required=False,
        allow_null=True,
        default=None,
        help_text="Required for a Recurring profile, and only there.",
    )
    valid_from = serializers.DateTimeField(required=False, allow_null=True, default=None)
    valid_to = serializers.DateTimeField(required=False, allow_null=True, default=None, help_text="After valid_from.")
    transaction_id = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Required for a TxProfile, and only there: the running transaction it limits (sent as given).",
    )
    charging_rate_unit = serializers.ChoiceField(choices=command_payloads.CHARGING_RATE_UNITS)
    periods = OperatorSchedulePeriodInput(
        many=True, source="schedule_periods", help_text="The schedule's periods in order (chargingSchedulePeriod)."
    )
    duration = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="Seconds the schedule lasts; empty: no end."
    )
    start_schedule = serializers.DateTimeField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Where the periods count from: required for Recurring, absent for Relative.",
    )
    min_charging_rate = serializers.DecimalField(
        max_digits=None,
        decimal_places=None,
        coerce_to_string=False,
        required=False,
        allow_null=True,
        default=None,
        help_text="The lowest rate the vehicle charges at, in the unit (at most one decimal).",
    )


class OperatorUpdateFirmwareInput(serializers.Serializer):
    location = serializers.CharField(
        help_text="Where the station downloads the firmware: an http, https, ftp or ftps URL (up to 512 characters)."
    )
    retrieve_date = serializers.DateTimeField(help_text="The station downloads the firmware from then.")
    retries = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="Download attempts (0 to 100)."
    )
    retry_interval = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="Seconds between attempts (up to a day)."
    )


class OperatorSignedUpdateFirmwareInput(serializers.Serializer):
    request_id = serializers.IntegerField(help_text="The station's SignedFirmwareStatusNotifications carry it.")
    location = serializers.CharField(help_text="An http, https, ftp or ftps URL (up to 512 characters).")
    retrieve_date_time = serializers.DateTimeField(help_text="The station downloads the firmware from then.")
    install_date_time = serializers.DateTimeField(
        required=False, allow_null=True, default=None, help_text="The station installs it from then."
    )
    signing_certificate = serializers.CharField(
        trim_whitespace=False, help_text="PEM certificate whose key signed the firmware (up to 5500 characters)."
    )
    signature = serializers.CharField(help_text="Base64 signature of the firmware image (up to 800 characters).")
    retries = serializers.IntegerField(required=False, allow_null=True, default=None)
    retry_interval = serializers.IntegerField(required=False, allow_null=True, default=None)


class _StationCommandView(StationsMixin, OperatorAPIView):
    serializer_class = OperatorCommandResultSerializer
    required_permissions = {"POST": COMMAND_PERMISSIONS}


class _ConnectorCommandView(ConnectorsMixin, OperatorAPIView):
    serializer_class = OperatorCommandResultSerializer
    required_permissions = {"POST": COMMAND_PERMISSIONS}


class StationAvailabilityView(_StationCommandView):
    """ChangeAvailability for the whole station (connector 0)."""

    @extend_schema(request=OperatorAvailabilityInput, responses=OperatorCommandResultSerializer)
    def post(self, request, pk: int):
        station = self.get_object()
        data = OperatorAvailabilityInput(data=request.data)
        data.is_valid(raise_exception=True)
        return _answer(station, "ChangeAvailability", {"connector_id": 0, "type": data.validated_data["type"]})


class StationResetView(_StationCommandView):
    """Reset: Soft (after the running sessions stop) or Hard (at once)."""

    @extend_schema(request=OperatorResetInput, responses=OperatorCommandResultSerializer)
    def post(self, request, pk: int):
        station = self.get_object()
        data = OperatorResetInput(data=request.data)
        data.is_valid(raise_exception=True)
        return _answer(station, "Reset", {"type": data.validated_data["type"]})


class StationConfigurationGetView(_StationCommandView):
    """GetConfiguration: read configuration keys (all, or those named)."""

    @extend_schema(request=OperatorConfigurationGetInput, responses=OperatorCommandResultSerializer)
    def post(self, request, pk: int):
        station = self.get_object()
        data = OperatorConfigurationGetInput(data=request.data)
        data.is_valid(raise_exception=True)
        keys = data.validated_data["keys"]
        return _answer(station, "GetConfiguration", {"key": keys} if keys else {})


class StationConfigurationChangeView(_StationCommandView):
    """ChangeConfiguration: set one configuration key."""

    @extend_schema(request=OperatorConfigurationChangeInput, responses=OperatorCommandResultSerializer)
    def post(self, request, pk: int):
        station = self.get_object()
        data = OperatorConfigurationChangeInput(data=request.data)
        data.is_valid(raise_exception=True)
        return _answer(station, "ChangeConfiguration", dict(data.validated_data))


class StationTriggerView(_StationCommandView):
    """TriggerMessage: ask the station to send a message now."""

    @extend_schema(request=OperatorTriggerInput, responses=OperatorCommandResultSerializer)
    def post(self, request, pk: int):
        station = self.get_object()
        data = OperatorTriggerInput(data=request.data)
        data.is_valid(raise_exception=True)
        payload = {"requested_message": data.validated_data["requested_message"]}
        if data.validated_data["connector"] is not None:
            payload["connector_id"] = data.validated_data["connector"]
        return _answer(station, "TriggerMessage", payload)


class _StationBuiltCommandView(_StationCommandView):
    """A command made by its typed builder from the fields of ``input_class`` (None: the command has none).

    A field the builder refuses is a 400 naming the field as the request named it.
    """

    builder: staticmethod
    input_class: type[serializers.Serializer] | None = None

    def post(self, request, pk: int):
        station = self.get_object()
        fields: dict = {}
        names: dict[str, str] = {}
        if self.input_class is not None:
            data = self.input_class(data=request.data)
            data.is_valid(raise_exception=True)
            fields = dict(data.validated_data)
            names = {str(field.source): name for name, field in data.fields.items()}
        try:
            built = self.builder(**fields)
        except command_payloads.CommandPayloadError as error:
            raise serializers.ValidationError({names.get(error.field, error.field): [error.message]}) from error
        action, payload = command_payloads.command_payload(built)
        return _answer(station, action, payload)


def _command_schema(input_class: type[serializers.Serializer] | None):
    return extend_schema_view(post=extend_schema(request=input_class, responses=OperatorCommandResultSerializer))


@_command_schema(None)
class StationCacheClearView(_StationBuiltCommandView):
    """ClearCache: the station forgets the id tags it cached from earlier authorizations."""

    builder = staticmethod(command_payloads.clear_cache)


@_command_schema(None)
class StationLocalListVersionView(_StationBuiltCommandView):
    """GetLocalListVersion: the payload's list_version is -1 without local list support, 0 for an empty list."""

    builder = staticmethod(command_payloads.get_local_list_version)


@_command_schema(OperatorDataTransferInput)
class StationDataTransferView(_StationBuiltCommandView):
    """DataTransfer: vendor-specific data; the station's answer data is in the payload."""

    builder = staticmethod(command_payloads.data_transfer)
    input_class = OperatorDataTransferInput


@_command_schema(OperatorCompositeScheduleInput)
class StationCompositeScheduleView(_StationBuiltCommandView):
    """GetCompositeSchedule: the schedule the station would follow; see the payload's charging_schedule."""

    builder = staticmethod(command_payloads.get_composite_schedule)
    input_class = OperatorCompositeScheduleInput


@_command_schema(OperatorChargingProfileClearInput)
class StationChargingProfileClearView(_StationBuiltCommandView):
    """ClearChargingProfile: clears the profiles matching every field given (none given: all of them)."""

    builder = staticmethod(command_payloads.clear_charging_profile)
    input_class = OperatorChargingProfileClearInput


@_command_schema(OperatorChargingProfileSetInput)
class StationChargingProfileSetView(_StationBuiltCommandView):
    """SetChargingProfile: a charging profile on a connector or the station (status Accepted, Rejected or
    NotSupported); refused with a 400 naming the field where OCPP 1.6 does not allow it."""

    builder = staticmethod(command_payloads.set_charging_profile)
    input_class = OperatorChargingProfileSetInput


@_command_schema(OperatorUpdateFirmwareInput)
class StationUpdateFirmwareView(_StationBuiltCommandView):
    """UpdateFirmware: the station downloads and installs the firmware at the location; it answers with no status,
    and reports its progress with FirmwareStatusNotification. Campaigns for many stations are in the admin."""

    builder = staticmethod(command_payloads.update_firmware)
    input_class = OperatorUpdateFirmwareInput


@_command_schema(OperatorSignedUpdateFirmwareInput)
class StationSignedUpdateFirmwareView(_StationBuiltCommandView):
    """SignedUpdateFirmware (security extension): the station checks the signature with the signing certificate;
    status Accepted, Rejected, AcceptedCanceled, InvalidCertificate or RevokedCertificate."""

    builder = staticmethod(command_payloads.signed_update_firmware)
    input_class = OperatorSignedUpdateFirmwareInput


class ConnectorAvailabilityView(_ConnectorCommandView):
    """ChangeAvailability for one connector."""

    @extend_schema(request=OperatorAvailabilityInput, responses=OperatorCommandResultSerializer)
    def post(self, request, pk: int):
        connector = self.get_object()
        data = OperatorAvailabilityInput(data=request.data)
        data.is_valid(raise_exception=True)
        return _answer(
            connector.charge_point,
            "ChangeAvailability",
            {"connector_id": connector.number, "type": data.validated_data["type"]},
        )


class ConnectorUnlockView(_ConnectorCommandView):
    """UnlockConnector."""

    @extend_schema(request=None, responses=OperatorCommandResultSerializer)
    def post(self, request, pk: int):
        connector = self.get_object()
        return _answer(connector.charge_point, "UnlockConnector", {"connector_id": connector.number})


class ConnectorStartView(_ConnectorCommandView):
    """RemoteStartTransaction on this connector with one of the operator's active cards."""

    @extend_schema(request=OperatorRemoteStartInput, responses=OperatorCommandResultSerializer)
    def post(self, request, pk: int):
        connector = self.get_object()
        data = OperatorRemoteStartInput(data=request.data, organization=self.organization)
        data.is_valid(raise_exception=True)
        return _answer(connector.charge_point, "RemoteStartTransaction", data.payload(connector.number))


class StationStartView(_StationCommandView):
    """RemoteStartTransaction with one of the operator's active cards, on a connector or the station's choice."""

    @extend_schema(request=OperatorStationRemoteStartInput, responses=OperatorCommandResultSerializer)
    def post(self, request, pk: int):
        station = self.get_object()
        data = OperatorStationRemoteStartInput(data=request.data, organization=self.organization)
        data.is_valid(raise_exception=True)
        return _answer(station, "RemoteStartTransaction", data.payload(data.validated_data["connector"]))


@_command_schema(OperatorStationStopInput)
class StationStopView(_StationBuiltCommandView):
    """RemoteStopTransaction by transaction id, for a transaction this system may not know (see the field)."""

    builder = staticmethod(call.RemoteStopTransaction)
    input_class = OperatorStationStopInput


@_command_schema(OperatorStationUnlockInput)
class StationUnlockView(_StationBuiltCommandView):
    """UnlockConnector by connector number, for a connector this system may not know (see the field)."""

    builder = staticmethod(call.UnlockConnector)
    input_class = OperatorStationUnlockInput


# --- sessions ----------------------------------------------------------------------------------------


class SessionFilter(filters.FilterSet):
    started = MomentRangeFilter(
        field_name="started_at", label="Started from (started_after, inclusive) until (started_before, inclusive)"
    )
    station = IdFilter(field_name="charge_point_id")
    site = IdFilter(field_name="charge_point__site_id")
    connector = IdFilter(field_name="connector_id")
    card = IdFilter(field_name="id_tag_id")
    card_uid = filters.CharFilter(field_name="id_tag_uid", lookup_expr="iexact")
    customer_account = IdFilter(field_name="customer_account_id")
    state = filters.ChoiceFilter(choices=ChargingSession.State.choices)

    class Meta:
        model = ChargingSession
        fields = ["started", "station", "site", "connector", "card", "card_uid", "customer_account", "state"]


class SessionsMixin:
    def get_queryset(self):
        return ChargingSession.objects.filter(charge_point__organization=self.organization).select_related(
            "charge_point", "connector"
        )


class SessionListView(SessionsMixin, OperatorAPIView, generics.ListAPIView):
    """Sessions at the operator's stations, newest first; by period, station, card and state."""

    serializer_class = OperatorSessionSerializer
    filterset_class = SessionFilter
    ordering_fields = ["started_at", "stopped_at", "energy_wh", "id"]
    ordering = ["-started_at", "-id"]
    required_permissions = {"GET": ("sessions_app.view_chargingsession",)}


class OperatorSessionDetailSerializer(OperatorSessionSerializer):
    signed_meter_values = SignedMeterValueSerializer(
        many=True,
        read_only=True,
        help_text="The meter's signed readings (Eichrecht), as sent, with their verification.",
    )

    class Meta(OperatorSessionSerializer.Meta):
        fields = [*OperatorSessionSerializer.Meta.fields, "signed_meter_values"]
        read_only_fields = fields


class SessionDetailView(SessionsMixin, OperatorAPIView, generics.RetrieveAPIView):
    """One session at the operator's stations, with its signed meter values."""

    serializer_class = OperatorSessionDetailSerializer
    required_permissions = {"GET": ("sessions_app.view_chargingsession",)}


class SessionStopView(SessionsMixin, OperatorAPIView):
    """RemoteStopTransaction for a running session (a finished one is a 404)."""

    serializer_class = OperatorCommandResultSerializer
    required_permissions = {"POST": COMMAND_PERMISSIONS}

    def get_queryset(self):
        return super().get_queryset().filter(state=ChargingSession.State.ACTIVE)

    @extend_schema(request=None, responses=OperatorCommandResultSerializer)
    def post(self, request, pk: int):
        session = self.get_object()
        return _answer(session.charge_point, "RemoteStopTransaction", {"transaction_id": session.pk})


urlpatterns = [
    path("operator/sites/", SiteListView.as_view(), name="operator_sites"),
    path("operator/sites/<int:pk>/", SiteDetailView.as_view(), name="operator_site"),
    path("operator/stations/", StationListView.as_view(), name="operator_stations"),
    path("operator/stations/<int:pk>/", StationDetailView.as_view(), name="operator_station"),
    path(
        "operator/stations/<int:pk>/availability/",
        StationAvailabilityView.as_view(),
        name="operator_station_availability",
    ),
    path("operator/stations/<int:pk>/reset/", StationResetView.as_view(), name="operator_station_reset"),
    path(
        "operator/stations/<int:pk>/configuration/read/",
        StationConfigurationGetView.as_view(),
        name="operator_station_configuration_read",
    ),
    path(
        "operator/stations/<int:pk>/configuration/change/",
        StationConfigurationChangeView.as_view(),
        name="operator_station_configuration_change",
    ),
    path("operator/stations/<int:pk>/trigger/", StationTriggerView.as_view(), name="operator_station_trigger"),
    path(
        "operator/stations/<int:pk>/cache/clear/",
        StationCacheClearView.as_view(),
        name="operator_station_cache_clear",
    ),
    path(
        "operator/stations/<int:pk>/local-list/version/",
        StationLocalListVersionView.as_view(),
        name="operator_station_local_list_version",
    ),
    path(
        "operator/stations/<int:pk>/data-transfer/",
        StationDataTransferView.as_view(),
        name="operator_station_data_transfer",
    ),
    path(
        "operator/stations/<int:pk>/composite-schedule/",
        StationCompositeScheduleView.as_view(),
        name="operator_station_composite_schedule",
    ),
    path(
        "operator/stations/<int:pk>/charging-profiles/",
        StationChargingProfileSetView.as_view(),
        name="operator_station_charging_profiles",
    ),
    path(
        "operator/stations/<int:pk>/charging-profiles/clear/",
        StationChargingProfileClearView.as_view(),
        name="operator_station_charging_profiles_clear",
    ),
    path(
        "operator/stations/<int:pk>/firmware/update/",
        StationUpdateFirmwareView.as_view(),
        name="operator_station_firmware_update",
    ),
    path(
        "operator/stations/<int:pk>/firmware/signed-update/",
        StationSignedUpdateFirmwareView.as_view(),
        name="operator_station_firmware_signed_update",
    ),
    path("operator/stations/<int:pk>/start/", StationStartView.as_view(), name="operator_station_start"),
    path("operator/stations/<int:pk>/stop/", StationStopView.as_view(), name="operator_station_stop"),
    path("operator/stations/<int:pk>/unlock/", StationUnlockView.as_view(), name="operator_station_unlock"),
    path("operator/connectors/", ConnectorListView.as_view(), name="operator_connectors"),
    path("operator/connectors/<int:pk>/", ConnectorDetailView.as_view(), name="operator_connector"),
    path(
        "operator/connectors/<int:pk>/availability/",
        ConnectorAvailabilityView.as_view(),
        name="operator_connector_availability",
    ),
    path("operator/connectors/<int:pk>/unlock/", ConnectorUnlockView.as_view(), name="operator_connector_unlock"),
    path("operator/connectors/<int:pk>/start/", ConnectorStartView.as_view(), name="operator_connector_start"),
    path("operator/sessions/", SessionListView.as_view(), name="operator_sessions"),
    path("operator/sessions/<int:pk>/", SessionDetailView.as_view(), name="operator_session"),
    path("operator/sessions/<int:pk>/stop/", SessionStopView.as_view(), name="operator_session_stop"),
]
