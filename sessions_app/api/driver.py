"""The driver's charging from the app: start on a connector, stop their own session, its live figures.

Start and stop are OCPP commands the charger answers: Accepted is 202 (the session itself
appears, or ends, when the charger reports it); a refusal is 409, an offline charger 503, no
answer in time 504 and a charger error 502, each in the API's one error body.
"""

from django.http import Http404
from django.urls import path
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, generics, serializers, status
from rest_framework.response import Response

from accounts.api.driver import error_response
from accounts.models import IdTag
from core.api import IsDriver
from sessions_app.models import ChargePoint, ChargingSession, Connector
from sessions_app.ocpp import commands
from sessions_app.selectors import remote_start_decide, session_live_figures, sessions_for_driver

#: How long a request waits for the charger's answer (seconds); tests lower it.
COMMAND_TIMEOUT = 30


class CannotStart(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "cannot_start"


class SessionEnded(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "session_ended"
    default_detail = "This session has ended already."


class ChargerRejected(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "charger_rejected"


class ChargerOffline(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "charger_offline"
    default_detail = "The charger is offline right now. Please try again later."


class ChargerTimeout(exceptions.APIException):
    status_code = status.HTTP_504_GATEWAY_TIMEOUT
    default_code = "charger_timeout"


class ChargerError(exceptions.APIException):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_code = "charger_error"


def _accepted_or_raise(result: commands.CommandResult, *, station: ChargePoint, refused: str) -> None:
    """Turn a charger's answer other than Accepted into the matching error; ``refused`` has %(station)s, %(status)s.
    Any other outcome is told in ``commands.outcome_text``'s words; one sent but not answered is a 504, as a
    reservation's is."""
    if result.outcome == "answered" and result.status == "Accepted":
        return
    if result.outcome == "answered":
        raise ChargerRejected(refused % {"station": station, "status": result.status or "?"})
    said = _("%(outcome)s. Please try again later.") % {"outcome": capfirst(commands.outcome_text(result))}
    if result.outcome == "offline":
        raise ChargerOffline(said)
    if result.outcome in ("timeout", "no_answer"):
        raise ChargerTimeout(said)
    raise ChargerError(said)


_COMMAND_ERRORS = {
    409: error_response("Not possible now (not free, card not usable, already charging), or the charger refused."),
    502: error_response("The charger answered with an error."),
    503: error_response("The charger is offline."),
    504: error_response("The charger did not answer in time."),
}


class StartInput(serializers.Serializer):
    connector = serializers.PrimaryKeyRelatedField(
        queryset=Connector.objects.none(), help_text="A connector id (from stations/)."
    )
    card = serializers.PrimaryKeyRelatedField(queryset=IdTag.objects.none(), help_text="One of your card ids.")

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        account = user.customer_account if user is not None and user.customer_account_id else None
        if account is not None:  # only what the driver may see: their operator's stations, their own cards
            self.fields["connector"].queryset = Connector.objects.filter(
                charge_point__organization_id=account.organization_id,
                charge_point__registration_status=ChargePoint.RegistrationStatus.ACCEPTED,
            ).select_related("charge_point__site")
            self.fields["card"].queryset = IdTag.objects.filter(owner=user).select_related("customer_account")


class CommandAcceptedSerializer(serializers.Serializer):
    status = serializers.CharField(help_text="The charger's answer: Accepted.")
    message = serializers.CharField()
    station = serializers.CharField(help_text="The charge point's OCPP identity.")
    connector = serializers.IntegerField(help_text="The connector's number at the station.", allow_null=True)
    session = serializers.IntegerField(allow_null=True, help_text="The session stopped; null for a start.")


class SessionStartView(generics.GenericAPIView):
    """Ask a station to start charging with one of your cards on a free connector (RemoteStartTransaction).

    Accepted (202) means the charger will start when the car is plugged in; the running session
    then appears at me/sessions/active/.
    """

    permission_classes = [IsDriver]
    serializer_class = StartInput

    @extend_schema(request=StartInput, responses={202: CommandAcceptedSerializer, **_COMMAND_ERRORS})
    def post(self, request):
        data = self._input(request)
        connector, card, now = data["connector"], data["card"], timezone.now()
        if not connector.charge_point.is_online(now):
            raise ChargerOffline()
        decision = remote_start_decide(user=request.user, connector=connector, id_tag=card, now=now)
        if isinstance(decision, str):
            raise CannotStart(decision)
        station = decision.charge_point
        result = commands.command_send(station, "RemoteStartTransaction", decision.payload, timeout=COMMAND_TIMEOUT)
        _accepted_or_raise(result, station=station, refused=_("%(station)s declined to start charging (%(status)s)."))
        body = {
            "status": result.status,
            "station": station.ocpp_id,
            "connector": connector.number,
            "session": None,
            "message": _("%(station)s accepted: the charger will start when you plug in.") % {"station": station},
        }
        return Response(CommandAcceptedSerializer(body).data, status=status.HTTP_202_ACCEPTED)

    def _input(self, request) -> dict:
        serializer = StartInput(data=request.data, user=request.user)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


def _own_session(request, pk: int) -> ChargingSession:
    session = sessions_for_driver(user=request.user).filter(pk=pk).first()
    if session is None:
        raise Http404
    return session


class SessionStopView(generics.GenericAPIView):
    """Ask the station to stop one of your running sessions (RemoteStopTransaction).

    Accepted (202) means the charger is stopping; the session shows as completed once it reports the stop.
    """

    permission_classes = [IsDriver]
    serializer_class = CommandAcceptedSerializer

    @extend_schema(
        request=None,
        responses={202: CommandAcceptedSerializer, 404: error_response("Not your session."), **_COMMAND_ERRORS},
    )
    def post(self, request, pk: int):
        session = _own_session(request, pk)
        if session.state != ChargingSession.State.ACTIVE:
            raise SessionEnded(_("This session has ended already."))
        station = session.charge_point
        result = commands.command_send(
            station, "RemoteStopTransaction", {"transaction_id": session.pk}, timeout=COMMAND_TIMEOUT
        )
        _accepted_or_raise(result, station=station, refused=_("%(station)s declined to stop the session (%(status)s)."))
        body = {
            "status": result.status,
            "station": station.ocpp_id,
            "session": session.pk,
            "connector": session.connector.number if session.connector else None,
            "message": _("%(station)s is stopping your session.") % {"station": station},
        }
        return Response(CommandAcceptedSerializer(body).data, status=status.HTTP_202_ACCEPTED)


class LiveFiguresSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.ChoiceField(choices=ChargingSession.State.choices)
    state_display = serializers.CharField()
    station = serializers.CharField(help_text="The charge point's OCPP identity.")
    site = serializers.CharField(allow_blank=True)
    connector = serializers.IntegerField(allow_null=True)
    card = serializers.CharField(help_text="The card's UID as the charger sent it.")
    started_at = serializers.DateTimeField()
    energy_wh = serializers.IntegerField(help_text="Energy so far (the total once completed).")
    power_w = serializers.FloatField(allow_null=True, help_text="The newest power reading while charging.")
    duration_seconds = serializers.IntegerField()
    measured_at = serializers.DateTimeField(allow_null=True, help_text="The newest reading's time.")


def _live(session: ChargingSession, now) -> dict:
    figures = session_live_figures(session=session, now=now)
    cp = session.charge_point
    return {
        **figures,
        "station": cp.ocpp_id,
        "site": cp.site.name if cp.site else "",
        "connector": session.connector.number if session.connector else None,
        "card": session.id_tag_uid,
        "started_at": session.started_at,
        "power_w": None if figures["power_w"] is None else float(figures["power_w"]),
        "duration_seconds": int(figures["duration"].total_seconds()),
    }


class SessionLiveView(generics.GenericAPIView):
    """One of your sessions' figures now: energy so far, power, duration (also once it has ended).

    The cost so far is in me/sessions/<id>/.
    """

    permission_classes = [IsDriver]
    serializer_class = LiveFiguresSerializer

    @extend_schema(responses={200: LiveFiguresSerializer, 404: error_response("Not your session.")})
    def get(self, request, pk: int):
        return Response(LiveFiguresSerializer(_live(_own_session(request, pk), timezone.now())).data)


class ActiveSessionsView(generics.ListAPIView):
    """Your running sessions with their live figures, newest first."""

    permission_classes = [IsDriver]
    serializer_class = LiveFiguresSerializer
    filter_backends: list = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ChargingSession.objects.none()
        return sessions_for_driver(user=self.request.user).filter(state=ChargingSession.State.ACTIVE)

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        now = timezone.now()
        return self.get_paginated_response(LiveFiguresSerializer([_live(s, now) for s in page], many=True).data)


urlpatterns = [
    path("me/sessions/start/", SessionStartView.as_view(), name="session_start"),
    path("me/sessions/active/", ActiveSessionsView.as_view(), name="session_active"),
    path("me/sessions/<int:pk>/stop/", SessionStopView.as_view(), name="session_stop"),
    path("me/sessions/<int:pk>/live/", SessionLiveView.as_view(), name="session_live"),
]
