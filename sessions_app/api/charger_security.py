"""Operator API for the OCPP 1.6 security extension on the operator's own stations: rotate a station's password,
ask for a new certificate signing request (ExtendedTriggerMessage), install, list and delete root certificates.

Like every command, each is sent through ``commands.command_send`` and answered with what came of it; the
password rotation answers with the new password, once (``charger_security.charge_point_password_rotate``).
"""

from django.urls import path
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from sessions_app import charger_security
from sessions_app.api.operator import _command_schema, _StationBuiltCommandView, _StationCommandView
from sessions_app.ocpp import command_payloads

#: How long a rotation waits for the station's answer (seconds); tests lower it.
ROTATION_TIMEOUT = 30


class OperatorPasswordRotationSerializer(serializers.Serializer):
    outcome = serializers.CharField(
        help_text="answered: see status; offline: not connected, nothing was sent; timeout: no answer in time; "
        "no_answer: sent, but the connection ended before an answer; error: the station answered CALLERROR; "
        "busy: a rotation of this station is running already."
    )
    status = serializers.CharField(
        help_text="The station's ChangeConfiguration answer: Accepted, RebootRequired (the password is used after "
        "a restart), Rejected or NotSupported."
    )
    stored = serializers.BooleanField(
        help_text="Whether the new password is stored: only when the station accepted it. Otherwise the station's "
        "current password stays valid."
    )
    password = serializers.CharField(
        help_text="The new password, given only in this answer (it is not kept): when stored, and when the station "
        "may have taken it without answering (timeout, no_answer; then set it on the station's record if it cannot "
        "connect). Empty otherwise. The station was sent it hex-encoded, as the OCPP 1.6 security whitepaper asks."
    )
    detail = serializers.CharField(help_text="What happened, for people.")


class StationPasswordRotateView(_StationCommandView):
    """Give the station a new random password (ChangeConfiguration AuthorizationKey), stored once it accepts."""

    serializer_class = OperatorPasswordRotationSerializer  # type: ignore[assignment]

    @extend_schema(request=None, responses=OperatorPasswordRotationSerializer)
    def post(self, request, pk: int):
        station = self.get_object()
        rotation = charger_security.charge_point_password_rotate(
            charge_point=station, by=request.user, now=timezone.now(), timeout=ROTATION_TIMEOUT
        )
        response = Response(
            OperatorPasswordRotationSerializer(
                {
                    "outcome": rotation.outcome,
                    "status": rotation.status,
                    "stored": rotation.stored,
                    "password": rotation.password,
                    "detail": rotation.message,
                }
            ).data
        )
        response["Cache-Control"] = "no-store"
        return response


class OperatorExtendedTriggerInput(serializers.Serializer):
    requested_message = serializers.ChoiceField(
        choices=command_payloads.EXTENDED_TRIGGER_MESSAGES,
        help_text="SignChargePointCertificate: the station sends a new certificate signing request (SignCertificate), "
        "answered with a certificate from the operator's CA.",
    )
    connector = serializers.IntegerField(
        source="connector_id",
        required=False,
        allow_null=True,
        default=None,
        help_text="A connector number of the station, for MeterValues and StatusNotification; empty for the station.",
    )


class OperatorCertificateInstallInput(serializers.Serializer):
    certificate_type = serializers.ChoiceField(choices=command_payloads.CERTIFICATE_TYPES)
    certificate = serializers.CharField(
        required=False,
        default="",
        allow_blank=True,
        trim_whitespace=False,
        help_text="One PEM-encoded X.509 certificate; empty with use_operator_ca.",
    )
    use_operator_ca = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Install the root of the operator's CA (OCPP_CA_CERT_FILE) instead of a given certificate: the "
        "right CentralSystemRootCertificate when that CA also issued this server's TLS certificate.",
    )


class OperatorCertificateTypeInput(serializers.Serializer):
    certificate_type = serializers.ChoiceField(choices=command_payloads.CERTIFICATE_TYPES)


class OperatorCertificateDeleteInput(serializers.Serializer):
    """The certificate's hash data, as the station reported them (GetInstalledCertificateIds)."""

    hash_algorithm = serializers.ChoiceField(choices=command_payloads.HASH_ALGORITHMS)
    issuer_name_hash = serializers.CharField(help_text="Hexadecimal, up to 128 digits.")
    issuer_key_hash = serializers.CharField(help_text="Hexadecimal, up to 128 digits.")
    serial_number = serializers.CharField(help_text="Hexadecimal, up to 40 digits.")


@_command_schema(OperatorExtendedTriggerInput)
class StationExtendedTriggerView(_StationBuiltCommandView):
    """ExtendedTriggerMessage: ask the station to send a message now (security extension)."""

    builder = staticmethod(command_payloads.extended_trigger_message)
    input_class = OperatorExtendedTriggerInput


@_command_schema(OperatorCertificateInstallInput)
class StationCertificateInstallView(_StationBuiltCommandView):
    """InstallCertificate: a root certificate the station is to trust; its status is Accepted, Rejected or Failed."""

    builder = staticmethod(charger_security.install_certificate_call)
    input_class = OperatorCertificateInstallInput


@_command_schema(OperatorCertificateTypeInput)
class StationCertificateIdsView(_StationBuiltCommandView):
    """GetInstalledCertificateIds: the payload's certificate_hash_data lists the station's roots of that type."""

    builder = staticmethod(command_payloads.get_installed_certificate_ids)
    input_class = OperatorCertificateTypeInput


@_command_schema(OperatorCertificateDeleteInput)
class StationCertificateDeleteView(_StationBuiltCommandView):
    """DeleteCertificate: status Accepted, Failed or NotFound."""

    builder = staticmethod(command_payloads.delete_certificate)
    input_class = OperatorCertificateDeleteInput


urlpatterns = [
    path(
        "operator/stations/<int:pk>/password/rotate/",
        StationPasswordRotateView.as_view(),
        name="operator_station_password_rotate",
    ),
    path(
        "operator/stations/<int:pk>/extended-trigger/",
        StationExtendedTriggerView.as_view(),
        name="operator_station_extended_trigger",
    ),
    path(
        "operator/stations/<int:pk>/certificates/install/",
        StationCertificateInstallView.as_view(),
        name="operator_station_certificate_install",
    ),
    path(
        "operator/stations/<int:pk>/certificates/installed/",
        StationCertificateIdsView.as_view(),
        name="operator_station_certificates_installed",
    ),
    path(
        "operator/stations/<int:pk>/certificates/delete/",
        StationCertificateDeleteView.as_view(),
        name="operator_station_certificate_delete",
    ),
]
