"""Roaming in the admin: our OCPI party, partners (token A to give, registration with a partner, credentials state,
last successful push per module, errors and the queue of unsent objects with "retry now"), and what was exchanged
(tokens, sessions, CDRs, commands), read-only. Scoped to the operator's own organization."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.admin_scoping import ImmutableAdminMixin, OrganizationScopedAdmin, ReadOnlyAdminMixin, user_organization
from roaming import admin_reconciliation  # noqa: F401 (its page joins the admin's URLs and index)
from roaming.api.versions import versions_url
from roaming.models import Cdr, OperatorParty, Partner, PushItem, RoamingCommand, RoamingSession, RoamingToken
from roaming.ocpi import OcpiError
from roaming.partners import partner_create, partner_register, partner_token_a_renew
from roaming.push import push_retry_now


@admin.register(OperatorParty)
class OperatorPartyAdmin(OrganizationScopedAdmin):
    organization_path = "organization"
    list_display = ["organization", "country_code", "party_id", "website"]


class PartnerAddForm(forms.ModelForm):
    billing_email = forms.EmailField(label=_("settlement email"), help_text=_("Where its monthly settlement goes."))

    class Meta:
        model = Partner
        fields = ["organization", "name", "role", "realtime_authorization"]


class PushInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = PushItem
    verbose_name_plural = _("Waiting to be sent")
    fields = readonly_fields = ("module", "key", "method", "attempts", "next_attempt_at", "last_error")
    extra = 0
    can_delete = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[PushItem]:
        return super().get_queryset(request).filter(status=PushItem.Status.PENDING)


class RegisterForm(forms.Form):
    versions_url = forms.URLField(label=_("the partner's versions URL"), max_length=500, assume_scheme="https")
    token_a = forms.CharField(
        label=_("the token A it gave you"), max_length=64, required=False, help_text=_("Not needed to update.")
    )


#: What a partner's page shows beside what the operator edits.
SHOWN = [
    "party",
    "state",
    "versions_url",
    "version",
    "endpoint_list",
    "last_pushes",
    "registered_at",
    "customer_account",
    "customer_group",
    "actions_offered",
]


@admin.register(Partner)
class PartnerAdmin(OrganizationScopedAdmin):
    organization_path = "organization"
    list_display = ["name", "role", "party", "state", "registered_at", "waiting", "last_error"]
    list_filter = ["state", "role"]
    search_fields = ["name", "party_id"]
    inlines = [PushInline]
    actions = ["retry_now", "new_token_a"]
    readonly_fields = SHOWN
    fields = ["organization", "name", "role", "realtime_authorization", *SHOWN]

    def get_form(self, request: HttpRequest, obj: Partner | None = None, change: bool = False, **kwargs: Any):
        if obj is None:
            kwargs["form"] = PartnerAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Partner | None = None) -> Any:
        if obj is None:
            return ["organization", "name", "role", "billing_email", "realtime_authorization"]
        return self.fields

    def get_readonly_fields(self, request: HttpRequest, obj: Partner | None = None) -> Any:
        return self.readonly_fields if obj is not None else []

    def get_inlines(self, request: HttpRequest, obj: Partner | None = None) -> list:
        return self.inlines if obj is not None else []

    def get_queryset(self, request: HttpRequest) -> QuerySet[Partner]:
        return (
            super()
            .get_queryset(request)
            .annotate(waiting_count=Count("pushes", filter=Q(pushes__status=PushItem.Status.PENDING)))
        )

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        if not request.user.is_superuser and obj.organization != user_organization(request):
            raise PermissionDenied
        created = partner_create(
            organization=obj.organization,
            name=obj.name,
            role=obj.role,
            billing_email=form.cleaned_data["billing_email"],
            realtime_authorization=obj.realtime_authorization,
        )
        obj.pk = created.pk
        self._token_a_message(request, created)

    def _token_a_message(self, request: HttpRequest, partner: Partner) -> None:
        messages.warning(
            request,
            format_html(
                gettext("Give {partner} our versions URL {url} and its token A {token} (shown once here)."),
                partner=partner.name,
                url=versions_url(request),
                token=partner.incoming_token,
            ),
        )

    @admin.display(description=_("party"))
    def party(self, partner: Partner) -> str:
        return f"{partner.country_code}*{partner.party_id}" if partner.party_id else "-"

    @admin.display(description=_("waiting"), ordering="waiting_count")
    def waiting(self, partner: Partner) -> int:
        return getattr(partner, "waiting_count", 0)

    @admin.display(description=_("last error"))
    def last_error(self, partner: Partner) -> str:
        failing = partner.pushes.filter(status=PushItem.Status.PENDING).exclude(last_error="")
        item = failing.order_by("-next_attempt_at").first()
        return item.last_error[:120] if item else ""

    @admin.display(description=_("endpoints"))
    def endpoint_list(self, partner: Partner) -> str:
        rows = [
            (module, role, url) for module, roles in sorted(partner.endpoints.items()) for role, url in roles.items()
        ]
        return format_html_join("", "<div>{} ({}): {}</div>", rows) or "-"

    @admin.display(description=_("last successful push"))
    def last_pushes(self, partner: Partner) -> str:
        return format_html_join("", "<div>{}: {}</div>", sorted(partner.last_push.items())) or "-"

    @admin.display(description=_("actions"))
    def actions_offered(self, partner: Partner) -> str:
        url = reverse("admin:roaming_partner_register", args=[partner.pk])
        label = _("Update our credentials") if partner.state == Partner.State.REGISTERED else _("Register with it")
        reconciliation = reverse("admin:roaming_cdr_reconciliation") + f"?partner={partner.pk}"
        return format_html(
            '<a href="{}">{}</a> · <a href="{}">{}</a>', url, label, reconciliation, _("CDR reconciliation")
        )

    def get_urls(self):
        register = self.admin_site.admin_view(self.register_view)
        return [path("<int:pk>/register/", register, name="roaming_partner_register"), *super().get_urls()]

    def register_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """We register with the partner (or update our credentials there): its versions URL and the token A it
        gave us."""
        partner = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.has_change_permission(request, partner):
            raise PermissionDenied
        form = RegisterForm(request.POST or None, initial={"versions_url": partner.versions_url})
        if request.method == "POST" and form.is_valid():
            try:
                partner_register(
                    partner=partner,
                    versions_url=form.cleaned_data["versions_url"],
                    token_a=form.cleaned_data["token_a"],
                    our_versions_url=versions_url(request),
                )
            except OcpiError as error:
                form.add_error(None, error.message)
            else:
                messages.success(request, _("Registered with %(partner)s.") % {"partner": partner.name})
                return HttpResponseRedirect(reverse("admin:roaming_partner_change", args=[partner.pk]))
        context = {**self.admin_site.each_context(request), "form": form, "partner": partner, "opts": self.opts}
        return TemplateResponse(request, "admin/roaming/partner_register.html", context)

    @admin.action(description=_("Send what waits now"))
    def retry_now(self, request: HttpRequest, queryset: QuerySet[Partner]) -> None:
        sent = sum(push_retry_now(partner=partner) for partner in queryset)
        self.message_user(request, _("%(sent)s sent and acknowledged.") % {"sent": sent})

    @admin.action(description=_("Give a new token A (partners yet to register)"))
    def new_token_a(self, request: HttpRequest, queryset: QuerySet[Partner]) -> None:
        for partner in queryset.exclude(state=Partner.State.REGISTERED):
            partner_token_a_renew(partner=partner)
            self._token_a_message(request, partner)


class _ExchangedAdmin(ImmutableAdminMixin, OrganizationScopedAdmin):
    organization_path = "partner__organization"


@admin.register(RoamingToken)
class RoamingTokenAdmin(_ExchangedAdmin):
    list_display = ["uid", "type", "partner", "contract_id", "whitelist", "valid", "authorized_until", "last_updated"]
    list_filter = ["partner", "whitelist", "valid"]
    search_fields = ["uid", "contract_id"]


@admin.register(RoamingSession)
class RoamingSessionAdmin(_ExchangedAdmin):
    list_display = ["session", "partner", "token", "authorization_reference"]
    list_filter = ["partner"]


@admin.register(Cdr)
class CdrAdmin(_ExchangedAdmin):
    list_display = ["ocpi_id", "session", "partner", "version", "credit", "created_at", "acknowledged_at"]
    list_filter = ["partner", "credit"]
    search_fields = ["ocpi_id"]


@admin.register(RoamingCommand)
class RoamingCommandAdmin(_ExchangedAdmin):
    list_display = ["command", "partner", "result", "received_at", "result_sent_at"]
    list_filter = ["partner", "command", "result"]
