"""Signed meter values in the admin: on the session's page, in their own read-only list, and the meter's public
key on the charger's page (``sessions_app.signed_meter``)."""

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from core.admin_scoping import OrganizationScopedAdmin, ReadOnlyAdminMixin
from sessions_app.models import SignedMeterValue
from sessions_app.signed_meter import public_key_der

SIGNED_FIELDS = ("timestamp", "context", "encoding", "value_wh", "verification", "detail", "data")


def meter_public_key_clean(value: str) -> str:
    """The charger's meter key as entered, if it can be read: DER (hex or base64), PEM, or a bare EC point in hex
    (its curve then comes from the signed data)."""
    value = value.strip()
    if not value or public_key_der(value) is not None:
        return value
    compact = "".join(value.split()).replace(":", "")
    try:
        point = bytes.fromhex(compact)
    except ValueError:
        point = b""
    if point[:1] in (b"\x02", b"\x03", b"\x04") and len(point) > 20:
        return value
    raise ValidationError(_("This is not a public key: give it as hex or base64 DER, or PEM."))


class SignedMeterValueInline(admin.TabularInline):
    model = SignedMeterValue
    fields = readonly_fields = SIGNED_FIELDS
    extra = 0
    can_delete = False
    verbose_name_plural = _("signed meter values")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(SignedMeterValue)
class SignedMeterValueAdmin(ReadOnlyAdminMixin, OrganizationScopedAdmin):
    organization_path = "charge_point__organization"
    list_display = ["timestamp", "charge_point", "session", "measurand", "encoding", "value_wh", "verification"]
    list_filter = ["verification", "encoding", ("charge_point__site", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["charge_point", "session__charge_point"]
    search_fields = ["=session__id", "charge_point__ocpp_id"]
    date_hierarchy = "timestamp"
    show_full_result_count = False
