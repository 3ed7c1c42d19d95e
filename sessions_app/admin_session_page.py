"""The admin's page of one charging session: local times with their zone, kWh, a stop button while it runs.

Higher apps add their parts of the page (reporting: the meter curve and the price breakdown) by registering a
handler in ``session_page_handlers``; sessions_app never imports them.
"""

import zoneinfo
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from sessions_app.models import ChargingSession

#: Each is called with the request and the session and returns HTML for the session's admin page (or "").
session_page_handlers: list[Callable[[HttpRequest, ChargingSession], str]] = []

#: Who may stop a running session from its page (as the admin's command page).
STOP_PERMISSION = "sessions_app.change_chargepoint"


def session_zone(session: ChargingSession) -> zoneinfo.ZoneInfo:
    """The station's site's time zone, else the installation's."""
    site = session.charge_point.site
    return zoneinfo.ZoneInfo(site.time_zone if site else settings.TIME_ZONE)


def local_time_display(value: datetime | None, session: ChargingSession) -> str:
    """``2026-01-15 17:14:05 CET``: the time at the station, with its zone."""
    if value is None:
        return "–"
    return value.astimezone(session_zone(session)).strftime("%Y-%m-%d %H:%M:%S %Z")


def session_label(session: ChargingSession) -> str:
    """The page's title: the session, its station and its local start with the zone."""
    start = session.started_at.astimezone(session_zone(session)).strftime("%Y-%m-%d %H:%M %Z")
    return f"#{session.pk} {session.charge_point} {start}"


def kwh_display(wh: int | None) -> str:
    return "–" if wh is None else f"{(Decimal(wh) / 1000).quantize(Decimal('0.001')):f} kWh"


def session_panels(request: HttpRequest, session: ChargingSession) -> SafeString:
    """What the registered handlers add to the page, in order of registration."""
    parts = [handler(request, session) for handler in list(session_page_handlers)]
    return format_html("{}", SafeString("".join(str(part) for part in parts if part)))


def stop_allowed(request: HttpRequest, session: ChargingSession) -> bool:
    return session.state == ChargingSession.State.ACTIVE and request.user.has_perm(STOP_PERMISSION)


#: The page's read-only fields: times at the station with their zone, meter and energy in kWh.
SESSION_FIELDS = [
    "charge_point",
    "connector",
    "state",
    "id_tag",
    "id_tag_uid",
    "customer_account",
    "auth_status",
    "started_local",
    "stopped_local",
    "energy_display",
    "meter_start_display",
    "meter_stop_display",
    "stop_reason",
    "charger_transaction_id",
    "charger_started_local",
    "charger_stopped_local",
    "created_local",
]

#: What became of the stop button's RemoteStopTransaction, the outcome in ``commands.outcome_text``'s words.
STOP_TOLD = _("Stop to %(station)s: %(outcome)s.")
