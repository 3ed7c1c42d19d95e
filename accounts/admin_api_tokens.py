"""Operators' API tokens in the admin: create one (its key shown once, on the page after saving), revoke it.

A token acts as one active staff member of one operator, for that operator only. Operator staff see
and manage their own organization's tokens; a token may not act as a colleague holding permissions
the creator lacks. Nothing but the name changes after creation; revoked tokens stay listed.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from accounts.api_tokens import api_token_create, api_token_revoke
from accounts.models import ApiToken, User
from core.admin_scoping import OrganizationScopedAdmin


class ApiTokenCreateForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ["name", "user"]

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.creator = request.user
        staff = User.objects.filter(is_staff=True, is_active=True, organization__isnull=False, is_superuser=False)
        if not self.creator.is_superuser:
            staff = staff.filter(organization=self.creator.organization_id)
        self.fields["user"].queryset = staff.select_related("organization").order_by("email")
        self.fields["user"].label_from_instance = lambda user: f"{user.email} ({user.organization})"

    def clean_user(self):
        user = self.cleaned_data["user"]
        if not self.creator.is_superuser and not user.get_all_permissions() <= self.creator.get_all_permissions():
            raise forms.ValidationError(
                _(
                    "This staff member may do things you may not: a token acting as them "
                    "would give you more rights than you have."
                )
            )
        return user


@admin.register(ApiToken)
class ApiTokenAdmin(OrganizationScopedAdmin):
    organization_path = "organization"
    list_display = [
        "name",
        "prefix_shown",
        "user",
        "organization",
        "created_at",
        "last_used_at",
        "revoked_at",
        "active",
    ]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), ("organization", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["user", "organization"]
    search_fields = ["name", "prefix", "user__email"]
    date_hierarchy = "created_at"
    actions = ["revoke_tokens"]

    def get_list_filter(self, request):
        return self.list_filter if request.user.is_superuser else [("revoked_at", admin.EmptyFieldListFilter)]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None:
            return super().get_form(request, obj, change=change, **kwargs)
        form = super().get_form(request, obj, change=change, **{**kwargs, "form": ApiTokenCreateForm})

        class ForCreator(form):
            def __init__(self, *args, **kw):
                super().__init__(*args, request=request, **kw)

        return ForCreator

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "user"]
        return ["name", "prefix_shown", "user", "organization", "created_at", "last_used_at", "revoked_at"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["prefix_shown", "user", "organization", "created_at", "last_used_at", "revoked_at"]

    def has_delete_permission(self, request, obj=None):
        return False  # revoked, never deleted: the list says which systems had access, and until when

    @admin.display(description=_("key starts with"), ordering="prefix")
    def prefix_shown(self, obj):
        return f"{obj.prefix}…"

    @admin.display(description=_("active"), boolean=True)
    def active(self, obj):
        return obj.revoked_at is None

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        token, key = api_token_create(user=form.cleaned_data["user"], name=form.cleaned_data["name"])
        if not request.user.is_superuser and not self.in_organization(token, request.user.organization):
            raise PermissionDenied  # the form's choices prevent it
        for field in token._meta.concrete_fields:
            setattr(obj, field.attname, getattr(token, field.attname))
        obj._state.adding = False
        request._api_token_key = key  # for response_add only; never stored

    def response_add(self, request, obj, post_url_continue=None):
        key = getattr(request, "_api_token_key", None)
        if key is None:
            return super().response_add(request, obj, post_url_continue)
        response = TemplateResponse(
            request,
            "admin/accounts/apitoken/created.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": gettext("New API token"),
                "token": obj,
                "key": key,
            },
        )
        add_never_cache_headers(response)
        return response

    @admin.action(description=_("Revoke selected tokens"), permissions=["change"])
    def revoke_tokens(self, request, queryset):
        now = timezone.now()
        active = list(queryset.filter(revoked_at__isnull=True))
        for token in active:
            api_token_revoke(token=token, at=now)
        self.message_user(
            request,
            ngettext("Revoked %(count)d token.", "Revoked %(count)d tokens.", len(active)) % {"count": len(active)},
            messages.SUCCESS,
        )
