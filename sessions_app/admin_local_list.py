"""The local authorization list in the charge point admin (``sessions_app.local_list``): its state on the charger's
page and an action that sends the full list again. The choice itself is a field of the site and the charger."""

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from sessions_app.local_list import local_list_resend, local_list_summary, local_list_wanted


@admin.display(description=_("local list state"))
def local_list_status_display(model_admin, obj) -> str:
    """Version, state, entries and the charger's last answer; the cards left out for want of room."""
    if obj is None or obj.pk is None:
        return "-"
    summary = local_list_summary(charge_point=obj)
    parts = [gettext("kept") if summary.wanted else gettext("not kept")]
    state = summary.state
    if state is not None:
        parts.append(
            gettext("version %(version)s, %(state)s, %(entries)s entries on the charger")
            % {"version": state.version, "state": state.get_state_display(), "entries": summary.entries}
        )
        if state.last_status:
            parts.append(gettext("last answer %(status)s") % {"status": state.last_status})
        if state.last_sent_at:
            sent = date_format(timezone.localtime(state.last_sent_at), "SHORT_DATETIME_FORMAT")
            parts.append(gettext("sent %(when)s") % {"when": sent})
        if state.attempts:
            parts.append(
                ngettext("%(count)s failed attempt", "%(count)s failed attempts", state.attempts)
                % {"count": state.attempts}
            )
    if summary.left_out:
        parts.append(
            gettext(
                "%(left_out)s of %(allowed)s cards found no room (the charger holds %(capacity)s): the most recently"
                " used are on the list"
            )
            % {"left_out": summary.left_out, "allowed": summary.cards_allowed, "capacity": obj.local_list_max_length}
        )
    return "; ".join(parts)


@admin.action(description=_("Send the full local authorization list again"), permissions=["change"])
def resend_local_list(model_admin, request, queryset):
    """The whole list again to each selected charger that keeps one (also after NotSupported or failures)."""
    keeping = [charge_point for charge_point in queryset.select_related("site") if local_list_wanted(charge_point)]
    for charge_point in keeping:
        local_list_resend(charge_point=charge_point)
    if keeping:
        model_admin.message_user(
            request,
            ngettext(
                "The full local list goes to %(count)d charger (at once when it is online, else when it is back).",
                "The full local list goes to %(count)d chargers (at once when they are online, else when they are"
                " back).",
                len(keeping),
            )
            % {"count": len(keeping)},
            messages.SUCCESS,
        )
    if skipped := queryset.count() - len(keeping):
        model_admin.message_user(
            request,
            ngettext(
                "%(count)d selected charger keeps no local list (see its own or its site's choice).",
                "%(count)d selected chargers keep no local list (see their own or their sites' choice).",
                skipped,
            )
            % {"count": skipped},
            messages.WARNING,
        )
