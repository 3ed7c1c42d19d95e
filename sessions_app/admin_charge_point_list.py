"""Compact columns for the admin's charge point list: it fits 1366 px with online, last seen and connectors.

Methods of ChargePointAdmin (hence the admin argument). One ``connectors`` column shows each connector as a
small coloured badge (its number; the status in the tooltip and for screen readers), ``last seen`` is short
(the time today, else the date), and the hardware is one wrapping column.
"""

from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from sessions_app.models import ChargePoint, ConnectorStatus

#: Badge colours by connector status (background, text).
STATUS_COLOURS: dict[str, tuple[str, str]] = {
    ConnectorStatus.AVAILABLE: ("#2e7d32", "#fff"),
    ConnectorStatus.PREPARING: ("#1f6f8b", "#fff"),
    ConnectorStatus.CHARGING: ("#1f6f8b", "#fff"),
    ConnectorStatus.SUSPENDED_EVSE: ("#b26a00", "#fff"),
    ConnectorStatus.SUSPENDED_EV: ("#b26a00", "#fff"),
    ConnectorStatus.FINISHING: ("#1f6f8b", "#fff"),
    ConnectorStatus.RESERVED: ("#6a1b9a", "#fff"),
    ConnectorStatus.UNAVAILABLE: ("#616161", "#fff"),
    ConnectorStatus.FAULTED: ("#c62828", "#fff"),
    ConnectorStatus.UNKNOWN: ("#e0e0e0", "#333"),
}
BADGE_STYLE = (
    "display:inline-block;min-width:1.4em;margin:0 2px 2px 0;padding:0 4px;border-radius:3px;"
    "font-size:11px;line-height:1.6;text-align:center;background:{};color:{}"
)
#: The list's columns (the organization is added for superusers, who see every operator's chargers).
LIST_DISPLAY = (
    "ocpp_id",
    "name",
    "site",
    "registration_status",
    "is_online",
    "last_seen",
    "ocpp_protocol",
    "connectors",
    "hardware",
)


@admin.display(description=_("connectors"), ordering="connector_count")
def connectors(_model_admin, obj: ChargePoint):
    items = sorted(obj.connectors.all(), key=lambda connector: connector.number)
    if not items:
        return "–"
    return format_html_join(
        "",
        '<span class="connector-badge connector-{}" style="{}" title="{}">{}<span class="visually-hidden"> {}</span>'
        "</span>",
        (
            (
                connector.status.lower(),
                BADGE_STYLE.format(*STATUS_COLOURS.get(connector.status, STATUS_COLOURS[ConnectorStatus.UNKNOWN])),
                f"{connector.number}: {connector.get_status_display()}"
                + (f" ({connector.error_code})" if connector.error_code and connector.error_code != "NoError" else ""),
                connector.number,
                connector.get_status_display(),
            )
            for connector in items
        ),
    )


@admin.display(description=_("last seen"), ordering="last_seen_at")
def last_seen(_model_admin, obj: ChargePoint):
    """The time today, else the date; the full local time (and the connection's start) in the tooltip."""
    if obj.last_seen_at is None:
        return "–"
    seen = timezone.localtime(obj.last_seen_at)
    today = timezone.localdate()
    short = seen.strftime("%H:%M") if seen.date() == today else seen.strftime("%Y-%m-%d")
    full = seen.strftime("%Y-%m-%d %H:%M:%S %Z")
    if obj.connected_at:
        full += " · " + str(_("connected since %(time)s")) % {
            "time": timezone.localtime(obj.connected_at).strftime("%Y-%m-%d %H:%M %Z")
        }
    return format_html('<time datetime="{}" title="{}">{}</time>', obj.last_seen_at.isoformat(), full, short)


@admin.display(description=_("hardware"), ordering="vendor")
def hardware(_model_admin, obj: ChargePoint):
    model = " ".join(part for part in (obj.vendor, obj.model) if part)
    if not model and not obj.firmware_version:
        return "–"
    return format_html(
        '<span style="font-size:11px">{}{}</span>',
        model,
        format_html("<br>{} {}", _("fw"), obj.firmware_version) if obj.firmware_version else "",
    )
