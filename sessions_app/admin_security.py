"""Operator admin for the OCPP 1.6 security extension: rotating a charger's password (an action on charge points,
also offered on a charger's page), and the certificates issued to chargers (read only)."""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.admin_scoping import OrganizationScopedAdmin, ReadOnlyAdminMixin
from sessions_app.charger_security import alerting_event_types, charge_point_password_rotate, security_event_alerts
from sessions_app.models import ChargerCertificate

#: How long the admin waits for the charger's answer to the new password (seconds); tests lower it.
ROTATION_TIMEOUT = 30
ROTATION_TEMPLATE = "admin/sessions_app/chargepoint/rotate_password.html"


@admin.action(description=_("Rotate the charger's password"), permissions=["change"])
def rotate_password(modeladmin, request, queryset):
    """A confirmation page first; then the new password goes to the charger, and the page shows it once, with
    whether it was stored (only when the charger accepted it)."""
    if queryset.count() != 1:
        modeladmin.message_user(request, _("Select exactly one charger to rotate its password."), messages.WARNING)
        return None
    charge_point = queryset.get()
    context = {
        **modeladmin.admin_site.each_context(request),
        "opts": modeladmin.model._meta,
        "charge_point": charge_point,
        "title": _("Rotate the password of %(charger)s") % {"charger": charge_point},
        "online": charge_point.is_online(timezone.now()),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "timeout": ROTATION_TIMEOUT,
    }
    if request.POST.get("rotate_confirmed") != "yes":
        return TemplateResponse(request, ROTATION_TEMPLATE, context)
    rotation = charge_point_password_rotate(
        charge_point=charge_point, by=request.user, now=timezone.now(), timeout=ROTATION_TIMEOUT
    )
    response = TemplateResponse(request, ROTATION_TEMPLATE, {**context, "rotation": rotation})
    response["Cache-Control"] = "no-store"
    return response


class AlertingFilter(admin.SimpleListFilter):
    """Security events a charger reported whose type alerts the operator (``charger_security.ALERT_EVENT_TYPES``)."""

    title = _("alerts the operator")
    parameter_name = "alerting"

    def lookups(self, request, model_admin):
        return [("yes", _("Yes"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(alerting_event_types())
        return queryset


@admin.display(description=_("alerts"), boolean=True)
def alerting(event) -> bool:
    return bool(event.event_type) and security_event_alerts(event.event_type)


@admin.register(ChargerCertificate)
class ChargerCertificateAdmin(ReadOnlyAdminMixin, OrganizationScopedAdmin):
    """Certificates issued to the operator's chargers from the operator's CA (SignCertificate)."""

    organization_path = "charge_point__organization"
    list_display = ["issued_at", "charge_point", "subject", "serial_number", "status", "not_after"]
    list_filter = ["status", ("charge_point__site", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["charge_point"]
    search_fields = ["charge_point__ocpp_id", "serial_number", "subject"]
    date_hierarchy = "issued_at"
