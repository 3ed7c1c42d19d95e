"""The operator's page of a load group (``admin:reporting_load_group``): the limit now, the live shares, the power.

Whoever may see the group in its admin (its organization's staff, superusers) sees the page; another
organization's group is a 404. The live part (limit, other loads, turns, each connector's share and draw) is
fetched again every ``LIVE_INTERVAL_MS`` as JSON (``admin:reporting_load_group_live``, static/js/load-group.js);
the charts of the site's power against its limit over the chosen day and its month are drawn on the server.
"""

from datetime import datetime

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from core.admin_pages import admin_urls_add
from reporting.charts import limit_chart
from reporting.load import GroupLive, PowerCurve, day_curve, group_live, month_curve
from sessions_app.models import LoadGroup

#: How often the page fetches the live part (milliseconds).
LIVE_INTERVAL_MS = 5000


class DayForm(forms.Form):
    day = forms.DateField(label=_("day"), required=False, widget=forms.DateInput(attrs={"type": "date"}))


def _group(request: HttpRequest, group_id: int) -> LoadGroup:
    """The group, if the user may see it in the admin (the admin's scoping: another operator's is a 404)."""
    model_admin = admin.site.get_model_admin(LoadGroup)
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    return get_object_or_404(model_admin.get_queryset(request).select_related("site"), pk=group_id)


def _kw(value) -> str:
    return number_format(value, 2)


def live_display(group: LoadGroup, live: GroupLive) -> dict:
    """The live part's words and figures, the same for the page and its JSON."""
    zone = group.site.tzinfo
    limit, other = live.limit, live.other
    limit_text = f"{number_format(limit.limit, 1)} {group.get_limit_unit_display()}"
    if group.limit_unit == LoadGroup.LimitUnit.AMPERES:
        limit_text += f" ({_kw(limit.kw)} kW)"
    if limit.window is not None:
        window = limit.window
        limit_source = gettext("Lower limit of the window %(weekdays)s %(start)s-%(end)s (site time).") % {
            "weekdays": window.weekdays,
            "start": f"{window.start:%H:%M}",
            "end": f"{window.end:%H:%M}",
        }
    else:
        limit_source = gettext("The group's limit: no lower limit window holds now.")
    if other.reading is not None:
        other_text = gettext("%(kw)s kW, as the site meter measured at %(at)s.") % {
            "kw": _kw(other.kw),
            "at": date_format(other.reading.measured_at.astimezone(zone), "DATETIME_FORMAT"),
        }
    else:
        other_text = gettext("%(kw)s kW kept free (the group's margin).") % {"kw": _kw(other.kw)}
    minutes = group.rotation_minutes
    if live.waiting:
        turns = ngettext(
            "Sessions are taking turns of %(minutes)d minutes: %(count)d is waiting for its turn.",
            "Sessions are taking turns of %(minutes)d minutes: %(count)d are waiting for their turn.",
            live.waiting,
        ) % {"minutes": minutes, "count": live.waiting}
    else:
        turns = gettext(
            "Every session is charging. When the limit cannot give each car 6 A per phase, sessions take turns "
            "of %(minutes)d minutes."
        ) % {"minutes": minutes}
    rows = []
    for row in live.rows:
        allocation, session = row.allocation, row.session
        rows.append(
            {
                "connector": str(row.connector),
                "session": f"#{session.pk}" if session else "",
                "session_url": reverse("admin:sessions_app_chargingsession_change", args=[session.pk])
                if session
                else "",
                "customer": str(session.customer_account or session.id_tag_uid) if session else "",
                "status": str(allocation.get_status_display()) if allocation else gettext("No share yet"),
                "status_code": allocation.status if allocation else "",
                "limit_kw": _kw(allocation.limit_w / 1000) if allocation else "",
                "limit_a": number_format(allocation.limit_a, 1) if allocation else "",
                "draw_kw": _kw(row.draw_w / 1000) if row.draw_w is not None else "",
                "decided": date_format(allocation.decided_at.astimezone(zone), "TIME_FORMAT") if allocation else "",
            }
        )
    return {
        "limit": limit_text,
        "limit_source": limit_source,
        "other_loads": other_text,
        "available_kw": _kw(max(limit.kw - other.kw, 0)),
        "allocated_kw": _kw(live.allocated_w / 1000),
        "draw_kw": _kw(live.draw_w / 1000),
        "turns": turns,
        "enabled": group.enabled,
        "rows": rows,
    }


def _chart(curve: PowerCurve, *, title: str, label_format: str, every: int) -> SafeString:
    peak = curve.peak
    return limit_chart(
        [f"{point.at:{label_format}}" if i % every == 0 else "" for i, point in enumerate(curve.points)],
        [point.power_kw for point in curve.points],
        [point.limit_kw for point in curve.points],
        title=title,
        names=(gettext("Chargers (kW)"), gettext("Limit (kW)")),
        peak=curve.points.index(peak) if peak is not None else None,
    )


def _peak_text(curve: PowerCurve, zone_format: str) -> str:
    peak = curve.peak
    if peak is None:
        return gettext("Nothing was drawn.")
    return gettext("Peak %(kw)s kW at %(at)s (limit then %(limit)s kW).") % {
        "kw": _kw(peak.power_kw),
        "at": date_format(peak.at, zone_format),
        "limit": _kw(peak.limit_kw),
    }


def load_group_view(request: HttpRequest, group_id: int) -> TemplateResponse:
    group = _group(request, group_id)
    now = timezone.now()
    zone = group.site.tzinfo
    form = DayForm(request.GET or None)
    today = now.astimezone(zone).date()
    day = (form.cleaned_data.get("day") if form.is_valid() else None) or today
    day_power, month_power = day_curve(group, day), month_curve(group, day)
    context = {
        **admin.site.each_context(request),
        "opts": LoadGroup._meta,
        "title": gettext("Load management: %(group)s") % {"group": group},
        "group": group,
        "form": form,
        "day": day,
        "zone": group.site.time_zone,
        "live": live_display(group, group_live(group, now=now)),
        "live_url": reverse("admin:reporting_load_group_live", args=[group.pk]),
        "live_interval_ms": LIVE_INTERVAL_MS,
        "day_chart": _chart(
            day_power,
            title=gettext("The chargers' power against the limit, 15-minute averages"),
            label_format="%H:%M",
            every=8,
        ),
        "day_peak": _peak_text(day_power, "TIME_FORMAT"),
        "day_over": len(day_power.over_limit),
        "month_chart": _chart(
            month_power,
            title=gettext("Each day's highest 15-minute average against the limit then"),
            label_format="%d",
            every=2,
        ),
        "month_peak": _peak_text(month_power, "DATETIME_FORMAT"),
        "day_points": day_power.points,
    }
    return TemplateResponse(request, "admin/reporting/load_group.html", context)


def load_group_live_view(request: HttpRequest, group_id: int) -> JsonResponse:
    """The live part alone, for the page to refresh (never cached)."""
    group = _group(request, group_id)
    now: datetime = timezone.now()
    response = JsonResponse(live_display(group, group_live(group, now=now)))
    response["Cache-Control"] = "no-store"
    return response


def load_urls() -> list[URLPattern]:
    return [
        path(
            "reporting/load/<int:group_id>/",
            admin.site.admin_view(load_group_view),
            name="reporting_load_group",
        ),
        path(
            "reporting/load/<int:group_id>/live/",
            admin.site.admin_view(load_group_live_view),
            name="reporting_load_group_live",
        ),
    ]


admin_urls_add("reporting_load", load_urls)
