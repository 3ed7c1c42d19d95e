"""Driver pages: start charging at a station of their operator, stop their own session, live figures."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from core.templatetags.portal import duration, kw, kwh
from sessions_app import station_finder
from sessions_app.forms import StartChargingForm
from sessions_app.ocpp import commands
from sessions_app.reservations import reservations_open_for_driver
from sessions_app.selectors import active_session_for_driver, session_live_figures, sessions_for_driver

#: How long a driver's request waits for the charger's answer (seconds); tests lower it.
COMMAND_TIMEOUT = 30


def _tell(request, result: commands.CommandResult, accepted: str, rejected: str) -> None:
    """Put the charger's answer to a driver's command into words: a refusal in the page's own, anything else in
    ``commands.outcome_text``'s, as every page that reports a command says it."""
    if result.outcome == "answered" and result.status == "Accepted":
        messages.success(request, accepted)
    elif result.outcome == "answered":
        messages.error(request, rejected)
    else:
        said = capfirst(commands.outcome_text(result))
        messages.error(request, _("%(outcome)s. Please try again later.") % {"outcome": said})


@login_required
def charging_start(request):
    """The station first (``station``; found by ``q``, by the browser's ``lat``/``lon`` or among recent ones),
    then its connector and the card: nothing is preselected before the driver picks a station."""
    now = timezone.now()
    params = request.POST if request.method == "POST" else request.GET
    station = station_finder.station_for_driver(user=request.user, now=now, pk=params.get("station"))
    form = StartChargingForm(request.POST or None, user=request.user, now=now, charge_point=station)
    if request.method == "POST" and form.is_valid():
        start = form.start
        result = commands.command_send(
            start.charge_point, "RemoteStartTransaction", start.payload, timeout=COMMAND_TIMEOUT
        )
        _tell(
            request,
            result,
            accepted=_("%(station)s accepted: the charger will start when you plug in.")
            % {"station": start.charge_point},
            rejected=_("%(station)s declined to start charging (%(status)s).")
            % {"station": start.charge_point, "status": result.status},
        )
        return redirect("dashboard")
    open_reservations = reservations_open_for_driver(user=request.user, now=now)
    context = {"form": form, "open_reservations": open_reservations, "station": station}
    if station is None:
        query = request.GET.get("q", "").strip()
        position = station_finder.coordinates(request.GET.get("lat"), request.GET.get("lon"))
        context.update(
            query=query,
            position=position,
            recent_stations=station_finder.recent_stations(user=request.user, now=now),
            found_stations=station_finder.stations_found(user=request.user, now=now, query=query, position=position),
        )
    return render(request, "sessions_app/start.html", context)


@login_required
@require_POST
def charging_stop(request, pk: int):
    session = active_session_for_driver(user=request.user, pk=pk)
    if session is None:
        raise Http404
    result = commands.command_send(
        session.charge_point, "RemoteStopTransaction", {"transaction_id": session.pk}, timeout=COMMAND_TIMEOUT
    )
    _tell(
        request,
        result,
        accepted=_("%(station)s is stopping your session.") % {"station": session.charge_point},
        rejected=_("%(station)s declined to stop the session (%(status)s).")
        % {"station": session.charge_point, "status": result.status},
    )
    return redirect("dashboard")


@login_required
@require_GET
def session_live(request, pk: int):
    session = get_object_or_404(sessions_for_driver(user=request.user), pk=pk)
    figures = session_live_figures(session=session, now=timezone.now())
    measured_at = figures["measured_at"]
    return JsonResponse(
        {
            "id": figures["id"],
            "state": figures["state"],
            "state_display": figures["state_display"],
            "energy_wh": figures["energy_wh"],
            "power_w": None if figures["power_w"] is None else float(figures["power_w"]),
            "duration_seconds": int(figures["duration"].total_seconds()),
            "measured_at": measured_at.isoformat() if measured_at else None,
            # As the dashboard shows them, in the reader's language and number format.
            "energy_kwh_display": kwh(figures["energy_wh"]),
            "power_kw_display": kw(figures["power_w"]),
            "duration_display": duration(figures["duration"]),
        }
    )
