"""Reservations in the admin: the operator's own, listed and searchable; reserve (charger, connector, card, expiry)
through ``reservations.reservation_create`` (ReserveNow is sent at once), and cancel open ones (CancelReservation).

A reservation is never edited by hand: its status follows the charger and the driver.
"""

from datetime import timedelta
from typing import cast

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.models import IdTag, Organization
from core.admin_scoping import OrganizationScopedAdmin, user_organization
from sessions_app.models import ChargePoint, Connector, Reservation
from sessions_app.reservations import ReservationRefused, refusal_reason, reservation_cancel, reservation_create

#: How long the admin waits for the charger's answer (seconds); tests lower it.
COMMAND_TIMEOUT = 30


class ReserveForm(forms.Form):
    charge_point = forms.ModelChoiceField(label=_("charge point"), queryset=ChargePoint.objects.none())
    connector = forms.ModelChoiceField(
        label=_("connector"),
        queryset=Connector.objects.none(),
        required=False,
        help_text=_("Empty: any connector of the charger (connector 0), if the charger allows it."),
    )
    id_tag = forms.ModelChoiceField(label=_("card"), queryset=IdTag.objects.none())
    expires_at = forms.DateTimeField(label=_("expires"), help_text=_("In the server's time zone."))

    def __init__(self, *args, organization: Organization | None, superuser: bool, **kwargs):
        super().__init__(*args, **kwargs)
        charge_points = ChargePoint.objects.filter(registration_status=ChargePoint.RegistrationStatus.ACCEPTED)
        cards = IdTag.objects.filter(status=IdTag.Status.ACTIVE).select_related("customer_account", "parent")
        if not superuser:
            charge_points = charge_points.filter(organization=organization)
            cards = cards.filter(customer_account__organization=organization)
        cast(forms.ModelChoiceField, self.fields["charge_point"]).queryset = charge_points.order_by("ocpp_id")
        cast(forms.ModelChoiceField, self.fields["connector"]).queryset = Connector.objects.filter(
            charge_point__in=charge_points
        ).select_related("charge_point")
        cast(forms.ModelChoiceField, self.fields["id_tag"]).queryset = cards.order_by("uid")
        self.fields["expires_at"].initial = timezone.now() + timedelta(minutes=settings.RESERVATION_MINUTES)

    def clean(self):
        data = super().clean()
        connector, charge_point = data.get("connector"), data.get("charge_point")
        if connector is not None and charge_point is not None and connector.charge_point_id != charge_point.pk:
            self.add_error("connector", _("That connector belongs to another charger."))
        return data


@admin.register(Reservation)
class ReservationAdmin(OrganizationScopedAdmin):
    organization_path = "charge_point__organization"
    list_display = [
        "id",
        "created_at",
        "charge_point",
        "connector_number",
        "id_tag",
        "status",
        "charger_answer",
        "expires_at",
        "ended_at",
        "session",
        "created_by",
    ]
    list_filter = ["status", ("charge_point__site", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["charge_point", "connector", "id_tag", "session__charge_point", "created_by"]
    search_fields = ["=id", "charge_point__ocpp_id", "id_tag__uid"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "charge_point",
        "connector",
        "id_tag",
        "created_by",
        "status",
        "charger_answer",
        "reason",
        "created_at",
        "expires_at",
        "ended_at",
        "cancelled_by",
        "session",
    ]
    fields = tuple(readonly_fields)
    actions = ["cancel"]

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("connector"), ordering="connector__number")
    def connector_number(self, obj: Reservation):
        return obj.connector.number if obj.connector else _("any")

    @admin.display(description=_("reason"))
    def reason(self, obj: Reservation):
        return refusal_reason(obj)

    def add_view(self, request, form_url="", extra_context=None):
        """Reserve: ReserveNow to the charger at once; the reservation is shown with the charger's answer."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ReserveForm(
            request.POST or None,
            organization=user_organization(request),
            superuser=request.user.is_superuser,
        )
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                reservation = reservation_create(
                    charge_point=data["charge_point"],
                    connector=data["connector"],
                    id_tag=data["id_tag"],
                    created_by=request.user,
                    expires_at=data["expires_at"],
                    now=timezone.now(),
                    timeout=COMMAND_TIMEOUT,
                )
            except ReservationRefused as refused:
                form.add_error(None, refused.message)
            else:
                if reservation.status == Reservation.Status.ACTIVE:
                    self.message_user(request, _("The charger holds the reservation."), messages.SUCCESS)
                else:
                    self.message_user(
                        request,
                        _("The reservation was refused: %(reason)s") % {"reason": refusal_reason(reservation)},
                        messages.ERROR,
                    )
                return redirect(reverse("admin:sessions_app_reservation_change", args=[reservation.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Reserve a connector"),
            "form": form,
            "max_minutes": settings.RESERVATION_MAX_MINUTES,
        }
        return TemplateResponse(request, "admin/sessions_app/reservation/reserve.html", context)

    @admin.action(description=_("Cancel selected reservations"), permissions=["change"])
    def cancel(self, request, queryset):
        cancelled = 0
        for reservation in queryset.filter(status__in=Reservation.OPEN).select_related("charge_point"):
            try:
                reservation_cancel(
                    reservation=reservation, now=timezone.now(), timeout=COMMAND_TIMEOUT, cancelled_by=request.user
                )
            except ReservationRefused:  # it ended meanwhile
                continue
            cancelled += 1
        self.message_user(
            request,
            ngettext("Cancelled %(count)d reservation.", "Cancelled %(count)d reservations.", cancelled)
            % {"count": cancelled},
            messages.SUCCESS if cancelled else messages.INFO,
        )
