"""Diagnostics and logs chargers upload, in the admin (``sessions_app.uploads``).

On the charge point's page (its template, not an inline, so the page's form stays as it was): its latest uploads
(status, size, a download link) and a button to the page where the operator asks for diagnostics, the security log
or the diagnostics log, for an optional period. The uploads' own list is read-only; a file is downloaded through the
scoped list, so another operator's is a 404.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from core.admin_scoping import OrganizationScopedAdmin, ReadOnlyAdminMixin
from sessions_app.models import ChargePoint, ChargerUpload
from sessions_app.ocpp import commands
from sessions_app.ocpp.command_payloads import CommandPayloadError
from sessions_app.server_address import charger_base_url
from sessions_app.uploads import upload_request

#: How long the admin waits for the charger's answer (seconds); tests lower it.
REQUEST_TIMEOUT = 30
#: The request buttons, one per kind of upload.
REQUEST_BUTTONS = [
    (ChargerUpload.Kind.DIAGNOSTICS, _("Request diagnostics")),
    (ChargerUpload.Kind.SECURITY_LOG, _("Request security log")),
    (ChargerUpload.Kind.DIAGNOSTICS_LOG, _("Request diagnostics log")),
]
RECENT = 20


def _size(upload: ChargerUpload) -> str:
    return "" if upload.size is None else f"{upload.size:,}".replace(",", "\u202f")


def _download_link(upload: ChargerUpload):
    if not upload.file:
        return ""
    url = reverse("admin:sessions_app_chargerupload_download", args=[upload.pk])
    return format_html('<a href="{}">{}</a>', url, upload.file_name or _("download"))


class UploadRequestForm(forms.Form):
    """The optional period of the diagnostics or log asked for; the kind comes from the button pressed."""

    kind = forms.ChoiceField(choices=ChargerUpload.Kind.choices, widget=forms.HiddenInput)
    start = forms.DateTimeField(
        label=_("from"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_("Optional: the oldest entries wanted (in the portal's time zone)."),
    )
    stop = forms.DateTimeField(
        label=_("until"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_("Optional: the newest entries wanted."),
    )

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("stop") and data["stop"] < data["start"]:
            self.add_error("stop", _("The end of the period comes before its start."))
        return data


@admin.register(ChargerUpload)
class ChargerUploadAdmin(ReadOnlyAdminMixin, OrganizationScopedAdmin):
    organization_path = "charge_point__organization"
    list_display = [
        "requested_at",
        "charge_point",
        "kind",
        "status",
        "charger_status",
        "file_name",
        "size_bytes",
        "received_at",
        "download",
    ]
    list_filter = ["kind", "status", ("charge_point__site", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["charge_point"]
    search_fields = ["charge_point__ocpp_id", "file_name"]
    date_hierarchy = "requested_at"
    exclude = ["file"]
    readonly_fields = ["download", "size_bytes"]
    show_full_result_count = False

    @admin.display(description=_("size (bytes)"), ordering="size")
    def size_bytes(self, obj):
        return _size(obj)

    @admin.display(description=_("file"))
    def download(self, obj):
        return _download_link(obj)

    def get_urls(self):
        return [
            path(
                "<int:upload_id>/download/",
                self.admin_site.admin_view(self.download_view),
                name="sessions_app_chargerupload_download",
            ),
            path(
                "request/<path:charge_point_id>/",
                self.admin_site.admin_view(self.request_view),
                name="sessions_app_chargepoint_uploads",
            ),
            *super().get_urls(),
        ]

    def download_view(self, request, upload_id):
        """The file, from the operator's own uploads only (another's, or none stored: 404)."""
        upload = self.get_queryset(request).filter(pk=upload_id).first()
        if upload is None or not upload.file:
            raise Http404
        if not self.has_view_permission(request, upload):
            raise PermissionDenied
        try:
            content = upload.file.open("rb")
        except FileNotFoundError as exc:
            raise Http404 from exc
        return FileResponse(
            content,
            as_attachment=True,
            filename=upload.file_name or f"upload-{upload.pk}",
            content_type="application/octet-stream",
        )

    def request_view(self, request, charge_point_id):
        """Ask one of the operator's chargers for diagnostics or a log; list its recent uploads."""
        charge_point_admin = self.admin_site.get_model_admin(ChargePoint)
        charge_point = charge_point_admin.get_object(request, unquote(charge_point_id))  # scoped: others are 404
        if charge_point is None:
            raise Http404
        if not charge_point_admin.has_change_permission(request, charge_point):
            raise PermissionDenied
        form = UploadRequestForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                asked = upload_request(
                    charge_point=charge_point,
                    kind=form.cleaned_data["kind"],
                    requested_by=request.user,
                    start=form.cleaned_data["start"],
                    stop=form.cleaned_data["stop"],
                    now=timezone.now(),
                    base_url=charger_base_url(request),
                    timeout=REQUEST_TIMEOUT,
                )
            except CommandPayloadError as error:
                form.add_error(None, error.message)
            else:
                level, text = _request_message(asked.upload, asked.result)
                self.message_user(request, text, level)
                return redirect("admin:sessions_app_chargepoint_uploads", charge_point.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": charge_point_admin.opts,
            "original": charge_point,
            "charge_point": charge_point,
            "title": _("Diagnostics and logs of %(charger)s") % {"charger": charge_point},
            "form": form,
            "buttons": REQUEST_BUTTONS,
            "online": charge_point.is_online(timezone.now()),
            "uploads": charge_point.uploads.all()[:RECENT],
            "can_view_uploads": request.user.has_perm("sessions_app.view_chargerupload"),
            "timeout": REQUEST_TIMEOUT,
        }
        return TemplateResponse(request, "admin/sessions_app/chargepoint/uploads.html", context)


def _request_message(upload: ChargerUpload, result: commands.CommandResult) -> tuple[int, str]:
    kind = upload.get_kind_display()
    if upload.status != ChargerUpload.Status.REFUSED:
        if upload.file_name:
            text = _("%(kind)s: the charger accepted and will upload %(file)s.") % {
                "kind": kind,
                "file": upload.file_name,
            }
        else:
            text = _("%(kind)s: the charger accepted.") % {"kind": kind}
        return messages.SUCCESS, str(text)
    if result.outcome == "answered" and upload.kind == ChargerUpload.Kind.DIAGNOSTICS:
        text = _("%(kind)s: the charger has no diagnostics to upload.") % {"kind": kind}
    else:
        text = _("%(kind)s: %(outcome)s.") % {"kind": kind, "outcome": commands.outcome_text(result)}
    return messages.WARNING, str(text)
