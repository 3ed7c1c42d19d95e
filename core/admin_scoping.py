"""Operator staff see and change only their own organization's rows in the admin.

Each scoped ModelAdmin names the lookup path from its model to Organization. Superusers
see everything; staff without an organization see nothing. Foreign-key and many-to-many
choices are scoped by the related model's own admin, so a crafted POST naming another
organization's object fails form validation; ``save_model`` checks once more.
"""

from django.contrib import admin
from django.contrib.admin.exceptions import NotRegistered
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet


def _user_organization(request):
    return getattr(request.user, "organization", None)


class OrganizationScopedMixin:
    """For ModelAdmin and inlines: limit related-object choices to the user's organization."""

    def _scoped_choices(self, model, request, db):
        if request.user.is_superuser:
            return None
        try:
            related_admin = self.admin_site.get_model_admin(model)
        except NotRegistered:
            return None
        if not isinstance(related_admin, OrganizationScopedAdmin):
            return None
        return related_admin.scope_queryset(model._default_manager.using(db).all(), _user_organization(request))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "queryset" not in kwargs:
            queryset = self._scoped_choices(db_field.remote_field.model, request, kwargs.get("using"))
            if queryset is not None:
                kwargs["queryset"] = queryset
                if db_field.remote_field.model is type(_user_organization(request)):
                    kwargs.setdefault("initial", _user_organization(request))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if "queryset" not in kwargs:
            queryset = self._scoped_choices(db_field.remote_field.model, request, kwargs.get("using"))
            if queryset is not None:
                kwargs["queryset"] = queryset
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class OrganizationScopedAdmin(OrganizationScopedMixin, admin.ModelAdmin):
    #: Lookup path from the model to its Organization, e.g. ``"site__organization"``;
    #: empty for Organization itself.
    organization_path: str = ""

    def scope_queryset(self, queryset: QuerySet, organization) -> QuerySet:
        if organization is None:
            return queryset.none()
        if not self.organization_path:
            return queryset.filter(pk=organization.pk)
        return queryset.filter(**{self.organization_path: organization})

    def in_organization(self, obj: Model, organization) -> bool:
        """Whether an (unsaved) object belongs to the organization, by walking the path."""
        if organization is None:
            return False
        if not self.organization_path:
            return obj.pk == organization.pk
        *hops, last = self.organization_path.split("__")
        for hop in hops:
            obj = getattr(obj, hop, None)
            if obj is None:
                return False
        return getattr(obj, f"{last}_id", None) == organization.pk

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return self.scope_queryset(queryset, _user_organization(request))

    def has_module_permission(self, request):
        if not request.user.is_superuser and _user_organization(request) is None:
            return False
        return super().has_module_permission(request)

    def save_model(self, request, obj, form, change):
        if not request.user.is_superuser and not self.in_organization(obj, _user_organization(request)):
            raise PermissionDenied
        super().save_model(request, obj, form, change)
