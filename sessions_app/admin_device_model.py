"""A station's OCPP 2.0.1 device model in the admin: its variables listed, searched and filtered per station
(read only: the charger's NotifyReport writes them, ``device_model``), linked from the charge point's page."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core.admin_scoping import OrganizationScopedAdmin, ReadOnlyAdminMixin
from sessions_app.device_model import VARIABLE_KEY
from sessions_app.models import ChargePoint, StationVariable


@admin.register(StationVariable)
class StationVariableAdmin(ReadOnlyAdminMixin, OrganizationScopedAdmin):
    organization_path = "charge_point__organization"
    list_display = ["charge_point", *VARIABLE_KEY, "value", "mutability", "updated_at"]
    list_filter = [("charge_point", admin.RelatedOnlyFieldListFilter), "attribute_type", "mutability"]
    list_select_related = ["charge_point"]
    search_fields = ["component", "component_instance", "variable", "variable_instance", "value"]
    show_full_result_count = False


@admin.display(description=_("device model (OCPP 2.0.1)"))
def device_model_link(_admin, charge_point: ChargePoint) -> str:
    """The station's variables (a link to their list), or a dash before its first report; a method of the charge
    point's admin."""
    count = StationVariable.objects.filter(charge_point=charge_point).count()
    if not count:
        return "-"
    url = reverse("admin:sessions_app_stationvariable_changelist")
    return format_html(
        '<a href="{}?charge_point__id__exact={}">{}</a>',
        url,
        charge_point.pk,
        ngettext("%(count)d variable", "%(count)d variables", count) % {"count": count},
    )
