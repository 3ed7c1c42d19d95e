"""The admin's firmware pages: an operator's firmware (uploaded file or URL, optionally signed), campaigns with each
charger's progress, and "Update firmware..." on the charge point list. Rules live in ``sessions_app.firmware``."""

import base64
import binascii
from typing import cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core.admin_scoping import OrganizationScopedAdmin, user_organization
from sessions_app import firmware as firmware_service
from sessions_app.models import ChargePoint, Firmware, FirmwareCampaign, FirmwareUpdate
from sessions_app.ocpp.command_payloads import SIGNATURE_MAX_LENGTH, SIGNING_CERTIFICATE_MAX_LENGTH, CommandPayloadError
from sessions_app.server_address import charger_base_url


class FirmwareForm(forms.ModelForm):
    class Meta:
        model = Firmware
        fields = ["organization", "name", "version", "file", "url", "signature", "signing_certificate"]

    def clean(self):
        data = super().clean()
        has_file, has_url = bool(data.get("file")), bool(data.get("url"))
        if has_file == has_url:
            raise forms.ValidationError(_("Upload the firmware file or give its URL (one of them)."))
        signature, certificate = data.get("signature", ""), data.get("signing_certificate", "")
        if bool(signature) != bool(certificate):
            raise forms.ValidationError(_("A signed update needs both the signature and the signing certificate."))
        if signature:
            try:
                base64.b64decode(signature, validate=True)
            except binascii.Error:
                self.add_error("signature", _("Give the signature in base64."))
            if len(signature) > SIGNATURE_MAX_LENGTH:
                self.add_error("signature", _("At most %(limit)s characters.") % {"limit": SIGNATURE_MAX_LENGTH})
        if certificate:
            if "-----BEGIN CERTIFICATE-----" not in certificate:
                self.add_error("signing_certificate", _("Give the certificate in PEM."))
            if len(certificate) > SIGNING_CERTIFICATE_MAX_LENGTH:
                self.add_error(
                    "signing_certificate",
                    _("At most %(limit)s characters.") % {"limit": SIGNING_CERTIFICATE_MAX_LENGTH},
                )
        return data


@admin.register(Firmware)
class FirmwareAdmin(OrganizationScopedAdmin):
    organization_path = "organization"
    form = FirmwareForm
    list_display = ["name", "version", "organization", "source", "signed", "created_at"]
    list_filter = [("organization", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["organization"]
    search_fields = ["name", "version"]
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        return [*readonly, "organization"] if obj is not None else readonly

    @admin.display(description=_("source"))
    def source(self, obj: Firmware) -> str:
        return str(_("uploaded file")) if obj.file else obj.url

    @admin.display(description=_("signed"), boolean=True)
    def signed(self, obj: Firmware) -> bool:
        return bool(obj.signature and obj.signing_certificate)


class FirmwareUpdateInline(admin.TabularInline):
    model = FirmwareUpdate
    fields = readonly_fields = ("charge_point", "status", "explained", "updated_at")
    extra = 0
    can_delete = False
    ordering = ["charge_point__ocpp_id"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("charge_point")

    @admin.display(description=_("detail"))
    def explained(self, obj: FirmwareUpdate) -> str:
        return firmware_service.firmware_update_explained(obj)


class CampaignForm(forms.Form):
    """A campaign: which firmware, which of the operator's chargers, when and how often they may try."""

    firmware = forms.ModelChoiceField(label=_("firmware"), queryset=Firmware.objects.none())
    charge_points = forms.ModelMultipleChoiceField(
        label=_("chargers"), queryset=ChargePoint.objects.none(), widget=forms.CheckboxSelectMultiple
    )
    retrieve_at = forms.DateTimeField(
        label=_("download from"),
        help_text=_("Chargers download the firmware from then (now if empty)."),
        required=False,
    )
    retries = forms.IntegerField(
        label=_("retries"), required=False, min_value=0, help_text=_("How often a charger tries the download again.")
    )
    retry_interval = forms.IntegerField(
        label=_("retry interval (s)"), required=False, min_value=0, help_text=_("Seconds between those attempts.")
    )

    def __init__(self, *args, firmware, charge_points, **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["firmware"]).queryset = firmware
        cast(forms.ModelMultipleChoiceField, self.fields["charge_points"]).queryset = charge_points


@admin.register(FirmwareCampaign)
class FirmwareCampaignAdmin(OrganizationScopedAdmin):
    """Campaigns are made on their own page (``campaign_new_view``) and then only watched, or sent again."""

    organization_path = "organization"
    list_display = ["created_at", "firmware", "retrieve_at", "progress", "created_by"]
    list_filter = [("organization", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["firmware", "created_by"]
    date_hierarchy = "created_at"
    fields = readonly_fields = (
        "firmware",
        "organization",
        "retrieve_at",
        "retries",
        "retry_interval",
        "location",
        "created_by",
        "created_at",
        "progress",
    )
    inlines = [FirmwareUpdateInline]
    actions = ["send_again"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_send_permission(self, request):
        return request.user.has_perm("sessions_app.add_firmwarecampaign")

    @admin.display(description=_("progress"))
    def progress(self, obj: FirmwareCampaign) -> str:
        progress = firmware_service.firmware_campaign_progress(campaign=obj)
        return str(
            _("%(installed)s of %(total)s installed, %(failed)s failed")
            % {"installed": progress.installed, "total": progress.total, "failed": progress.failed}
        )

    @admin.action(description=_("Send again to the chargers it has not reached"), permissions=["send"])
    def send_again(self, request, queryset):
        sent = sum(
            firmware_service.firmware_campaign_send(campaign_id=campaign.pk, now=timezone.now())
            for campaign in queryset
        )
        self.message_user(
            request,
            ngettext("Sent to %(count)d charger.", "Sent to %(count)d chargers.", sent) % {"count": sent},
            messages.SUCCESS if sent else messages.INFO,
        )

    def add_view(self, request, form_url="", extra_context=None):
        return self.campaign_new_view(request)

    def campaign_new_view(self, request):
        """Schedule firmware for chargers of the user's operator (``?ids=`` preselects them)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        organization = None if request.user.is_superuser else user_organization(request)
        firmware = (
            Firmware.objects.all() if request.user.is_superuser else Firmware.objects.filter(organization=organization)
        )
        charge_points = ChargePoint.objects.select_related("site").order_by("ocpp_id")
        if not request.user.is_superuser:
            charge_points = charge_points.filter(organization=organization)
        initial = {"charge_points": [pk for pk in request.GET.get("ids", "").split(",") if pk.isdigit()]}
        form = CampaignForm(request.POST or None, initial=initial, firmware=firmware, charge_points=charge_points)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                with transaction.atomic():
                    campaign = firmware_service.firmware_campaign_create(
                        firmware=data["firmware"],
                        charge_points=data["charge_points"],
                        retrieve_at=data["retrieve_at"] or timezone.now(),
                        retries=data["retries"],
                        retry_interval=data["retry_interval"],
                        created_by=request.user,
                        base_url=charger_base_url(request),
                    )
                    firmware_service.firmware_campaign_send_later(campaign_id=campaign.pk)
            except CommandPayloadError as error:
                form.add_error(error.field if error.field in form.fields else None, error.message)
            except firmware_service.FirmwareError as error:
                form.add_error(None, str(error))
            else:
                self.message_user(
                    request,
                    _("The firmware campaign was created; each charger's progress shows below."),
                    messages.SUCCESS,
                )
                return redirect("admin:sessions_app_firmwarecampaign_change", campaign.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Update firmware"),
            "form": form,
            "has_firmware": firmware.exists(),
            "firmware_add_url": reverse("admin:sessions_app_firmware_add"),
        }
        return TemplateResponse(request, "admin/sessions_app/firmwarecampaign/new.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if self.get_object(request, unquote(object_id)) is None:  # the scoped queryset: others' are 404
            raise Http404
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        return [
            path("new/", self.admin_site.admin_view(self.campaign_new_view), name="sessions_app_firmwarecampaign_new"),
            *super().get_urls(),
        ]


@admin.action(description=_("Update firmware..."), permissions=["change"])
def update_firmware(modeladmin, request, queryset):
    """From the charge point list: the new campaign page with the selected chargers ticked."""
    ids = ",".join(str(pk) for pk in queryset.order_by("pk").values_list("pk", flat=True))
    return redirect(f"{reverse('admin:sessions_app_firmwarecampaign_new')}?ids={ids}")
