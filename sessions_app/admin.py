import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core.admin_scoping import OrganizationScopedAdmin, OrganizationScopedMixin, ReadOnlyAdminMixin
from sessions_app import (
    admin_card_search,
    admin_charge_point_list,
    admin_device_model,
    admin_load,  # noqa: F401 - registers LoadGroupAdmin (load management)
    admin_reservations,  # noqa: F401 - registers ReservationAdmin
    admin_uploads,  # noqa: F401 - registers ChargerUploadAdmin (diagnostics and logs)
    hooks,
)
from sessions_app import admin_session_page as session_page
from sessions_app.admin_firmware import update_firmware
from sessions_app.admin_local_list import local_list_status_display, resend_local_list
from sessions_app.admin_security import AlertingFilter, alerting, rotate_password
from sessions_app.admin_signed_meter import SignedMeterValueInline, meter_public_key_clean
from sessions_app.evse import evse_pairs_taken_twice
from sessions_app.forms import ChargerCommandForm, command_form_initial
from sessions_app.local_list import local_list_sent_by_hand
from sessions_app.models import (
    ChargePoint,
    ChargerCommand,
    ChargerEvent,
    ChargingSession,
    Connector,
    MeterValue,
    SecurityEvent,
    SessionFlag,
    Site,
    StatusEvent,
    TransactionEvent,
)
from sessions_app.ocpp import commands
from sessions_app.services import charge_points_approve, session_flags_resolve
from sessions_app.signed_meter import signed_meter_values_verify


class ChargePointInline(OrganizationScopedMixin, admin.TabularInline):
    model = ChargePoint
    fields = ["ocpp_id", "name", "registration_status", "last_seen_at"]
    readonly_fields = ["last_seen_at"]
    extra = 0
    show_change_link = True


@admin.register(Site)
class SiteAdmin(OrganizationScopedAdmin):
    organization_path = "organization"
    list_display = ["name", "organization", "city", "country", "time_zone", "charge_point_count", "created_at"]
    list_filter = [("organization", admin.RelatedOnlyFieldListFilter), "country"]
    list_select_related = ["organization"]
    search_fields = ["name", "street", "city", "postal_code"]
    date_hierarchy = "created_at"
    inlines = [ChargePointInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(charge_point_count=Count("charge_points"))

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and form.changed_data:
            hooks.sites_changed([obj.pk])  # roaming partners are sent the site's Location

    @admin.display(description=_("charge points"), ordering="charge_point_count")
    def charge_point_count(self, obj):
        return obj.charge_point_count


class ConnectorForm(forms.ModelForm):
    """A connector's place on an OCPP 2.0.1 EVSE (``sessions_app.evse``): both numbers, or neither."""

    def clean(self):
        data = super().clean()
        evse_id, evse_connector_id = data.get("evse_id"), data.get("evse_connector_id")
        if self.has_error("evse_id") or self.has_error("evse_connector_id"):
            return data
        if evse_id is not None and evse_connector_id is None:
            self.add_error("evse_connector_id", _("Which connector of the EVSE is it? Give both numbers, or neither."))
        elif evse_id is None and evse_connector_id is not None:
            self.add_error("evse_id", _("Which EVSE is it on? Give both numbers, or neither."))
        return data


class ConnectorFormSet(forms.BaseInlineFormSet):
    """A station's connectors: no two may be the same connector of the same EVSE."""

    def clean(self):
        super().clean()
        kept = [
            form.cleaned_data
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE") and form.cleaned_data.get("number")
        ]
        taken_twice = evse_pairs_taken_twice(
            (data["number"], data.get("evse_id"), data.get("evse_connector_id")) for data in kept
        )
        if taken_twice:
            raise forms.ValidationError(
                [
                    _(
                        "Two connectors would be EVSE %(evse)d's connector %(connector)d (a connector with no EVSE "
                        "given is connector 1 of the EVSE numbered as itself)."
                    )
                    % {"evse": evse, "connector": connector}
                    for evse, connector in taken_twice
                ]
            )


class ConnectorInline(admin.TabularInline):
    model = Connector
    form = ConnectorForm
    formset = ConnectorFormSet
    fields = [
        "number",
        "connector_type",
        "max_power_kw",
        "phases",
        "evse_id",
        "evse_connector_id",
        "status",
        "error_code",
        "status_changed_at",
    ]
    readonly_fields = ["status", "error_code", "status_changed_at"]
    extra = 0


class ChargePointForm(forms.ModelForm):
    new_password = forms.CharField(
        label=_("new password"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("The HTTP Basic password the charger presents. Leave empty to keep the current one."),
    )
    clear_password = forms.BooleanField(
        label=_("remove password"),
        required=False,
        help_text=_("The charger then connects without a password."),
    )

    class Meta:
        model = ChargePoint
        fields = [
            "organization",
            "site",
            "ocpp_id",
            "name",
            "vendor",
            "model",
            "serial_number",
            "firmware_version",
            "registration_status",
            "local_auth_list",
            "security_profile",
            "meter_public_key",
        ]
        help_texts = {
            "security_profile": _(
                "What the charger must present to connect; it is never let in with less. 0: nothing (not "
                "recommended). 1: the HTTP Basic password below. 2: the password, over TLS only (wss://; the server "
                "needs OCPP_TLS_CERT_FILE and OCPP_TLS_KEY_FILE). 3: TLS with a client certificate issued by the "
                "operator's CA (OCPP_CA_CERT_FILE) for the OCPP identity as its CN; no password."
            )
        }

    def clean_meter_public_key(self):
        return meter_public_key_clean(self.cleaned_data.get("meter_public_key") or "")

    def clean(self):
        data = super().clean()
        if data.get("new_password") and data.get("clear_password"):
            raise forms.ValidationError(_("Either set a new password or remove it, not both."))
        keeps_password = data.get("new_password") or (self.instance.password_hash and not data.get("clear_password"))
        needs_password = (ChargePoint.SecurityProfile.BASIC, ChargePoint.SecurityProfile.BASIC_TLS)
        if data.get("security_profile") in needs_password and not keeps_password:
            self.add_error("security_profile", _("Security profiles 1 and 2 need a password: set one."))
        return data

    def save(self, commit=True):
        if self.cleaned_data.get("clear_password"):
            self.instance.set_password(None)
        elif self.cleaned_data.get("new_password"):
            self.instance.set_password(self.cleaned_data["new_password"])
        return super().save(commit)


#: How long the admin waits for a charger's answer to a command (seconds); tests lower it.
COMMAND_TIMEOUT = 30


@admin.register(ChargePoint)
class ChargePointAdmin(OrganizationScopedAdmin):
    organization_path = "organization"
    form = ChargePointForm
    # Compact columns (sessions_app.admin_charge_point_list): online, last seen and connectors fit 1366 px.
    list_display = admin_charge_point_list.LIST_DISPLAY
    last_seen = admin_charge_point_list.last_seen
    connectors = admin_charge_point_list.connectors
    hardware = admin_charge_point_list.hardware
    list_filter = [
        "registration_status",
        ("organization", admin.RelatedOnlyFieldListFilter),
        ("site", admin.RelatedOnlyFieldListFilter),
        "vendor",
    ]
    list_select_related = ["site", "organization"]
    search_fields = ["ocpp_id", "name", "serial_number", "site__name"]
    autocomplete_fields = ["site"]
    readonly_fields = [
        "has_password",
        "is_online",
        "last_seen_at",
        "connected_at",
        "last_boot_at",
        "last_boot_reason",
        "heartbeat_interval",
        "ocpp_protocol",
        "created_at",
        "local_list_status",
        "local_list_max_length",
        "send_local_list_max_length",
        "device_model",
    ]
    fieldsets = [
        (None, {"fields": ["organization", "site", "ocpp_id", "name", "registration_status"]}),
        (_("Hardware"), {"fields": ["vendor", "model", "serial_number", "firmware_version", "meter_public_key"]}),
        (_("Charger password"), {"fields": ["security_profile", "has_password", "new_password", "clear_password"]}),
        (
            _("Local authorization list"),
            {"fields": ["local_auth_list", "local_list_status", "local_list_max_length", "send_local_list_max_length"]},
        ),
        (
            _("Connection"),
            {
                "fields": [
                    "is_online",
                    "last_seen_at",
                    "connected_at",
                    "ocpp_protocol",
                    "device_model",
                    "last_boot_at",
                    "last_boot_reason",
                    "heartbeat_interval",
                    "created_at",
                ]
            },
        ),
    ]
    inlines = [ConnectorInline]
    actions = ["approve", "send_command", rotate_password, update_firmware]
    change_form_template = "admin/sessions_app/chargepoint/change_form.html"
    # The local authorization list (sessions_app.admin_local_list): its state on the page, and "send it again".
    actions = [*actions, resend_local_list]
    local_list_status = local_list_status_display
    device_model = admin_device_model.device_model_link

    def get_queryset(self, request):
        return (
            super().get_queryset(request).annotate(connector_count=Count("connectors")).prefetch_related("connectors")
        )

    def get_list_display(self, request):
        shown = list(super().get_list_display(request))
        return [*shown[:2], "organization", *shown[2:]] if request.user.is_superuser else shown

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "meter_public_key" in form.changed_data:  # what was kept is verified with the new key
            signed_meter_values_verify(charge_point=obj)

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        # A charger never moves to another operator; it is chosen once, when it is added.
        return [*readonly, "organization"] if obj is not None else readonly

    @admin.display(description=_("online"), boolean=True, ordering="last_seen_at")
    def is_online(self, obj):
        return obj.is_online(timezone.now())

    @admin.display(description=_("connectors"), ordering="connector_count")
    def connector_count(self, obj):
        return obj.connector_count

    @admin.display(description=_("password set"), boolean=True)
    def has_password(self, obj):
        return bool(obj.password_hash)

    @admin.action(description=_("Approve selected pending chargers"), permissions=["change"])
    def approve(self, request, queryset):
        approved = charge_points_approve(charge_points=queryset)
        skipped = queryset.filter(registration_status=ChargePoint.RegistrationStatus.PENDING).count()
        if approved:
            self.message_user(
                request,
                ngettext(
                    "Approved %(count)d charger.",
                    "Approved %(count)d chargers.",
                    approved,
                )
                % {"count": approved},
                messages.SUCCESS,
            )
        if skipped:
            self.message_user(
                request,
                ngettext(
                    "%(count)d pending charger has no site yet: choose its site first.",
                    "%(count)d pending chargers have no site yet: choose their sites first.",
                    skipped,
                )
                % {"count": skipped},
                messages.WARNING,
            )
        if not approved and not skipped:
            self.message_user(request, _("None of the selected chargers is pending."), messages.INFO)

    @admin.action(description=_("Send a command to the selected charger"), permissions=["change"])
    def send_command(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, _("Select exactly one charger to send a command to."), messages.WARNING)
            return None
        return redirect("admin:sessions_app_chargepoint_commands", queryset.get().pk)

    def get_urls(self):
        return [
            path(
                "<path:object_id>/commands/",
                self.admin_site.admin_view(self.commands_view),
                name="sessions_app_chargepoint_commands",
            ),
            *super().get_urls(),
        ]

    def commands_view(self, request, object_id):
        """Send one OCPP command to one of the operator's own chargers and show its answer."""
        charge_point = self.get_object(request, unquote(object_id))  # the scoped queryset: others are 404
        if charge_point is None:
            raise Http404
        if not self.has_change_permission(request, charge_point):
            raise PermissionDenied
        form = ChargerCommandForm(
            request.POST or None, charge_point=charge_point, initial=command_form_initial(request.GET)
        )
        admin_card_search.card_search(form)  # a search box, not a drop-down of every card
        result = action = None
        if request.method == "POST" and form.is_valid():
            action = form.cleaned_data["action"]
            result = commands.command_send(charge_point, action, form.payload(), timeout=COMMAND_TIMEOUT)
            if action == "SendLocalList" and result.outcome != "offline":
                local_list_sent_by_hand(charge_point_id=charge_point.pk)
        details = {key: value for key, value in (result.payload if result else {}).items() if key != "status"}
        history = [
            (
                sent,
                commands.outcome_text(
                    commands.CommandResult(sent.outcome, sent.answer, sent.error_code, sent.error_description)
                ),
            )
            for sent in charge_point.commands.all()[:10]
        ]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": charge_point,
            "charge_point": charge_point,
            "title": _("Commands to %(charger)s") % {"charger": charge_point},
            "form": form,
            "action": action,
            "result": result,
            # the outcome in commands.outcome_text's words, the same as every other page that reports a command
            "outcome": f"{capfirst(commands.outcome_text(result))}." if result else "",
            "online": charge_point.is_online(timezone.now()),
            "answer_details": json.dumps(details, indent=2) if details else "",
            "history": history,
        }
        return TemplateResponse(request, "admin/sessions_app/chargepoint/commands.html", context)


@admin.register(Connector)
class ConnectorAdmin(OrganizationScopedAdmin):
    organization_path = "charge_point__organization"
    form = ConnectorForm
    list_display = [
        "__str__",
        "charge_point",
        "number",
        "connector_type",
        "max_power_kw",
        "status",
        "error_code",
        "status_changed_at",
    ]
    list_filter = ["status", "error_code", "connector_type", ("charge_point__site", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["charge_point"]
    search_fields = ["charge_point__ocpp_id", "charge_point__name"]
    autocomplete_fields = ["charge_point"]
    readonly_fields = ["status", "error_code", "status_changed_at"]


class SessionFlagInline(admin.TabularInline):
    model = SessionFlag
    fields = readonly_fields = ("code", "detail", "created_at", "resolved_at")
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class TransactionEventInline(admin.TabularInline):
    """An OCPP 2.0.1 session's events as received, in the charger's order: what its start, card and stop came
    from (``sessions_app.transaction_events``)."""

    model = TransactionEvent
    fields = readonly_fields = (
        "seq_no",
        "event_type",
        "trigger_reason",
        "timestamp",
        "charging_state",
        "stopped_reason",
        "offline",
        "id_token",
        "energy_register_wh",
        "received_at",
    )
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ChargingSession)
class ChargingSessionAdmin(ReadOnlyAdminMixin, OrganizationScopedAdmin):
    organization_path = "charge_point__organization"
    list_display = [
        "id",
        "started_at",
        "stopped_at",
        "charge_point",
        "connector__number",
        "id_tag_uid",
        "customer_account",
        "state",
        "energy_kwh",
        "stop_reason",
        "auth_status",
    ]
    list_filter = ["state", "stop_reason", "auth_status", ("charge_point__site", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["charge_point", "connector", "customer_account"]
    search_fields = ["=id", "id_tag_uid", "charge_point__ocpp_id", "customer_account__name", "=charger_transaction_id"]
    date_hierarchy = "started_at"
    show_full_result_count = False
    inlines = [SessionFlagInline, TransactionEventInline, SignedMeterValueInline]
    # The page (sessions_app.admin_session_page): local times with the zone, kWh, the parts higher apps add
    # (curve, price) and a stop button while the session runs.
    fields = readonly_fields = tuple(session_page.SESSION_FIELDS)
    change_form_template = "admin/sessions_app/chargingsession/change_form.html"

    @admin.display(description=_("energy (kWh)"), ordering="energy_wh")
    def energy_kwh(self, obj):
        return None if obj.energy_wh is None else f"{obj.energy_wh / 1000:.3f}"

    @admin.display(description=_("started"))
    def started_local(self, obj):
        return session_page.local_time_display(obj.started_at, obj)

    @admin.display(description=_("stopped"))
    def stopped_local(self, obj):
        return session_page.local_time_display(obj.stopped_at, obj)

    @admin.display(description=_("start time as sent"))
    def charger_started_local(self, obj):
        return session_page.local_time_display(obj.charger_started_at, obj)

    @admin.display(description=_("stop time as sent"))
    def charger_stopped_local(self, obj):
        return session_page.local_time_display(obj.charger_stopped_at, obj)

    @admin.display(description=_("received"))
    def created_local(self, obj):
        return session_page.local_time_display(obj.created_at, obj)

    @admin.display(description=_("energy"))
    def energy_display(self, obj):
        return session_page.kwh_display(obj.energy_wh)

    @admin.display(description=_("meter at start"))
    def meter_start_display(self, obj):
        return session_page.kwh_display(obj.meter_start_wh)

    @admin.display(description=_("meter at stop"))
    def meter_stop_display(self, obj):
        return session_page.kwh_display(obj.meter_stop_wh)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        session = self.get_object(request, unquote(object_id))
        extra = dict(extra_context or {})
        if session is not None:
            label = session_page.session_label(session)
            extra.update(
                subtitle=label,
                session_label=label,
                session_panels=session_page.session_panels(request, session),
                can_stop=session_page.stop_allowed(request, session),
            )
        return super().change_view(request, object_id, form_url, extra)

    def get_urls(self):
        return [
            path(
                "<path:object_id>/stop/",
                self.admin_site.admin_view(self.stop_view),
                name="sessions_app_chargingsession_stop",
            ),
            *super().get_urls(),
        ]

    def stop_view(self, request, object_id):
        """RemoteStopTransaction for one of the operator's own running sessions (POST only)."""
        session = self.get_object(request, unquote(object_id))  # the scoped queryset: others are 404
        if session is None:
            raise Http404
        if request.method != "POST" or not session_page.stop_allowed(request, session):
            raise PermissionDenied
        station = session.charge_point
        result = commands.command_send(
            station, "RemoteStopTransaction", {"transaction_id": session.pk}, timeout=COMMAND_TIMEOUT
        )
        if result.outcome == "answered":
            level = messages.SUCCESS if result.status == "Accepted" else messages.WARNING
        else:
            level = messages.ERROR
        told = session_page.STOP_TOLD % {"station": station, "outcome": commands.outcome_text(result)}
        self.message_user(request, told, level)
        return redirect("admin:sessions_app_chargingsession_change", session.pk)


@admin.register(SessionFlag)
class SessionFlagAdmin(OrganizationScopedAdmin):
    organization_path = "session__charge_point__organization"
    list_display = ["code", "session", "created_at", "resolved_at"]
    list_filter = ["code", ("resolved_at", admin.EmptyFieldListFilter)]
    list_select_related = ["session__charge_point"]
    search_fields = ["=session__id", "session__id_tag_uid", "session__charge_point__ocpp_id", "detail"]
    date_hierarchy = "created_at"
    readonly_fields = ["session", "code", "detail", "created_at", "resolved_at"]
    actions = ["mark_resolved"]

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Mark selected flags resolved"), permissions=["change"])
    def mark_resolved(self, request, queryset):
        count = session_flags_resolve(flags=queryset, at=timezone.now())
        self.message_user(
            request,
            ngettext(
                "Resolved %(count)d flag.",
                "Resolved %(count)d flags.",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )


@admin.register(MeterValue)
class MeterValueAdmin(ReadOnlyAdminMixin, OrganizationScopedAdmin):
    organization_path = "charge_point__organization"
    list_display = [
        "timestamp",
        "charge_point",
        "connector",
        "session",
        "measurand",
        "phase",
        "value",
        "unit",
        "context",
        "charger_timestamp",
    ]
    list_filter = ["measurand", "context", "unit", ("charger_timestamp", admin.EmptyFieldListFilter)]
    list_select_related = ["charge_point", "connector__charge_point", "session__charge_point"]
    search_fields = ["=session__id", "charge_point__ocpp_id"]
    date_hierarchy = "timestamp"
    show_full_result_count = False


@admin.register(StatusEvent)
class StatusEventAdmin(ReadOnlyAdminMixin, OrganizationScopedAdmin):
    organization_path = "charge_point__organization"
    list_display = [
        "timestamp",
        "charge_point",
        "connector",
        "status",
        "error_code",
        "info",
        "vendor_error_code",
        "received_at",
        "charger_timestamp",
    ]
    list_filter = ["status", "error_code", ("charger_timestamp", admin.EmptyFieldListFilter)]
    list_select_related = ["charge_point", "connector__charge_point"]
    search_fields = ["charge_point__ocpp_id", "info", "vendor_error_code"]
    date_hierarchy = "timestamp"
    show_full_result_count = False


@admin.register(SecurityEvent)
class SecurityEventAdmin(ReadOnlyAdminMixin, OrganizationScopedAdmin):
    """Who tried to connect as a charger. Superusers also see attempts nobody could be told of."""

    organization_path = "organization"
    list_display = [
        "created_at",
        "kind",
        "event_type",
        alerting,
        "ocpp_id",
        "charge_point",
        "organization",
        "remote_address",
        "detail",
        "count",
        "last_at",
    ]
    list_filter = ["kind", AlertingFilter, "event_type", ("organization", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["charge_point", "organization"]
    search_fields = ["ocpp_id", "remote_address", "event_type", "detail"]
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(ChargerCommand)
class ChargerCommandAdmin(ReadOnlyAdminMixin, OrganizationScopedAdmin):
    organization_path = "charge_point__organization"
    list_display = ["sent_at", "charge_point", "action", "outcome", "status"]
    list_filter = ["action", "outcome", ("charge_point__site", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["charge_point"]
    search_fields = ["charge_point__ocpp_id", "action", "status"]
    date_hierarchy = "sent_at"
    show_full_result_count = False


@admin.register(ChargerEvent)
class ChargerEventAdmin(ReadOnlyAdminMixin, OrganizationScopedAdmin):
    organization_path = "charge_point__organization"
    list_display = ["received_at", "charge_point", "kind", "status", "vendor_id", "message_id"]
    list_filter = ["kind", "status", ("charge_point__site", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["charge_point"]
    search_fields = ["charge_point__ocpp_id", "vendor_id", "message_id", "data"]
    date_hierarchy = "received_at"
    show_full_result_count = False
