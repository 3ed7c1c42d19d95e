"""Operators' systems: diagnostics and logs their chargers upload (``sessions_app.uploads``).

POST stations/<id>/uploads/ asks the station (GetDiagnostics, or GetLog for the security or diagnostics log) to
upload to a one-time address of this system, made for the request: the address is never typed. The answer holds
the upload (status ``requested``, or ``refused`` when the station refused or was not reached) and the command's
outcome. The uploads are listed under uploads/, each file downloaded from uploads/<id>/download/.
"""

from django.http import FileResponse, Http404
from django.urls import path
from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from accounts.api.operator import IdFilter, OperatorAPIView, moment_field
from sessions_app.api.operator import (
    COMMAND_PERMISSIONS,
    COMMAND_TIMEOUT,
    OperatorCommandResultSerializer,
    StationsMixin,
    command_result_data,
)
from sessions_app.models import ChargerUpload
from sessions_app.ocpp import command_payloads
from sessions_app.server_address import charger_base_url
from sessions_app.uploads import upload_request

VIEW_UPLOADS = ("sessions_app.view_chargerupload",)


class OperatorUploadSerializer(serializers.ModelSerializer):
    station_ocpp_id = serializers.CharField(source="charge_point.ocpp_id", read_only=True)
    kind = serializers.ChoiceField(choices=ChargerUpload.Kind.choices, read_only=True)
    status = serializers.ChoiceField(
        choices=ChargerUpload.Status.choices,
        read_only=True,
        help_text="requested: the station will upload; uploading: it says it is; uploaded: the file is here; "
        "failed: the station reported a failure (or Uploaded with nothing received); refused: the station refused "
        "or was not reached, nothing is expected.",
    )
    charger_status = serializers.CharField(
        read_only=True,
        help_text="The station's last report (DiagnosticsStatus or UploadLogStatus), or its answer to the request.",
    )
    downloadable = serializers.SerializerMethodField()

    class Meta:
        model = ChargerUpload
        fields = [
            "id",
            "charge_point",
            "station_ocpp_id",
            "kind",
            "status",
            "charger_status",
            "requested_at",
            "file_name",
            "size",
            "received_at",
            "downloadable",
        ]
        read_only_fields = fields

    def get_downloadable(self, obj: ChargerUpload) -> bool:
        return bool(obj.file)


class OperatorUploadRequestInput(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=ChargerUpload.Kind.choices,
        help_text="diagnostics: GetDiagnostics; security_log and diagnostics_log: GetLog (OCPP 1.6 security "
        "extension), which a station without it answers with an error.",
    )
    start = moment_field(required=False, allow_null=True, default=None, help_text="Optional: the oldest entries.")
    stop = moment_field(required=False, allow_null=True, default=None, help_text="Optional: the newest entries.")
    retries = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=0, max_value=command_payloads.MAX_RETRIES
    )
    retry_interval = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=0,
        max_value=command_payloads.MAX_RETRY_INTERVAL,
        help_text="Seconds between the station's attempts.",
    )


class OperatorUploadRequestResultSerializer(serializers.Serializer):
    upload = OperatorUploadSerializer()
    command = OperatorCommandResultSerializer()


#: The builders' field names, as this API names them.
_INPUT_NAMES = {"start_time": "start", "stop_time": "stop", "oldest_timestamp": "start", "latest_timestamp": "stop"}


class StationUploadRequestView(StationsMixin, OperatorAPIView):
    """Ask the station for its diagnostics or a log; it uploads to an address this system made for the request."""

    serializer_class = OperatorUploadRequestResultSerializer
    required_permissions = {"POST": COMMAND_PERMISSIONS}

    @extend_schema(
        request=OperatorUploadRequestInput,
        responses={status.HTTP_201_CREATED: OperatorUploadRequestResultSerializer},
    )
    def post(self, request, pk: int):
        station = self.get_object()
        data = OperatorUploadRequestInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        try:
            asked = upload_request(
                charge_point=station,
                kind=fields["kind"],
                requested_by=request.user,
                start=fields["start"],
                stop=fields["stop"],
                now=timezone.now(),
                base_url=charger_base_url(request),
                retries=fields["retries"],
                retry_interval=fields["retry_interval"],
                timeout=COMMAND_TIMEOUT,
            )
        except command_payloads.CommandPayloadError as error:
            name = _INPUT_NAMES.get(error.field, error.field)
            raise serializers.ValidationError({name: [error.message]}) from error
        action = "GetDiagnostics" if asked.upload.kind == ChargerUpload.Kind.DIAGNOSTICS else "GetLog"
        command = command_result_data(action, asked.result)
        return Response(
            OperatorUploadRequestResultSerializer({"upload": asked.upload, "command": command}).data,
            status=status.HTTP_201_CREATED,
        )


class UploadFilter(filters.FilterSet):
    station = IdFilter(field_name="charge_point_id")
    kind = filters.ChoiceFilter(choices=ChargerUpload.Kind.choices)
    status = filters.ChoiceFilter(choices=ChargerUpload.Status.choices)

    class Meta:
        model = ChargerUpload
        fields = ["station", "kind", "status"]


class UploadsMixin:
    def get_queryset(self):
        return ChargerUpload.objects.filter(charge_point__organization=self.organization).select_related("charge_point")


class UploadListView(UploadsMixin, OperatorAPIView, generics.ListAPIView):
    """The stations' uploads, newest first; by station, kind and status."""

    serializer_class = OperatorUploadSerializer
    filterset_class = UploadFilter
    ordering_fields = ["requested_at", "received_at", "size"]
    ordering = ["-requested_at", "-id"]
    required_permissions = {"GET": VIEW_UPLOADS}


class UploadDetailView(UploadsMixin, OperatorAPIView, generics.RetrieveAPIView):
    serializer_class = OperatorUploadSerializer
    required_permissions = {"GET": VIEW_UPLOADS}


class UploadDownloadView(UploadsMixin, OperatorAPIView):
    """The uploaded file as the station sent it (404 while none has come)."""

    serializer_class = OperatorUploadSerializer
    required_permissions = {"GET": VIEW_UPLOADS}

    @extend_schema(
        responses={(200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY, description="The file.")}
    )
    def get(self, request, pk: int):
        upload = self.get_object()
        if not upload.file:
            raise Http404
        try:
            content = upload.file.open("rb")
        except FileNotFoundError as exc:
            raise Http404 from exc
        return FileResponse(
            content,
            as_attachment=True,
            filename=upload.file_name or f"upload-{upload.pk}",
            content_type="application/octet-stream",
        )


urlpatterns = [
    path(
        "operator/stations/<int:pk>/uploads/",
        StationUploadRequestView.as_view(),
        name="operator_station_uploads_request",
    ),
    path("operator/uploads/", UploadListView.as_view(), name="operator_uploads"),
    path("operator/uploads/<int:pk>/", UploadDetailView.as_view(), name="operator_upload"),
    path("operator/uploads/<int:pk>/download/", UploadDownloadView.as_view(), name="operator_upload_download"),
]
