from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import SEARCH_VAR
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from accounts import admin_api_tokens  # noqa: F401  (operators' API tokens: create, key shown once, revoke)
from accounts.bank import payment_reference_account_id, reference_digits
from accounts.hooks import id_tags_changed
from accounts.models import CustomerAccount, IdTag, Organization, User
from accounts.services import id_tag_block, id_tag_unblock, id_tags_import_csv, staff_role_sync
from accounts.uids import ID_TAG_MAX_LENGTH, id_tag_normalize
from core.admin_scoping import OrganizationScopedAdmin, OrganizationScopedMixin

ORGANIZATION_FILTER = ("organization", admin.RelatedOnlyFieldListFilter)


class PaymentReferenceSearchMixin:
    """The admin's search also finds the customer account a payment reference (``accounts.bank``) stands for,
    typed as a bank transfer shows it; a reference with a wrong check digit that finds nothing is reported as
    mistyped. ``payment_reference_path`` leads from the listed model to the customer account's id."""

    payment_reference_path = "pk"

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if reference_digits(search_term.strip()) is None:
            return results, may_have_duplicates
        try:
            account_id = payment_reference_account_id(search_term.strip())
        except ValidationError as exc:
            # Told on the list's search (not in an autocomplete's answer, where a message would wait for a page).
            if exc.code == "mistyped_reference" and SEARCH_VAR in request.GET and not results.exists():
                messages.warning(request, exc.messages[0])
            return results, may_have_duplicates
        return results | queryset.filter(**{self.payment_reference_path: account_id}), may_have_duplicates


@admin.register(Organization)
class OrganizationAdmin(OrganizationScopedAdmin):
    list_display = ["name", "slug", "city", "email", "currency", "accepts_signups", "created_at"]
    list_filter = ["accepts_signups", "country"]
    search_fields = ["name", "slug", "registration_number", "email"]
    prepopulated_fields = {"slug": ["name"]}
    date_hierarchy = "created_at"
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "name",
                    "slug",
                    "registration_number",
                    "vat_number",
                    "email",
                    "phone",
                    "street",
                    "postal_code",
                    "city",
                    "country",
                    "currency",
                    "logo",
                ]
            },
        ),
        (
            _("Bank transfer"),
            {
                "fields": ["bank_account_holder", "iban", "bic", "other_bank_account"],
                "description": _(
                    "Where drivers and fleets transfer money to: shown on their payments page, in the app and on "
                    "statements with each customer's payment reference. Enter an IBAN, another account or both."
                ),
            },
        ),
        (
            _("Drivers, chargers and alerts"),
            {
                "fields": [
                    "accepts_signups",
                    "auto_register_chargers",
                    "report_recipients",
                    "alert_after_minutes",
                    "created_at",
                ]
            },
        ),
    ]

    def get_readonly_fields(self, request, obj=None):
        return [] if request.user.is_superuser else ["slug", "created_at"]

    def get_prepopulated_fields(self, request, obj=None):
        return self.prepopulated_fields if request.user.is_superuser else {}


class IdTagForm(forms.ModelForm):
    """The UID is stored as its kind wants it (an RFID UID normalised); the model checks it for that kind."""

    # Longer than stored: an RFID UID may come with separators (04:A1:B2:...), which normalising removes.
    uid = forms.CharField(
        label=IdTag._meta.get_field("uid").verbose_name,
        max_length=3 * ID_TAG_MAX_LENGTH,
        help_text=IdTag._meta.get_field("uid").help_text,
    )

    class Meta:
        model = IdTag
        fields = [
            "kind",
            "uid",
            "label",
            "customer_account",
            "owner",
            "parent",
            "expires_at",
            "max_concurrent_sessions",
            "issued_at",
        ]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("uid") and cleaned.get("kind"):
            cleaned["uid"] = id_tag_normalize(cleaned["uid"], cleaned["kind"])
        return cleaned


class IdTagInline(OrganizationScopedMixin, admin.TabularInline):
    model = IdTag
    fk_name = "customer_account"
    form = IdTagForm
    fields = ["kind", "uid", "label", "owner", "status", "expires_at", "max_concurrent_sessions"]
    readonly_fields = ["status"]
    raw_id_fields = ["owner"]
    extra = 0
    show_change_link = True


class DriverInline(admin.TabularInline):
    model = User
    fk_name = "customer_account"
    fields = readonly_fields = ("email", "first_name", "last_name", "is_active", "last_login")
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name = _("driver")
    verbose_name_plural = _("drivers")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(CustomerAccount)
class CustomerAccountAdmin(PaymentReferenceSearchMixin, OrganizationScopedAdmin):
    organization_path = "organization"
    list_display = [
        "name",
        "kind",
        "status",
        "billing_email",
        "payment_reference",
        "organization",
        "driver_count",
        "card_count",
        "created_at",
    ]
    list_filter = ["kind", "status", ORGANIZATION_FILTER]
    list_select_related = ["organization"]
    search_fields = ["name", "billing_email", "registration_number", "reference"]
    date_hierarchy = "created_at"
    ordering = ["name"]  # the counts group the query, which drops Meta.ordering
    inlines = [DriverInline, IdTagInline]
    readonly_fields = ["payment_reference"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                driver_count=Count("drivers", distinct=True),
                card_count=Count("id_tags", distinct=True),
            )
        )

    @admin.display(description=_("payment reference"))
    def payment_reference(self, obj):
        return obj.payment_reference if obj.pk else "–"

    @admin.display(description=_("drivers"), ordering="driver_count")
    def driver_count(self, obj):
        return obj.driver_count

    @admin.display(description=_("cards"), ordering="card_count")
    def card_count(self, obj):
        return obj.card_count

    def save_related(self, request, form, formsets, change):
        """The account's status and its cards (inline) decide what its cards may do: higher apps hear of it."""
        super().save_related(request, form, formsets, change)
        id_tags_changed(id_tag_ids=form.instance.id_tags.values_list("pk", flat=True))


class UserCreateForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ["email"]


class UserEditForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


class UserRoleFormMixin:
    """Operator staff have an organization and no customer account; drivers the reverse."""

    def clean(self):
        data = super().clean()
        is_staff = data.get("is_staff", getattr(self.instance, "is_staff", False))
        if is_staff and data.get("customer_account"):
            raise forms.ValidationError(_("A driver with a customer account cannot have staff status."))
        if data.get("organization") and not is_staff:
            raise forms.ValidationError(_("Only staff belong to an operator organization."))
        return data


@admin.register(User)
class UserAdmin(DjangoUserAdmin, OrganizationScopedAdmin):
    form = UserEditForm
    add_form = UserCreateForm
    ordering = ["email"]
    list_display = [
        "email",
        "first_name",
        "last_name",
        "organization",
        "customer_account",
        "is_staff",
        "is_active",
        "last_login",
    ]
    list_filter = ["is_staff", "is_active", ORGANIZATION_FILTER]
    list_select_related = ["organization", "customer_account"]
    search_fields = ["email", "first_name", "last_name", "customer_account__name"]
    date_hierarchy = "date_joined"
    raw_id_fields = ["customer_account"]
    _role_fields = ("organization", "customer_account", "is_active", "is_staff")
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        (_("Personal info"), {"fields": ["first_name", "last_name", "language"]}),
        (_("Role"), {"fields": _role_fields}),
        (_("Platform permissions"), {"fields": ["is_superuser", "groups", "user_permissions"]}),
        (_("Important dates"), {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (None, {"classes": ["wide"], "fields": ["email", "usable_password", "password1", "password2"]}),
        (_("Role"), {"fields": _role_fields}),
    ]

    def scope_queryset(self, queryset, organization):
        if organization is None:
            return queryset.none()
        return queryset.filter(is_superuser=False).filter(
            organization=organization,
        ) | queryset.filter(is_superuser=False, customer_account__organization=organization)

    def in_organization(self, obj, organization):
        if organization is None or obj.is_superuser:
            return False
        if obj.organization_id is not None:
            return obj.organization_id == organization.pk
        return obj.customer_account is not None and obj.customer_account.organization_id == organization.pk

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if request.user.is_superuser:
            return fieldsets
        return [(name, options) for name, options in fieldsets if "is_superuser" not in options["fields"]]

    def get_list_filter(self, request):
        return self.list_filter if request.user.is_superuser else ["is_staff", "is_active"]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        return type(form.__name__, (UserRoleFormMixin, form), {})

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        staff_role_sync(user=form.instance)


class CardImportForm(forms.Form):
    csv_file = forms.FileField(
        label=_("CSV file"),
        help_text=_(
            "Columns: uid, kind (rfid, app_token, key_code, emaid or roaming; rfid if left out), label, "
            "account_email, owner_email, expires_at, max_concurrent_sessions, parent_uid. The first line names "
            "the columns; ; or , separates them."
        ),
    )
    organization = forms.ModelChoiceField(queryset=Organization.objects.all(), label=_("operator"))

    MAX_BYTES = 2 * 1024 * 1024

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        if not user.is_superuser:
            del self.fields["organization"]

    def clean_csv_file(self):
        csv_file = self.cleaned_data["csv_file"]
        if csv_file.size > self.MAX_BYTES:
            raise forms.ValidationError(_("The file is larger than 2 MB."))
        return csv_file


@admin.register(IdTag)
class IdTagAdmin(OrganizationScopedAdmin):
    organization_path = "customer_account__organization"
    form = IdTagForm
    list_display = ["uid", "kind", "label", "customer_account", "owner", "status", "expires_at", "issued_at"]
    list_filter = ["kind", "status", ("customer_account__organization", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["customer_account", "owner"]
    search_fields = ["uid", "label", "customer_account__name", "owner__email"]
    autocomplete_fields = ["customer_account", "owner", "parent"]
    readonly_fields = ["status", "blocked_at"]
    date_hierarchy = "issued_at"
    actions = ["block_cards", "mark_cards_lost", "unblock_cards"]

    def save_model(self, request, obj, form, change):
        """An edited card (its expiry, group card, account): higher apps hear of it, e.g. chargers' local lists."""
        super().save_model(request, obj, form, change)
        id_tags_changed(id_tag_ids=[obj.pk, *obj.children.values_list("pk", flat=True)])

    def get_urls(self):
        return [
            path("import/", self.admin_site.admin_view(self.import_csv_view), name="accounts_idtag_import"),
            *super().get_urls(),
        ]

    def import_csv_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        if not request.user.is_superuser and request.user.organization is None:
            raise PermissionDenied
        form = CardImportForm(request.POST or None, request.FILES or None, user=request.user)
        summary = None
        if request.method == "POST" and form.is_valid():
            organization = form.cleaned_data.get("organization") or request.user.organization
            result = id_tags_import_csv(organization=organization, csv_file=form.cleaned_data["csv_file"])
            if result.ok:
                self.message_user(
                    request,
                    ngettext(
                        "Imported %(count)d card.",
                        "Imported %(count)d cards.",
                        result.created,
                    )
                    % {"count": result.created},
                    messages.SUCCESS,
                )
                return redirect(reverse("admin:accounts_idtag_changelist"))
            summary = result
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Import cards from CSV"),
            "form": form,
            "import_errors": summary.errors if summary else [],
            "import_summary": summary,
        }
        return TemplateResponse(request, "admin/accounts/idtag/import_csv.html", context)

    def _run(self, request, queryset, change, done_message):
        done, refused = 0, []
        for tag in queryset:
            try:
                change(tag)
            except ValueError:
                refused.append(tag.uid)
            else:
                done += 1
        self.message_user(request, done_message % {"count": done}, messages.SUCCESS)
        if refused:
            self.message_user(
                request,
                gettext("Not changed: %(uids)s.") % {"uids": ", ".join(refused)},
                messages.WARNING,
            )

    @admin.action(description=_("Block selected cards"), permissions=["change"])
    def block_cards(self, request, queryset):
        self._run(request, queryset, lambda tag: id_tag_block(id_tag=tag), gettext("Blocked %(count)d cards."))

    @admin.action(description=_("Mark selected cards lost"), permissions=["change"])
    def mark_cards_lost(self, request, queryset):
        self._run(
            request,
            queryset,
            lambda tag: id_tag_block(id_tag=tag, status=IdTag.Status.LOST),
            gettext("Marked %(count)d cards lost."),
        )

    @admin.action(description=_("Unblock selected cards"), permissions=["change"])
    def unblock_cards(self, request, queryset):
        self._run(request, queryset, lambda tag: id_tag_unblock(id_tag=tag), gettext("Unblocked %(count)d cards."))
