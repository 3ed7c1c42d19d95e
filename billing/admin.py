"""Operator admin for tariffs, where they apply, customer groups, frozen prices and credit notes.

A tariff is edited on one page: its elements inline, each with its prices (one per
component type) as fields of the element's form.
"""

from decimal import Decimal

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from billing import (
    admin_payments,  # noqa: F401  (payment accounts, the ledger, booking by hand)
    admin_reports,  # noqa: F401  (the revenue and reconciliation pages)
    admin_statements,  # noqa: F401  (statements: the list, their PDFs, sending again, producing one)
)
from billing.admin_tariff_form import VatPercentField, lead_to_assignment
from billing.models import (
    RESERVATION_COMPONENT_TYPES,
    WEEKDAYS,
    CreditNote,
    CustomerGroup,
    CustomerGroupMembership,
    PriceComponent,
    ReservationPrice,
    SessionPrice,
    Tariff,
    TariffAssignment,
    TariffElement,
    days_of_week_format,
    days_of_week_parse,
)
from billing.selectors import session_credit_available
from billing.services import (
    TARIFF_ELEMENT_FIELDS,
    credit_note_issue,
    tariff_assignment_overlap_check,
    tariff_element_components_set,
    tariff_revise,
)
from core.admin_scoping import ImmutableAdminMixin, OrganizationScopedAdmin, OrganizationScopedMixin, user_organization

ORGANIZATION_FILTER = ("organization", admin.RelatedOnlyFieldListFilter)

#: Component type -> (price field, step field or None) on the element form.
COMPONENT_FIELDS = {
    PriceComponent.Type.ENERGY: ("energy_price", "energy_step"),
    PriceComponent.Type.TIME: ("time_price", "time_step"),
    PriceComponent.Type.PARKING_TIME: ("parking_price", "parking_step"),
    PriceComponent.Type.FLAT: ("flat_price", None),
}


def _price_field(label):
    return forms.DecimalField(label=label, required=False, min_value=Decimal(0), max_digits=12, decimal_places=4)


def _step_field(label, help_text):
    return forms.IntegerField(label=label, required=False, min_value=1, help_text=help_text)


class TariffElementForm(forms.ModelForm):
    days_of_week = forms.TypedMultipleChoiceField(
        label=_("days of week"),
        choices=WEEKDAYS,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every day."),
    )
    energy_price = _price_field(_("price per kWh"))
    energy_step = _step_field(_("energy step (Wh)"), _("Empty: 1 Wh."))
    time_price = _price_field(_("price per hour charging"))
    time_step = _step_field(_("charging time step (s)"), _("Empty: 1 second."))
    parking_price = _price_field(_("price per hour parked"))
    parking_step = _step_field(_("parking time step (s)"), _("Empty: 1 second."))
    flat_price = _price_field(_("flat fee per session"))

    class Meta:
        model = TariffElement
        fields = list(TARIFF_ELEMENT_FIELDS)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["days_of_week"] = sorted(days_of_week_parse(self.instance.days_of_week) or ())
            for component in self.instance.components.all():
                price_field, step_field = COMPONENT_FIELDS[component.type]
                self.initial[price_field] = component.price
                if step_field:
                    self.initial[step_field] = component.step_size

    def clean_days_of_week(self) -> str:
        return days_of_week_format(self.cleaned_data["days_of_week"])

    def clean(self):
        cleaned = super().clean()
        if all(cleaned.get(price_field) is None for price_field, _step in COMPONENT_FIELDS.values()):
            raise ValidationError(_("Give at least one price for this element."), code="no_components")
        if cleaned.get("reservation"):
            for component_type, (price_field, _step) in COMPONENT_FIELDS.items():
                if component_type not in RESERVATION_COMPONENT_TYPES and cleaned.get(price_field) is not None:
                    self.add_error(
                        price_field,
                        _("A reservation element has a flat fee and a price per hour reserved only."),
                    )
        return cleaned

    def component_prices(self) -> dict:
        prices = {}
        for component_type, (price_field, step_field) in COMPONENT_FIELDS.items():
            price = self.cleaned_data.get(price_field)
            step = (self.cleaned_data.get(step_field) if step_field else None) or 1
            prices[component_type] = None if price is None else (price, step)
        return prices

    def save(self, commit=True):
        element = super().save(commit=commit)
        if commit:
            tariff_element_components_set(element=element, prices=self.component_prices())
        return element


class TariffElementInline(admin.StackedInline):
    model = TariffElement
    form = TariffElementForm
    extra = 0
    min_num = 1  # a tariff without a price element would price everything at nothing
    validate_min = True
    fieldsets = [
        (None, {"fields": ["position", "reservation"]}),
        (
            _("When it applies"),
            {
                "fields": [
                    ("start_time", "end_time"),
                    "days_of_week",
                    ("min_kwh", "max_kwh"),
                    ("min_duration_minutes", "max_duration_minutes"),
                    ("min_power_kw", "max_power_kw"),
                ]
            },
        ),
        (
            _("Prices"),
            {
                "fields": [
                    ("energy_price", "energy_step"),
                    ("time_price", "time_step"),
                    ("parking_price", "parking_step"),
                    "flat_price",
                ]
            },
        ),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("components")


class TariffForm(forms.ModelForm):
    # Entered in per cent (billing.admin_tariff_form); the model keeps the rate (0.25).
    vat_rate = VatPercentField()

    class Meta:
        model = Tariff
        fields = [
            "organization",
            "name",
            "valid_from",
            "valid_until",
            "currency",
            "vat_rate",
            "prices_include_vat",
            "min_price",
            "max_price",
            "parking_grace_minutes",
        ]

    def clean(self):
        cleaned = super().clean()
        valid_from, valid_until = cleaned.get("valid_from"), cleaned.get("valid_until")
        if self.instance.pk and valid_from and (valid_until is None or valid_until > valid_from):
            for assignment in self.instance.assignments.select_related("tariff"):
                tariff_assignment_overlap_check(assignment=assignment, validity=(valid_from, valid_until))
        return cleaned


@admin.register(Tariff)
class TariffAdmin(OrganizationScopedAdmin):
    organization_path = "organization"
    form = TariffForm
    list_display = [
        "name",
        "organization",
        "currency",
        "prices_include_vat",
        "valid_from",
        "valid_until",
        "element_count",
        "assignment_count",
    ]
    list_filter = [ORGANIZATION_FILTER, "currency", "prices_include_vat"]
    list_select_related = ["organization"]
    search_fields = ["name"]
    date_hierarchy = "valid_from"
    ordering = ["name", "-valid_from"]
    fieldsets = [
        (None, {"fields": ["organization", "name"]}),
        (_("Validity"), {"fields": [("valid_from", "valid_until")]}),
        (
            _("Money"),
            {
                "fields": [
                    "currency",
                    "vat_rate",
                    "prices_include_vat",
                    ("min_price", "max_price"),
                    "parking_grace_minutes",
                ]
            },
        ),
    ]
    inlines = [TariffElementInline]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                element_count=Count("elements", distinct=True),
                assignment_count=Count("assignments", distinct=True),
            )
        )

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        tariff_revise(tariff_id=form.instance.pk)  # elements may have changed or gone, and its fields with them

    def response_add(self, request, obj, post_url_continue=None):
        plain_save = not {"_continue", "_addanother", "_popup"} & set(request.POST)
        if plain_save and self.has_view_or_change_permission(request, obj):
            redirect_to = lead_to_assignment(request, obj, added=True)
            if redirect_to is not None:
                return redirect_to
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        lead_to_assignment(request, obj, added=False)
        return super().response_change(request, obj)

    @admin.display(description=_("elements"), ordering="element_count")
    def element_count(self, obj):
        return obj.element_count

    @admin.display(description=_("assigned to"), ordering="assignment_count")
    def assignment_count(self, obj):
        return obj.assignment_count


class TariffAssignmentForm(forms.ModelForm):
    class Meta:
        model = TariffAssignment
        fields = ["tariff", "site", "charge_point", "connector", "customer_group"]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("tariff") is None:
            return cleaned
        candidate = TariffAssignment(pk=self.instance.pk, **{name: cleaned.get(name) for name in self.Meta.fields})
        tariff_assignment_overlap_check(assignment=candidate)
        return cleaned


@admin.register(TariffAssignment)
class TariffAssignmentAdmin(OrganizationScopedAdmin):
    organization_path = "tariff__organization"
    form = TariffAssignmentForm
    list_display = [
        "tariff",
        "scope",
        "site",
        "charge_point",
        "connector",
        "customer_group",
        "valid_from",
        "valid_until",
    ]
    list_filter = [
        ("tariff__organization", admin.RelatedOnlyFieldListFilter),
        ("customer_group", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["tariff", "site", "charge_point", "connector__charge_point", "customer_group"]
    search_fields = ["tariff__name", "site__name", "charge_point__ocpp_id", "customer_group__name"]
    fieldsets = [
        (None, {"fields": ["tariff"]}),
        (
            _("Where"),
            {
                "fields": ["site", "charge_point", "connector"],
                "description": _("Choose one of these, or none for all of the operator's chargers."),
            },
        ),
        (_("Who"), {"fields": ["customer_group"]}),
    ]

    @admin.display(description=_("applies to"))
    def scope(self, obj):
        return obj.scope_label

    @admin.display(description=_("valid from"), ordering="tariff__valid_from")
    def valid_from(self, obj):
        return obj.tariff.valid_from

    @admin.display(description=_("valid until"), ordering="tariff__valid_until")
    def valid_until(self, obj):
        return obj.tariff.valid_until


class CustomerGroupMembershipInline(OrganizationScopedMixin, admin.TabularInline):
    model = CustomerGroupMembership
    fields = ["customer_account", "created_at"]
    readonly_fields = ["created_at"]
    autocomplete_fields = ["customer_account"]
    extra = 0


@admin.register(CustomerGroup)
class CustomerGroupAdmin(OrganizationScopedAdmin):
    organization_path = "organization"
    list_display = ["name", "organization", "member_count", "load_priority", "created_at"]
    list_filter = [ORGANIZATION_FILTER]
    list_select_related = ["organization"]
    search_fields = ["name"]
    fields = ["organization", "name", "load_priority"]
    ordering = ["name"]
    inlines = [CustomerGroupMembershipInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_count=Count("memberships"))

    @admin.display(description=_("members"), ordering="member_count")
    def member_count(self, obj):
        return obj.member_count


@admin.register(SessionPrice)
class SessionPriceAdmin(ImmutableAdminMixin, OrganizationScopedAdmin):
    """Frozen prices: looked at, never changed."""

    organization_path = "session__charge_point__organization"
    list_display = [
        "session",
        "gross_total",
        "net_total",
        "vat_amount",
        "currency",
        "energy_kwh",
        "tariff",
        "priced_at",
    ]
    list_filter = ["currency", ("tariff", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["session__charge_point", "tariff"]
    search_fields = ["=session__id", "session__id_tag_uid", "session__charge_point__ocpp_id"]
    date_hierarchy = "priced_at"
    show_full_result_count = False

    @admin.display(description=_("energy (kWh)"), ordering="energy_wh")
    def energy_kwh(self, obj):
        return f"{obj.energy_wh / 1000:.3f}"


@admin.register(ReservationPrice)
class ReservationPriceAdmin(ImmutableAdminMixin, OrganizationScopedAdmin):
    """Frozen reservation fees: looked at, never changed."""

    organization_path = "reservation__charge_point__organization"
    list_display = [
        "reservation",
        "customer_account",
        "gross_total",
        "net_total",
        "vat_amount",
        "currency",
        "reserved_from",
        "reserved_until",
        "tariff",
        "priced_at",
    ]
    list_filter = ["currency", ("tariff", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["reservation__charge_point", "customer_account", "tariff"]
    search_fields = ["=reservation__id", "reservation__id_tag__uid", "reservation__charge_point__ocpp_id"]
    date_hierarchy = "priced_at"
    show_full_result_count = False


class CreditNoteForm(forms.ModelForm):
    class Meta:
        model = CreditNote
        fields = ["session", "net_amount", "reason"]

    def clean(self):
        cleaned = super().clean()
        session, net_amount = cleaned.get("session"), cleaned.get("net_amount")
        if session is not None and net_amount is not None:
            available = session_credit_available(session)
            if net_amount > available:
                raise ValidationError(
                    _("At most %(available)s net can still be credited on this session."),
                    params={"available": available},
                    code="too_much",
                )
        return cleaned


@admin.register(CreditNote)
class CreditNoteAdmin(OrganizationScopedAdmin):
    """Corrections: issued through ``credit_note_issue``, never edited or deleted."""

    organization_path = "session__charge_point__organization"
    form = CreditNoteForm
    list_display = ["created_at", "session", "net_amount", "vat_amount", "gross_amount", "currency", "created_by"]
    list_select_related = ["session__charge_point", "created_by"]
    search_fields = ["=session__id", "reason"]
    date_hierarchy = "created_at"
    raw_id_fields = ["session"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["session", "net_amount", "reason"]
        return [
            "session",
            "currency",
            "net_amount",
            "vat_rate",
            "vat_amount",
            "gross_amount",
            "reason",
            "created_by",
            "created_at",
        ]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if not request.user.is_superuser and not self.in_organization(obj, user_organization(request)):
            raise PermissionDenied
        note = credit_note_issue(
            session=form.cleaned_data["session"],
            net_amount=form.cleaned_data["net_amount"],
            reason=form.cleaned_data["reason"],
            user=request.user,
        )
        for field in note._meta.concrete_fields:
            setattr(obj, field.attname, getattr(note, field.attname))
        obj._state.adding = False
