"""The meter curve and the price breakdown on the admin's page of a charging session.

The same figures as the driver's session page (``reporting.history``), registered in sessions_app's page hook
(``sessions_app.admin_session_page``) so sessions_app does not import reporting or billing.
"""

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from reporting.charts import line_chart
from reporting.history import session_curve, session_price_details
from sessions_app import admin_session_page
from sessions_app.models import ChargingSession


def curve_chart(curve: dict) -> SafeString | None:
    """Energy since start and power over the session as an SVG line chart (None without readings)."""
    points = curve["points"]
    if not points:
        return None
    every = -(-len(points) // 8)  # about eight times along the axis, not one per point
    return line_chart(
        [point["at"].strftime("%H:%M") if i % every == 0 else "" for i, point in enumerate(points)],
        {
            _("Energy (kWh)"): [point["energy_kwh"] for point in points],
            _("Power (kW)"): [point["power_kw"] for point in points],
        },
        title=_("Energy and power over the session"),
        unit="kWh / kW",
    )


def session_panels(request: HttpRequest, session: ChargingSession) -> str:
    curve = session_curve(session, now=timezone.now())
    return render_to_string(
        "admin/reporting/session_panels.html",
        {
            "session": session,
            "curve": curve,
            "chart": curve_chart(curve),
            "price": session_price_details(session),
            "zone": admin_session_page.session_zone(session).key,
        },
        request=request,
    )


if session_panels not in admin_session_page.session_page_handlers:
    admin_session_page.session_page_handlers.append(session_panels)
