"""The live operations board in the admin (``admin:sessions_app_board``): the operator's stations now.

The page (static/js/board.js) listens on the board's websocket (``board_consumer``) for the stations that
changed and fetches just their rows from ``admin:sessions_app_board_rows`` (``?only=<ids>``, with the counts
and the map of the whole board), so it follows the chargers without a reload; every minute, and every
``POLL_INTERVAL_MS`` while the websocket is down, it fetches all rows. Operator staff see their own
organization only; superusers see every operator's. From a row a command goes to the charger as the charger's
command page sends it; a start goes to that page with the connector chosen, for the operator to pick a card.
"""

from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from core import csp
from core.admin_pages import admin_app_list_add, admin_page_entry, admin_urls_add
from sessions_app.board import (
    OFFLINE,
    ONLINE,
    board_counts,
    board_map,
    board_organization,
    board_overview,
    board_sites,
    board_stations,
)
from sessions_app.models import ChargePoint, ChargingSession, ConnectorStatus
from sessions_app.ocpp import commands

#: Seconds a command from the board waits for the charger's answer.
BOARD_COMMAND_TIMEOUT = 15
#: How often the page fetches all rows while its websocket is down (milliseconds): a change shows within 2 s.
POLL_INTERVAL_MS = 2000
#: The least time between two fetches of pushed changes (milliseconds): changes meanwhile are fetched together.
PUSH_BATCH_MS = 500
#: How often the page fetches all rows anyway (milliseconds): the durations ("for 5 minutes") move on.
FULL_REFRESH_MS = 60_000
#: At most this many stations are fetched by id; more changes at once fetch all rows.
ONLY_MAX = 50


def _organization(request: HttpRequest):
    """The user's organization; None for a superuser (every operator). Others are refused."""
    return board_organization(request.user)


def _only(request: HttpRequest) -> list[int] | None:
    """The station ids of ``?only=1,2,3`` (a partial refresh), None without it; what is no id is left out."""
    if "only" not in request.GET:
        return None
    ids = [int(part) for part in request.GET["only"].split(",") if part.isascii() and part.isdigit()]
    return ids[:ONLY_MAX]


class BoardFilterForm(forms.Form):
    site: forms.ModelChoiceField = forms.ModelChoiceField(
        queryset=None, label=_("site"), required=False, empty_label=_("All sites")
    )
    status = forms.ChoiceField(label=_("status"), required=False)

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        site_field = self.fields["site"]
        assert isinstance(site_field, forms.ModelChoiceField)  # noqa: S101  (declared just above)
        site_field.queryset = board_sites(organization=organization)
        status_field = self.fields["status"]
        assert isinstance(status_field, forms.ChoiceField)  # noqa: S101
        status_field.choices = [
            ("", _("All")),
            (ONLINE, _("Online")),
            (OFFLINE, _("Offline")),
            *ConnectorStatus.choices,
        ]


def _board_context(request: HttpRequest, only: list[int] | None = None) -> dict:
    """What the page and its fragments show; with ``only`` the rows of just those stations, with the counts
    and the map of the whole (filtered) board."""
    organization = _organization(request)
    form = BoardFilterForm(request.GET or None, organization=organization)
    site = status = None
    if form.is_valid():
        site, status = form.cleaned_data.get("site"), form.cleaned_data.get("status")
    now = timezone.now()
    filters = {"organization": organization, "now": now, "site_id": site.pk if site else None, "status": status or ""}
    stations = board_stations(**filters, only=only)
    overview = stations if only is None else board_overview(**filters)
    query = request.GET.copy()
    query.pop("only", None)
    return {
        "form": form,
        "stations": stations,
        "counts": board_counts(overview),
        "map": board_map(overview, tiles_url=settings.BOARD_MAP_TILES_URL, attribution=settings.BOARD_MAP_ATTRIBUTION),
        "now": now,
        "query": query.urlencode(),
        "can_command": request.user.has_perm("sessions_app.change_chargepoint"),
        "labels": {  # translated once, not once per row
            "online": gettext("Online"),
            "offline": gettext("Offline"),
            "start": gettext("Start"),
            "stop": gettext("Stop"),
            "unlock": gettext("Unlock"),
            "reset": gettext("Reset"),
            "commands": gettext("Commands"),
        },
        "urls": {  # reversed once: the rows add the ids (a url tag per row costs more than the rest of it)
            "board": reverse("admin:sessions_app_board"),
            "charge_points": reverse("admin:sessions_app_chargepoint_changelist"),
            "sessions": reverse("admin:sessions_app_chargingsession_changelist"),
        },
    }


def board_view(request: HttpRequest) -> TemplateResponse:
    context = {
        **admin.site.each_context(request),
        **_board_context(request),
        "title": gettext("Live operations board"),
        "rows_url": reverse("admin:sessions_app_board_rows"),
        "websocket_url": settings.BOARD_WEBSOCKET_URL,
        "timing": {
            "poll_ms": POLL_INTERVAL_MS,
            "poll_seconds": POLL_INTERVAL_MS // 1000,
            "batch_ms": PUSH_BATCH_MS,
            "full_ms": FULL_REFRESH_MS,
        },
        "only_max": ONLY_MAX,
    }
    response = TemplateResponse(request, "admin/sessions_app/board.html", context)
    policy = board_policy()
    if policy != settings.SECURE_CSP:
        response[csp.HEADER] = csp.policy_header(policy)
    return response


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def board_policy() -> dict[str, list[str]]:
    """The page's Content-Security-Policy: the site's, letting it connect to the board's websocket when that is
    served apart from the pages (``BOARD_WEBSOCKET_URL``) and load the map's tiles (``BOARD_MAP_TILES_URL``).
    The rows fetched later land in this page, so its policy is the one their map's tiles meet."""
    policy = dict(settings.SECURE_CSP)
    if settings.BOARD_WEBSOCKET_URL:
        policy["connect-src"] = [*policy.get("connect-src", ["'self'"]), _origin(settings.BOARD_WEBSOCKET_URL)]
    if settings.BOARD_MAP_TILES_URL:
        policy["img-src"] = [*policy.get("img-src", ["'self'"]), _origin(settings.BOARD_MAP_TILES_URL)]
    return policy


def board_rows_view(request: HttpRequest) -> TemplateResponse:
    """The board's rows, map and counts alone, for the page to swap in (never cached); with ``?only=<ids>``
    the rows of just those stations (those the filters keep) and the whole board's counts and map."""
    only = _only(request)
    template = "board_rows.html" if only is None else "board_part.html"
    response = TemplateResponse(request, f"admin/sessions_app/{template}", _board_context(request, only))
    response["Cache-Control"] = "no-store"
    return response


COMMANDS = {
    "stop": _("Stop"),
    "unlock": _("Unlock"),
    "reset": _("Reset"),
}


@require_POST
def board_command_view(request: HttpRequest, charge_point_id: int) -> HttpResponse:
    """Stop a running session, unlock a connector or soft-reset a station, then back to the board."""
    organization = _organization(request)
    if not request.user.has_perm("sessions_app.change_chargepoint"):
        raise PermissionDenied
    stations = (
        ChargePoint.objects.all() if organization is None else ChargePoint.objects.filter(organization=organization)
    )
    charge_point = get_object_or_404(stations, pk=charge_point_id)
    # The row's button: "stop:<session id>", "unlock:<connector id>" or "reset".
    command, _sep, target = request.POST.get("target", "").partition(":")
    payload: dict[str, object]
    if command == "stop" and target.isdigit():
        session = get_object_or_404(
            ChargingSession,
            pk=int(target),
            charge_point=charge_point,
            state=ChargingSession.State.ACTIVE,
        )
        action, payload = "RemoteStopTransaction", {"transaction_id": session.pk}
    elif command == "unlock" and target.isdigit():
        connector = get_object_or_404(charge_point.connectors, pk=int(target))
        action, payload = "UnlockConnector", {"connector_id": connector.number}
    elif command == "reset":
        action, payload = "Reset", {"type": "Soft"}
    else:
        raise PermissionDenied
    result = commands.command_send(charge_point, action, payload, timeout=BOARD_COMMAND_TIMEOUT)
    text = gettext("%(command)s to %(charger)s: %(outcome)s") % {
        "command": COMMANDS[command],
        "charger": charge_point,
        "outcome": commands.outcome_text(result),
    }
    # Scheduled: an OCPP 2.0.1 station resets once its sessions have ended (a Soft reset is OnIdle there)
    accepted = result.outcome == "answered" and result.status in ("Accepted", "Unlocked", "Scheduled")
    messages.add_message(request, messages.SUCCESS if accepted else messages.WARNING, text)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("admin:sessions_app_board")
    return redirect(back)


def board_urls() -> list[URLPattern]:
    return [
        path("sessions_app/board/", admin.site.admin_view(board_view), name="sessions_app_board"),
        path("sessions_app/board/rows/", admin.site.admin_view(board_rows_view), name="sessions_app_board_rows"),
        path(
            "sessions_app/board/<int:charge_point_id>/command/",
            admin.site.admin_view(board_command_view),
            name="sessions_app_board_command",
        ),
    ]


def _board_entries(request: HttpRequest) -> list[dict]:
    try:
        board_organization(request.user)
    except PermissionDenied:
        return []
    return [admin_page_entry(gettext("Live operations board"), "board", reverse("admin:sessions_app_board"))]


# Serve the pages and list the board first under the sessions app on the index and the side bar.
admin_urls_add("sessions_app_board", board_urls)
admin_app_list_add("sessions_app_board", "sessions_app", _board_entries)
