"""Operator staff see and change only their own organization's rows in the admin.

Each scoped ModelAdmin names the lookup path from its model to Organization. Superusers
see everything; staff without an organization see nothing. Foreign-key and many-to-many
choices are scoped by the related model's own admin, so a crafted POST naming another
organization's object fails form validation; ``save_model`` checks once more.
"""

from __future__ import annotations  # django-stubs' generic fields and form fields are not subscriptable at run time

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.contrib.admin.exceptions import NotRegistered
from django.core.exceptions import PermissionDenied
from django.db.models import ForeignKey, ManyToManyField, Model, QuerySet
from django.forms import ModelChoiceField, ModelMultipleChoiceField
from django.http import HttpRequest

if TYPE_CHECKING:  # the admin's classes are generic in django-stubs only
    _AdminBase = admin.options.BaseModelAdmin[Any]
    _ModelAdmin = admin.ModelAdmin[Any]
else:
    _AdminBase = object
    _ModelAdmin = admin.ModelAdmin


def user_organization(request: HttpRequest) -> Model | None:
    """The organization the signed-in staff member works for (None for superusers and drivers)."""
    organization: Model | None = getattr(request.user, "organization", None)
    return organization


class OrganizationScopedMixin(_AdminBase):
    """For ModelAdmin and inlines: limit related-object choices to the user's organization."""

    def _scoped_choices(self, model: type[Model], request: HttpRequest, db: str | None) -> QuerySet[Any] | None:
        if request.user.is_superuser:
            return None
        try:
            related_admin = self.admin_site.get_model_admin(model)
        except NotRegistered:
            return None
        if not isinstance(related_admin, OrganizationScopedAdmin):
            return None
        return related_admin.scope_queryset(model._default_manager.using(db).all(), user_organization(request))

    def formfield_for_foreignkey(
        self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField[Any] | None:
        if "queryset" not in kwargs:
            queryset = self._scoped_choices(db_field.remote_field.model, request, kwargs.get("using"))
            if queryset is not None:
                kwargs["queryset"] = queryset
                if db_field.remote_field.model is type(user_organization(request)):
                    kwargs.setdefault("initial", user_organization(request))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(
        self, db_field: ManyToManyField[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> ModelMultipleChoiceField[Any] | None:
        if "queryset" not in kwargs:
            queryset = self._scoped_choices(db_field.remote_field.model, request, kwargs.get("using"))
            if queryset is not None:
                kwargs["queryset"] = queryset
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class OrganizationScopedAdmin(OrganizationScopedMixin, _ModelAdmin):
    #: Lookup path from the model to its Organization, e.g. ``"site__organization"``;
    #: empty for Organization itself.
    organization_path: str = ""

    def scope_queryset(self, queryset: QuerySet[Any], organization: Model | None) -> QuerySet[Any]:
        if organization is None:
            return queryset.none()
        if not self.organization_path:
            return queryset.filter(pk=organization.pk)
        return queryset.filter(**{self.organization_path: organization})

    def in_organization(self, obj: Model, organization: Model | None) -> bool:
        """Whether an (unsaved) object belongs to the organization, by walking the path."""
        if organization is None:
            return False
        if not self.organization_path:
            return bool(obj.pk == organization.pk)
        *hops, last = self.organization_path.split("__")
        current: Model | None = obj
        for hop in hops:
            current = getattr(current, hop, None)
            if current is None:
                return False
        return bool(getattr(current, f"{last}_id", None) == organization.pk)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return self.scope_queryset(queryset, user_organization(request))

    def has_module_permission(self, request: HttpRequest) -> bool:
        if not request.user.is_superuser and user_organization(request) is None:
            return False
        return super().has_module_permission(request)

    def save_model(self, request: HttpRequest, obj: Model, form: Any, change: bool) -> None:
        if not request.user.is_superuser and not self.in_organization(obj, user_organization(request)):
            raise PermissionDenied
        super().save_model(request, obj, form, change)


class ReadOnlyAdminMixin(_AdminBase):
    """Rows the system writes (charger data, alert incidents): nobody adds or edits them in the admin."""

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class ImmutableAdminMixin(ReadOnlyAdminMixin):
    """Records that must outlive any mistake (frozen prices, ledger lines, incidents): not deleted either."""

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False
